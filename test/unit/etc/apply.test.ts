import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { resolveInRoot } from "../../../src/fs/root.ts";
import { buildEtcTree, type FixtureEntry, makeRoot, makeUserRoot, snapshot } from "./fixtures.ts";
import { setup } from "./helpers.ts";
import { applyEtc } from "../../../src/etc/apply.ts";
import { planEtcSetup } from "../../../src/etc/step.ts";

const MAIN = join(import.meta.dir, "../../../src/main.ts");

test("a switch between two trees ends with exactly the second tree's /etc", async () => {
  const root = makeUserRoot();
  const first = await setup(root, {
    keep: { text: "k\n" }, gone: { text: "g\n" }, copygone: { text: "c\n", mode: "0644" },
    l2c: { text: "x\n" }, c2l: { text: "x\n", mode: "0600" }, d2l: { text: "x\n", mode: "direct-symlink" },
    "dir2link/a": { text: "a\n" }, link2dir: { dir: { a: "a\n" } }, svc: { text: "s\n", mode: "0440", user: "etcsvc", group: "etcsvc" },
  });
  assert.is(first.status, 0, first.messages.join("\n"));
  const second = await setup(root, {
    keep: { text: "k2\n" }, added: { text: "a\n" }, l2c: { text: "x2\n", mode: "0644" }, c2l: { text: "x\n" }, d2l: { text: "x\n" },
    dir2link: { dir: { a: "a\n" } }, "link2dir/a": { text: "a\n" }, svc: { text: "s\n", mode: "0400", user: "etcsvc", group: "+0" },
  });
  assert.is(second.status, 0, second.messages.join("\n"));
  assert.equal(second.messages.sort(), [
    "removing obsolete file ‘/etc/copygone’...",
    "removing obsolete symlink ‘/etc/dir2link/a’...",
    "removing obsolete symlink ‘/etc/gone’...",
    "removing obsolete symlink ‘/etc/link2dir’...",
  ]);
  const s = snapshot(join(root, "etc"), (n) => n === "passwd" || n === "group");
  const store = readlinkSync(join(root, "etc/static"));
  assert.equal(s, {
    ".clean": 'file 644 0:0 "l2c\\nsvc\\n"',
    NIXOS: 'file 644 0:0 ""',
    added: "link -> /etc/static/added",
    c2l: "link -> /etc/static/c2l",
    d2l: "link -> /etc/static/d2l",
    dir2link: "link -> /etc/static/dir2link",
    keep: "link -> /etc/static/keep",
    l2c: 'file 644 0:0 "x2\\n"',
    link2dir: "dir 755 0:0",
    "link2dir/a": "link -> /etc/static/link2dir/a",
    static: `link -> ${store}`,
    svc: 'file 400 4242:0 "s\\n"',
  });
  assert.is(readFileSync(resolveInRoot(root, "/etc/keep"), "utf8"), "k2\n", "links resolve into the new generation");
});

test("a copied file never writes through a symlink planted at its name", async () => {
  const root = makeUserRoot();
  writeFileSync(join(root, "victim"), "precious\n");
  symlinkSync("/victim", join(root, "etc/secret"));
  symlinkSync(join(root, "victim"), join(root, "etc/secret.tmp"));
  const r = await setup(root, { secret: { text: "s\n", mode: "0600" } });
  assert.is(r.status, 0);
  assert.is(readFileSync(join(root, "victim"), "utf8"), "precious\n");
  assert.ok(lstatSync(join(root, "etc/secret")).isFile());
  assert.is(readFileSync(join(root, "etc/secret"), "utf8"), "s\n");
});

test("an unknown owner: a clear error naming the entry, the old copy left as is, the rest set up, non-zero", async () => {
  const root = makeUserRoot();
  await setup(root, { conf: { text: "old\n", mode: "0640", user: "etcsvc", group: "+0" } });
  const r = await setup(root, { conf: { text: "new\n", mode: "0640", user: "ghost", group: "+0" }, other: { text: "o\n" } });
  assert.is(r.status, 1);
  assert.equal(r.messages, ["error: not setting up ‘/etc/conf’: unknown user ‘ghost’ in conf.uid"]);
  assert.is(readFileSync(join(root, "etc/conf"), "utf8"), "old\n");
  assert.is(readFileSync(join(root, "etc/.clean"), "utf8"), "conf\n", "still tracked, so removed once undeclared");
  assert.is(readlinkSync(join(root, "etc/other")), "/etc/static/other");
});

test("a .clean line escaping /etc removes nothing outside it", async () => {
  const root = makeUserRoot();
  writeFileSync(join(root, "outside"), "keep me\n");
  mkdirSync(join(root, "etc/sub"));
  writeFileSync(join(root, "etc/.clean"), "../outside\nsub/../../outside\n");
  const r = await setup(root, { a: { text: "a" } });
  assert.is(r.status, 1);
  assert.ok(existsSync(join(root, "outside")));
  assert.is(readFileSync(join(root, "etc/.clean"), "utf8"), "");
});

test("initrd mode: a bare directory root, absolute symlinks and owners all taken from the target root", async () => {
  const root = makeRoot("etc-initrd-");
  rmSync(join(root, "etc"), { recursive: true });
  mkdirSync(join(root, "persist/ssh"), { recursive: true });
  const etc = buildEtcTree(root, {
    passwd: { text: "root:x:0:0::/root:/bin/sh\nsshd:x:4711:4712::/:/bin/false\n", mode: "0644" },
    group: { text: "root:x:0:\nsshd:x:4712:\n", mode: "0644" },
    "ssh/sshd_config": { text: "Port 22\n", mode: "0600", user: "sshd", group: "sshd" },
    hosts: { text: "h\n" },
  });
  // /etc does not exist yet; after the first run, point /etc/ssh into /persist (impermanence style).
  let r = spawnSync(process.execPath, [MAIN, "etc", "--root", root, etc], { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  rmSync(join(root, "etc/ssh"), { recursive: true });
  symlinkSync("/persist/ssh", join(root, "etc/ssh"));
  r = spawnSync(process.execPath, [MAIN, "etc", "--root", root, etc], { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  const conf = statSync(join(root, "persist/ssh/sshd_config"));
  assert.is(conf.uid, 4711);
  assert.is(conf.gid, 4712);
  assert.is(conf.mode & 0o7777, 0o600);
  assert.is(readlinkSync(join(root, "etc/static")), etc);
  assert.is(readFileSync(resolveInRoot(root, "/etc/hosts"), "utf8"), "h\n");
});

test("--dry changes nothing and prints the plan; --diff shows content", async () => {
  const root = makeUserRoot();
  const etc = buildEtcTree(root, { conf: { text: "a\n", mode: "0644" } });
  const before = snapshot(root);
  const r = spawnSync(process.execPath, [MAIN, "etc", "--root", root, "--dry", "--diff", etc], { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  assert.equal(snapshot(root), before);
  assert.match(r.stdout, /would copy ‘\/etc\/conf’ \(mode 0644, owner \+0:\+0 = 0:0\)\n--- a\/etc\/conf\n\+\+\+ b\/etc\/conf\n/);
});

test("an unchanged copy is not rewritten; /etc/NIXOS keeps its content; setuid bits survive the owner pass", async () => {
  const root = makeUserRoot();
  writeFileSync(join(root, "etc/NIXOS"), "tag\n");
  const entries = { tool: { text: "t", mode: "4755", user: "etcsvc", group: "etcsvc" } };
  await setup(root, entries);
  const ino = statSync(join(root, "etc/tool")).ino;
  assert.is(statSync(join(root, "etc/tool")).mode & 0o7777, 0o4755);
  const again = await setup(root, entries);
  assert.equal(again.lines, []);
  assert.is(statSync(join(root, "etc/tool")).ino, ino);
  assert.is(readFileSync(join(root, "etc/NIXOS"), "utf8"), "tag\n");
});

test("between any two operations of a switch, every name declared before and after resolves", async () => {
  const root = makeUserRoot();
  const gen1 = {
    "dirlink/a": { text: "a1\n" }, "dirlink/b": { text: "b1\n" }, link2dir: { dir: { a: "a1\n" } },
    c2l: { text: "x1\n", mode: "0644" }, l2c: { text: "y1\n" }, l2d: { text: "z1\n" }, stay: { text: "s1\n" },
  };
  const gen2 = {
    dirlink: { dir: { a: "a2\n", b: "b2\n" } }, "link2dir/a": { text: "a2\n" },
    c2l: { text: "x2\n" }, l2c: { text: "y2\n", mode: "0644" }, l2d: { text: "z2\n", mode: "direct-symlink" }, stay: { text: "s2\n" },
  };
  await setup(root, gen1);
  const watched = ["dirlink", "dirlink/a", "dirlink/b", "link2dir", "link2dir/a", "c2l", "l2c", "l2d", "stay"];
  const missing: string[] = [];
  const etc = buildEtcTree(root, gen2);
  const { data } = planEtcSetup(root, etc, {}, false);
  const status = await applyEtc(root, data, {
    stderr: () => {},
    afterOp: (op) => {
      for (const n of watched) {
        try { statSync(resolveInRoot(root, `/etc/${n}`)); } catch { missing.push(`${n} after ${op.op} ${"name" in op ? op.name : ""}`); }
      }
    },
  });
  assert.is(status, 0);
  assert.equal(missing, []);
  assert.ok(lstatSync(join(root, "etc/link2dir")).isDirectory());
  assert.ok(lstatSync(join(root, "etc/dirlink")).isSymbolicLink());
  assert.is(readFileSync(resolveInRoot(root, "/etc/dirlink/b"), "utf8"), "b2\n");
});

test("a copy or a direct link of ours where the new tree has a directory becomes that directory, never missing in between; no error at any later run", async () => {
  for (const mode of ["0644", "direct-symlink"]) {
    const root = makeUserRoot();
    assert.is((await setup(root, { foo: { text: "old\n", mode }, hosts: { text: "h\n" } })).status, 0);
    assert.is(readFileSync(join(root, "etc/.clean"), "utf8"), "foo\n");
    const gen2 = { "foo/x": { text: "x\n" }, "foo/y": { text: "y\n", mode: "0600" }, hosts: { text: "h\n" } };
    const etc = buildEtcTree(root, gen2);
    const { data, lines } = planEtcSetup(root, etc, {}, true);
    assert.ok(lines.includes(`would replace obsolete ${mode === "0644" ? "file" : "symlink"} ‘/etc/foo’ with a directory`), lines.join("\n"));
    const missing: string[] = [];
    const messages: string[] = [];
    const status = await applyEtc(root, planEtcSetup(root, etc, {}, false).data, {
      stderr: (l) => messages.push(l),
      afterOp: (op) => { try { lstatSync(join(root, "etc/foo")); } catch { missing.push(`${op.op}`); } },
    });
    assert.ok(data.ops.length > 0);
    assert.is(status, 0, messages.join("\n"));
    assert.equal(missing, [], mode);
    assert.equal(messages, [`removing obsolete ${mode === "0644" ? "file" : "symlink"} ‘/etc/foo’...`]);
    assert.ok(lstatSync(join(root, "etc/foo")).isDirectory());
    assert.is(readlinkSync(join(root, "etc/foo/x")), "/etc/static/foo/x");
    assert.is(readFileSync(join(root, "etc/foo/y"), "utf8"), "y\n");
    assert.is(readFileSync(join(root, "etc/.clean"), "utf8"), "foo/y\n");
    const again = await setup(root, gen2);
    assert.equal([again.status, again.messages], [0, []]);
  }
});

test("a direct link of ours becoming a directory: its new entries are planned as absent, not judged through the old link (one run sets it up)", async () => {
  const root = makeUserRoot();
  // The old direct link leads to a directory that already holds `x` (same content) and `b/`.
  assert.is((await setup(root, { a: { dir: { x: "same\n", "b-marker": "m\n" }, mode: "direct-symlink" }, hosts: { text: "h\n" } })).status, 0);
  mkdirSync(join(resolveInRoot(root, "/etc/a"), "b"));
  const gen2 = { "a/x": { text: "same\n", mode: "0444" }, "a/b/c": { text: "c\n" }, hosts: { text: "h\n" } };
  const r = await setup(root, gen2);
  assert.is(r.status, 0, r.messages.join("\n"));
  assert.ok(lstatSync(join(root, "etc/a")).isDirectory());
  assert.is(readFileSync(join(root, "etc/a/x"), "utf8"), "same\n");
  assert.is(readlinkSync(join(root, "etc/a/b/c")), "/etc/static/a/b/c");
  assert.equal([(await setup(root, gen2)).status], [0]);
});

test("rolling back: a directory holding only copies of ours (and static links) becomes the declared copy or link in one run", async () => {
  for (const back of [{ text: "a\n", mode: "0644" }, { text: "a\n" }, { text: "a\n", mode: "direct-symlink" }]) {
    const root = makeUserRoot();
    const gen1 = { a: back, hosts: { text: "h\n" } };
    assert.is((await setup(root, gen1)).status, 0);
    assert.is((await setup(root, { "a/x": { text: "x\n", mode: "0600" }, "a/y": { text: "y\n" }, hosts: { text: "h\n" } })).status, 0);
    const r = await setup(root, gen1);
    assert.is(r.status, 0, JSON.stringify(back));
    assert.equal(r.messages.filter((m) => !m.startsWith("removing obsolete symlink")), [], r.messages.join("\n"));
    const st = lstatSync(join(root, "etc/a"));
    assert.ok(back.mode === "0644" ? st.isFile() : st.isSymbolicLink(), JSON.stringify(back));
    assert.is(readFileSync(join(root, "etc/.clean"), "utf8"), back.mode ? "a\n" : "");
  }
});

test("owners settled after the copies are in place: a link or a FIFO swapped in meanwhile is neither followed nor waited on", async () => {
  const root = makeUserRoot();
  const host = join(root, "..", `host-file-${process.pid}`);
  writeFileSync(host, "host\n", { mode: 0o600 });
  const before = lstatSync(host);
  const entries = {
    linked: { text: "l\n", mode: "0644", user: "etcsvc", group: "etcsvc" },
    "d/fifo": { text: "f\n", mode: "0644", user: "etcsvc", group: "etcsvc" },
    kept: { text: "k\n", mode: "0640", user: "etcsvc", group: "etcsvc" },
  };
  const { data } = planEtcSetup(root, buildEtcTree(root, entries), {}, false);
  const messages: string[] = [];
  const status = await applyEtc(root, data, {
    stderr: (l) => messages.push(l),
    afterOp: (op) => {
      // The copies are in place once "clean" is applied; owners are settled right after.
      if (op.op !== "clean") return;
      rmSync(join(root, "etc/linked"));
      symlinkSync(host, join(root, "etc/linked"));
      rmSync(join(root, "etc/d/fifo"));
      assert.is(spawnSync("mkfifo", [join(root, "etc/d/fifo")]).status, 0);
    },
  });
  assert.is(status, 0, messages.join("\n"));
  const after = lstatSync(host);
  assert.equal([after.uid, after.gid, after.mode], [before.uid, before.gid, before.mode]);
  const kept = lstatSync(join(root, "etc/kept"));
  assert.equal([kept.uid, kept.gid, kept.mode & 0o7777], [4242, 4343, 0o640]);
  rmSync(host);
});

test("the owner pass looks only at copies with a user or group name: `+N` ids were set exactly when written", async () => {
  const root = makeUserRoot();
  const entries = {
    numeric: { text: "n\n", mode: "0640", user: "+4242", group: "+4343" },
    named: { text: "m\n", mode: "0640", user: "etcsvc", group: "+0" },
  };
  const { data } = planEtcSetup(root, buildEtcTree(root, entries), {}, false);
  const status = await applyEtc(root, data, {
    stderr: () => {},
    afterOp: (op) => {
      // Between the copies' rename into place and the owner pass: both made group-writable.
      if (op.op !== "clean") return;
      for (const n of ["numeric", "named"]) chmodSync(join(root, "etc", n), 0o660);
    },
  });
  assert.is(status, 0);
  const numeric = lstatSync(join(root, "etc/numeric"));
  assert.equal([numeric.uid, numeric.gid, numeric.mode & 0o7777], [4242, 4343, 0o660], "not opened again");
  const named = lstatSync(join(root, "etc/named"));
  assert.equal([named.uid, named.gid, named.mode & 0o7777], [4242, 0, 0o640], "settled against passwd");
});

test("a no-op rerun writes nothing: /etc, its entries and .clean keep their inodes and times", async () => {
  const root = makeUserRoot();
  const entries = { a: { text: "a\n" }, "d/b": { text: "b\n", mode: "0640" }, c: { text: "c\n", mode: "direct-symlink" } };
  await setup(root, entries);
  const etc = join(root, "etc");
  const seen = (p: string) => { const st = lstatSync(p); return `${st.ino} ${st.mtimeMs} ${st.ctimeMs}`; };
  const names = [".", ".clean", "a", "d", "d/b", "c", "static", "NIXOS"];
  const before = names.map((n) => seen(join(etc, n)));
  const again = await setup(root, entries);
  assert.is(again.status, 0);
  assert.equal(again.lines, []);
  assert.equal(names.map((n) => seen(join(etc, n))), before);
});

test("many copies at once (durable together): new, changed, over a directory of static links, inside a directory replacing a link", async () => {
  const root = makeUserRoot();
  const n = 24;
  const gen1: Record<string, FixtureEntry> = { "repl/a": { text: "a\n" }, todir: { text: "t\n" } };
  for (let i = 0; i < n; i++) gen1[`c${i}`] = { text: `one ${i}\n`, mode: "0640" };
  assert.is((await setup(root, gen1)).status, 0);
  const gen2: Record<string, FixtureEntry> = { repl: { text: "r\n", mode: "0600" } };
  for (let i = 0; i < n; i++) {
    gen2[`c${i}`] = { text: `two ${i}\n`, mode: i % 2 ? "0640" : "4755" };
    gen2[`todir/in${i}`] = { text: `in ${i}\n`, mode: "0644" };
  }
  const second = await setup(root, gen2);
  assert.is(second.status, 0, second.messages.join("\n"));
  const s = snapshot(join(root, "etc"), (name) => name === "passwd" || name === "group");
  for (let i = 0; i < n; i++) {
    assert.is(s[`c${i}`], `file ${i % 2 ? "640" : "4755"} 0:0 ${JSON.stringify(`two ${i}\n`)}`);
    assert.is(s[`todir/in${i}`], `file 644 0:0 ${JSON.stringify(`in ${i}\n`)}`);
  }
  assert.is(s.repl, 'file 600 0:0 "r\\n"');
  assert.is(s.todir, "dir 755 0:0");
  assert.equal(Object.keys(s).filter((k) => k.includes(".stagehand-")), [], "no temporary file is left");
  assert.is(readFileSync(join(root, "etc/.clean"), "utf8").split("\n").filter(Boolean).length, 2 * n + 1);
});

test.run();
