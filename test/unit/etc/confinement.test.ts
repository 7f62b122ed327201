/**
 * `etc --root DIR` reads and writes nothing outside DIR (issue 13 §1): `DIR/etc` itself, and any
 * directory under it, may be a symlink (absolute or relative); each is followed inside DIR, as
 * openat2(RESOLVE_IN_ROOT) would, and owner names come from DIR's passwd and group.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../tmp.ts";
import { buildEtcTree, makeUserRoot, snapshot } from "./fixtures.ts";
import { setup } from "./helpers.ts";
import { applyEtc } from "../../../src/etc/apply.ts";
import { planEtcSetup } from "../../../src/etc/step.ts";
import { resolveInRoot } from "../../../src/fs/root.ts";

/** A root whose `etc` is a symlink to `target` (as the root sees it), with a "host" directory beside it. */
function rootWithEtcLink(target: (host: string) => string) {
  const root = makeUserRoot("etc-conf-");
  const host = tempDir("etc-conf-host-");
  mkdirSync(join(host, "etc"));
  writeFileSync(join(host, "etc/passwd"), "root:x:0:0::/root:/bin/sh\netcsvc:x:1:1::/:/bin/false\n");
  writeFileSync(join(host, "etc/group"), "root:x:0:\netcsvc:x:1:\n");
  writeFileSync(join(host, "etc/obsolete"), "host file\n");
  symlinkSync("/etc/static/obsolete", join(host, "etc/linked"));
  // The root's real /etc lives at DIR/real/etc (DIR's passwd and group moved there).
  mkdirSync(join(root, "real"));
  const rootEtc = join(root, "real/etc");
  renameSync(join(root, "etc"), rootEtc);
  symlinkSync(target(host), join(root, "etc"));
  return { root, host, rootEtc };
}

const ENTRIES = {
  hosts: { text: "h\n" },
  linked: { text: "l\n" },
  "ssh/sshd_config": { text: "Port 22\n" },
  conf: { text: "c\n", mode: "0640", user: "etcsvc", group: "etcsvc" },
};

for (const [label, target] of [
  ["an absolute symlink naming a host path", (host: string) => join(host, "etc")],
  ["an absolute symlink inside the root", () => "/real/etc"],
  ["a relative symlink", () => "real/etc"],
] as const) {
  test(`DIR/etc as ${label}: /etc is set up inside DIR, the host path is untouched, owners are DIR's`, async () => {
    const { root, host, rootEtc } = rootWithEtcLink(target);
    const hostBefore = snapshot(host);
    const r = await setup(root, ENTRIES);
    assert.equal(snapshot(host), hostBefore, "nothing written or removed on the host");
    // A link naming a host path means DIR/<that path> (made by the run); else DIR/real/etc.
    const toHost = target(host).startsWith(host);
    const etc = toHost ? join(root, host, "etc") : rootEtc;
    if (toHost) {
      // DIR/<host>/etc has no passwd: etcsvc is unknown there (the host's passwd is not asked).
      assert.equal(r.messages, ["error: not setting up ‘/etc/conf’: unknown user ‘etcsvc’ in conf.uid"]);
      assert.is(r.status, 1);
    } else {
      assert.is(r.status, 0, r.messages.join("\n"));
      assert.is(readFileSync(join(etc, ".clean"), "utf8"), "conf\n");
    }
    assert.is(readlinkSync(join(etc, "static")), r.plan.tree);
    assert.is(readlinkSync(join(etc, "hosts")), "/etc/static/hosts");
    assert.ok(existsSync(join(etc, "NIXOS")));
    if (!toHost) {
      // DIR's passwd says etcsvc is 4242:4343; the host's says 1:1.
      const st = statSync(join(etc, "conf"));
      assert.is(`${st.uid}:${st.gid}`, "4242:4343");
    }
  });
}

test("DIR/etc an absolute symlink to a host path: no obsolete link is removed there, owner names are not the host's", async () => {
  const { root, host } = rootWithEtcLink((h) => join(h, "etc"));
  // Resolved inside DIR, the link names DIR/<host>/etc: give it DIR's own users there.
  mkdirSync(join(root, host, "etc"), { recursive: true });
  writeFileSync(join(root, host, "etc/passwd"), "etcsvc:x:777:777::/:/bin/false\n");
  writeFileSync(join(root, host, "etc/group"), "etcsvc:x:778:\n");
  symlinkSync("/etc/static/gone", join(root, host, "etc/gone"));
  const r = await setup(root, { conf: { text: "c\n", mode: "0600", user: "etcsvc", group: "etcsvc" } });
  assert.is(r.status, 0, r.messages.join("\n"));
  assert.ok(lstatSync(join(host, "etc/linked")).isSymbolicLink(), "the host's link into /etc/static stays");
  assert.not.ok(existsSync(join(host, "etc/static")));
  assert.not.ok(existsSync(join(host, "etc/NIXOS")));
  assert.not.ok(existsSync(join(root, host, "etc/gone")), "DIR's obsolete link is removed");
  const st = statSync(join(root, host, "etc/conf"));
  assert.is(`${st.uid}:${st.gid}`, "777:778", "owners from DIR's passwd and group");
});

test("a directory under DIR/etc that is an absolute symlink: its entries are written inside DIR", async () => {
  const root = makeUserRoot("etc-conf-");
  const host = tempDir("etc-conf-host-");
  mkdirSync(join(host, "ssh"));
  mkdirSync(join(root, host, "ssh"), { recursive: true });
  symlinkSync(join(host, "ssh"), join(root, "etc/ssh"));
  const r = await setup(root, { "ssh/sshd_config": { text: "Port 22\n", mode: "0600" }, "ssh/moduli": { text: "m\n" } });
  assert.is(r.status, 0, r.messages.join("\n"));
  assert.equal(readdirSync(join(host, "ssh")), [], "the host directory is untouched");
  assert.is(readFileSync(join(root, host, "ssh/sshd_config"), "utf8"), "Port 22\n");
  assert.is(readlinkSync(join(root, host, "ssh/moduli")), "/etc/static/ssh/moduli");
  // The next generation drops both: the obsolete link and copy go from inside DIR only.
  writeFileSync(join(host, "ssh/moduli"), "host\n");
  writeFileSync(join(host, "ssh/sshd_config"), "host\n");
  const next = await setup(root, { hosts: { text: "h\n" } });
  assert.is(next.status, 0, next.messages.join("\n"));
  assert.equal(readdirSync(join(host, "ssh")).sort(), ["moduli", "sshd_config"]);
  assert.not.ok(existsSync(join(root, host, "ssh/moduli")));
  assert.not.ok(existsSync(join(root, host, "ssh/sshd_config")));
});

test("the etc tree's path and its store links are resolved inside DIR", async () => {
  const root = makeUserRoot("etc-conf-");
  const etc = buildEtcTree(root, { hosts: { text: "h\n" }, copy: { text: "inside\n", mode: "0644" } });
  // A store link pointing at an absolute path: inside DIR, not the host's file of that name.
  const host = tempDir("etc-conf-host-");
  writeFileSync(join(host, "secret"), "host secret\n");
  mkdirSync(join(root, host), { recursive: true });
  writeFileSync(join(root, host, "secret"), "root's own\n");
  unlinkSync(join(root, etc, "copy"));
  symlinkSync(join(host, "secret"), join(root, etc, "copy"));
  const { data } = planEtcSetup(root, etc, {}, false);
  assert.is(await applyEtc(root, data, { stderr: () => {} }), 0);
  assert.is(readFileSync(join(root, "etc/copy"), "utf8"), "root's own\n");
});

test("a loop of links under /etc stops only the entries below it", async () => {
  const root = makeUserRoot("etc-conf-");
  symlinkSync("loop", join(root, "etc/loop"));
  symlinkSync("/etc/ping", join(root, "etc/pong"));
  symlinkSync("/etc/pong", join(root, "etc/ping"));
  const r = await setup(root, { "loop/x": { text: "x\n" }, "ping/y": { text: "y\n", mode: "0644" }, hosts: { text: "h\n" } });
  assert.is(r.status, 1);
  assert.equal(r.messages, [
    "error: not setting up ‘/etc/loop/x’: ‘/etc/loop’ is in the way and is not a directory",
    "error: not setting up ‘/etc/ping/y’: ‘/etc/ping’ is in the way and is not a directory",
  ]);
  assert.is(readlinkSync(join(root, "etc/hosts")), "/etc/static/hosts");
});

test("an obsolete copy under what is now a link into /etc/static is not removed through it: the store keeps its file (a killed switch, then a rollback)", async () => {
  // B links /etc/foo to a store directory holding `bar`; A copies foo/bar. A switch B -> A killed
  // after widening .clean (foo/bar listed) but before /etc/foo became a directory, then B again:
  // the obsolete foo/bar must not be looked up through /etc/foo into B's store directory.
  const root = makeUserRoot("etc-conf-");
  const B = { foo: { dir: { bar: "store content\n" } }, hosts: { text: "h\n" } };
  assert.is((await setup(root, B)).status, 0);
  writeFileSync(join(root, "etc/.clean"), "foo/bar\n");
  const r = await setup(root, B);
  assert.is(r.status, 0, r.messages.join("\n"));
  const storeDir = resolveInRoot(root, "/etc/static/foo");
  assert.ok(storeDir.startsWith(join(root, "nix/store/")), storeDir);
  assert.is(readFileSync(join(storeDir, "bar"), "utf8"), "store content\n");
  assert.is(readFileSync(join(root, "etc/.clean"), "utf8"), "");
});

test("a copy is never written below a direct-symlink directory (a store source): refused by name, the rest set up", async () => {
  const root = makeUserRoot("etc-conf-");
  // /etc/foo is a direct link into the store; a later tree copies foo/bar while the link is still there
  // (as if the replacement of the link had failed): the copy must not land in the store.
  assert.is((await setup(root, { foo: { dir: { other: "o\n" }, mode: "direct-symlink" }, hosts: { text: "h\n" } })).status, 0);
  const storeDir = resolveInRoot(root, "/etc/foo");
  assert.ok(storeDir.startsWith(join(root, "nix/store/")), storeDir);
  const etc = buildEtcTree(root, { "foo/bar": { text: "copy\n", mode: "0644" }, hosts: { text: "h2\n" } });
  const { data } = planEtcSetup(root, etc, {}, false);
  // The link's replacement by a directory is taken out of the plan, as a failed one would be.
  data.ops = data.ops.filter((o) => !((o.op === "remove-link" || o.op === "file-to-dir") && o.name === "foo"));
  const messages: string[] = [];
  await applyEtc(root, data, { stderr: (l) => messages.push(l) });
  assert.equal(readdirSync(storeDir), ["other"]);
  assert.ok(messages.some((m) => /foo\/bar.*link into \/etc\/static or the Nix store/.test(m)), messages.join("\n"));
  assert.is(readlinkSync(join(root, "etc/hosts")), "/etc/static/hosts");
});

test("an obsolete copy under a name the new tree makes a direct link, or under a store reached through a linked /nix, is not removed through it", async () => {
  // A direct link to a directory outside /etc (here /persist/foo, a user's data).
  const root = makeUserRoot("etc-conf-");
  mkdirSync(join(root, "persist/foo"), { recursive: true });
  writeFileSync(join(root, "persist/foo/bar"), "user data\n");
  writeFileSync(join(root, "etc/.clean"), "foo/bar\n"); // a killed run had widened .clean with foo/bar
  const etc = buildEtcTree(root, { hosts: { text: "h\n" } });
  symlinkSync("/persist/foo", join(root, etc, "foo"));
  writeFileSync(join(root, etc, "foo.mode"), "direct-symlink\n");
  const { data } = planEtcSetup(root, etc, {}, false);
  assert.is(await applyEtc(root, data, { stderr: () => {} }), 0);
  assert.is(readlinkSync(join(root, "etc/foo")), "/persist/foo");
  assert.is(readFileSync(join(root, "persist/foo/bar"), "utf8"), "user data\n");
  assert.is(readFileSync(join(root, "etc/.clean"), "utf8"), "foo\n");

  // The root's /nix a link (to /persist/nix): the store resolved there is the store all the same.
  const root2 = makeUserRoot("etc-conf-");
  mkdirSync(join(root2, "persist"));
  const B = { foo: { dir: { bar: "store content\n" } }, hosts: { text: "h\n" } };
  buildEtcTree(root2, B);
  renameSync(join(root2, "nix"), join(root2, "persist/nix"));
  symlinkSync("persist/nix", join(root2, "nix")); // relative: the fixtures reach it from the host too
  assert.is((await setup(root2, B)).status, 0);
  writeFileSync(join(root2, "etc/.clean"), "foo/bar\n");
  const staticFoo = resolveInRoot(root2, "/etc/static/foo");
  const r = await setup(root2, B);
  assert.is(r.status, 0, r.messages.join("\n"));
  assert.is(readFileSync(join(staticFoo, "bar"), "utf8"), "store content\n");
});

test.run();
