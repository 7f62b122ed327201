import { test } from "uvu";
import * as assert from "uvu/assert";
import { chmodSync, chownSync, lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tempPathFor } from "../../../src/fs/staged.ts";
import { spawnSync } from "node:child_process";
import { planEtcSetup } from "../../../src/etc/step.ts";
import { join } from "node:path";
import { planEtc, planLines } from "../../../src/etc/plan.ts";
import { loadEtcState } from "../../../src/etc/state.ts";
import { readEtcTree } from "../../../src/etc/tree.ts";
import { buildEtcTree, type FixtureEntry, makeUserRoot } from "./fixtures.ts";
import { opSummary, setup } from "./helpers.ts";

function planFor(root: string, entries: Record<string, FixtureEntry>, opts = { inNixosEnter: false, diff: false }) {
  const tree = readEtcTree(root, buildEtcTree(root, entries));
  return planEtc(tree, loadEtcState(root, tree), opts);
}

test("a first run plans /etc/static, directories, links, copies, .clean and /etc/NIXOS", async () => {
  const root = makeUserRoot();
  const plan = planFor(root, {
    hosts: { text: "h\n" }, "ssh/sshd_config": { text: "p\n" }, secret: { text: "s\n", mode: "0400", user: "etcsvc", group: "etcsvc" },
  });
  assert.equal(opSummary(plan), ["static", "link hosts", "copy secret", "mkdir ssh", "link ssh/sshd_config", "clean", "tag"]);
  const copy = plan.ops.find((o) => o.op === "copy")!;
  assert.ok(copy.op === "copy" && copy.uid === 4242 && copy.gid === 4343 && copy.mode === 0o400);
});

test("a second run of the same tree plans nothing visible", async () => {
  const root = makeUserRoot();
  const entries = { hosts: { text: "h\n" }, secret: { text: "s\n", mode: "0400", user: "etcsvc", group: "+0" }, d: { text: "d", mode: "direct-symlink" } };
  await setup(root, entries);
  const plan = planFor(root, entries);
  assert.equal(planLines(plan, { diff: true }), []);
  assert.equal(opSummary(plan), ["clean"]);
});

test("as the step plans (listings typing /etc's files): a copy rewritten only where content, mode or owner differ; a FIFO in its place is not read", async () => {
  const root = makeUserRoot();
  const entries = {
    same: { text: "s\n", mode: "0644" }, content: { text: "c\n", mode: "0644" }, mode: { text: "m\n", mode: "0644" },
    owner: { text: "o\n", mode: "0644" }, fifo: { text: "f\n", mode: "0644" }, "sub/deep": { text: "d\n", mode: "0600" },
  };
  const first = await setup(root, entries);
  assert.is(first.status, 0, first.messages.join("\n"));
  writeFileSync(join(root, "etc/content"), "changed\n");
  chmodSync(join(root, "etc/mode"), 0o600);
  chownSync(join(root, "etc/owner"), 1, 0);
  rmSync(join(root, "etc/fifo"));
  assert.is(spawnSync("mkfifo", [join(root, "etc/fifo")]).status, 0);
  const { data } = planEtcSetup(root, buildEtcTree(root, entries), {}, false);
  assert.equal(opSummary(data), ["copy content", "copy fifo", "copy mode", "copy owner", "clean"]);
  const old = (name: string) => (data.ops.find((o) => o.op === "copy" && o.name === name) as { old?: Buffer }).old;
  assert.is(old("content")?.toString(), "changed\n");
  assert.is(old("fifo"), undefined);
  // Unchanged again: nothing.
  assert.is((await setup(root, entries)).status, 0);
  assert.equal(opSummary(planEtcSetup(root, buildEtcTree(root, entries), {}, false).data), ["clean"]);
});

test("a switch: added, removed, changed, mode changes and link/copy/direct transitions", async () => {
  const root = makeUserRoot();
  await setup(root, {
    keep: { text: "k\n" }, gone: { text: "g\n" }, "sub/gone": { text: "g\n" },
    copygone: { text: "c\n", mode: "0644" }, modechange: { text: "m\n", mode: "0644" },
    l2c: { text: "x\n" }, c2l: { text: "x\n", mode: "0600" }, l2d: { text: "x\n" }, d2l: { text: "x\n", mode: "direct-symlink" },
    c2d: { text: "x\n", mode: "0600" },
  });
  const plan = planFor(root, {
    keep: { text: "k2\n" }, added: { text: "a\n" }, modechange: { text: "m\n", mode: "0600" },
    l2c: { text: "x\n", mode: "0644" }, c2l: { text: "x\n" }, l2d: { text: "x\n", mode: "direct-symlink" }, d2l: { text: "x\n" },
    c2d: { text: "x\n", mode: "direct-symlink" },
  });
  assert.equal(opSummary(plan), [
    "static",
    "remove-link gone", "remove-link sub/gone",
    "link added", "link c2d", "link c2l", "link d2l", "copy l2c", "link l2d", "copy modechange",
    "remove-file copygone",
    "clean",
  ]);
  const lines = planLines(plan, { diff: false });
  assert.ok(lines.includes("would remove obsolete symlink ‘/etc/gone’"));
  assert.ok(lines.includes("would remove obsolete file ‘/etc/copygone’"));
  assert.ok(lines.includes("would update ‘/etc/modechange’ (mode 0600, owner +0:+0 = 0:0)"));
});

test("a directory of static links becomes a link; one with user files is kept, with setup-etc.pl's warnings", async () => {
  const root = makeUserRoot();
  await setup(root, { "d/a": { text: "a" }, "u/a": { text: "a" } });
  writeFileSync(join(root, "etc/u/mine"), "user\n");
  const plan = planFor(root, { d: { dir: { a: "a" } }, u: { dir: { a: "a" } } });
  assert.equal(opSummary(plan), [
    "static", "remove-link d/a", "remove-link u/a", "replace-dir d", "link d",
    "warn", "warn", "clean",
  ]);
  const warnings = plan.ops.filter((o) => o.op === "warn").map((o) => (o as { message: string }).message);
  assert.equal(warnings, ["/etc/u directory contains user files. Symlinking may fail.", "could not create symlink /etc/u"]);
});

test("a link to a directory becomes a directory of links", async () => {
  const root = makeUserRoot();
  await setup(root, { d: { dir: { a: "a" } } });
  const plan = planFor(root, { "d/a": { text: "a" } });
  assert.equal(opSummary(plan), ["static", "remove-link d", "mkdir d", "link d/a", "clean"]);
});

test("refusals: unknown owners, bad modes, a file in the way, bad .clean lines — each an error naming the entry", async () => {
  const root = makeUserRoot();
  writeFileSync(join(root, "etc/blocker"), "user file\n");
  writeFileSync(join(root, "etc/.clean"), "old\n../../outside\n");
  writeFileSync(join(root, "etc/old"), "o");
  const plan = planFor(root, {
    nouser: { text: "x", mode: "0600", user: "ghost", group: "+0" },
    nogroup: { text: "x", mode: "0600", user: "+0", group: "ghosts" },
    badmode: { text: "x", mode: "rw-r--r--" },
    "blocker/x": { text: "x" },
    fine: { text: "f" },
  });
  const errors = plan.ops.filter((o) => o.op === "error").map((o) => (o as { message: string }).message);
  assert.equal(errors, [
    "error: ignoring line ‘../../outside’ of /etc/.clean: name escapes /etc",
    "error: not setting up ‘/etc/badmode’: badmode.mode is neither 'direct-symlink' nor an octal mode",
    "error: not setting up ‘/etc/blocker/x’: ‘/etc/blocker’ is in the way and is not a directory",
    "error: not setting up ‘/etc/nogroup’: unknown group ‘ghosts’ in nogroup.gid",
    "error: not setting up ‘/etc/nouser’: unknown user ‘ghost’ in nouser.uid",
  ]);
  assert.ok(opSummary(plan).includes("link fine"), "the rest of /etc is still set up");
  assert.ok(opSummary(plan).includes("remove-file old"));
  assert.not.ok(opSummary(plan).includes("remove-file ../../outside"), "a .clean line escaping /etc is never removed");
});

test("a tree that declares /etc/NIXOS itself (a link, a copy, a directory): --dry does not also announce creating the tag (found by graph/dry-exact)", async () => {
  // The tag's O_EXCL create finds the tree's own node there: "would create /etc/NIXOS" named a
  // file the real run never made.
  const cases: [Record<string, FixtureEntry>, string][] = [
    [{ NIXOS: { text: "t\n", mode: "direct-symlink" } }, "link NIXOS"],
    [{ NIXOS: { text: "t\n", mode: "0644" } }, "copy NIXOS"],
    [{ "NIXOS/y": { text: "t\n" } }, "mkdir NIXOS"],
  ];
  for (const [entries, op] of cases) {
    const plan = planFor(makeUserRoot(), entries);
    assert.ok(opSummary(plan).includes(op), JSON.stringify(opSummary(plan)));
    assert.not.ok(opSummary(plan).includes("tag"), op);
  }
});

test("a directory of static links replaced by a copy says so: --dry names a copy, not a link (found by graph/dry-exact)", async () => {
  const root = makeUserRoot();
  mkdirSync(join(root, "etc/d"));
  symlinkSync("/etc/static/d/x", join(root, "etc/d/x"));
  const plan = planFor(root, { d: { text: "t\n", mode: "0644" } });
  assert.ok(planLines(plan, { diff: false }).includes("would replace directory ‘/etc/d’ (only links into /etc/static and files of this step's) with a copy"), planLines(plan, { diff: false }).join("\n"));
});

test("IN_NIXOS_ENTER leaves resolv.conf alone (and keeps it in .clean)", async () => {
  const root = makeUserRoot();
  await setup(root, { "resolv.conf": { text: "nameserver 1.1.1.1\n", mode: "0644" } });
  const plan = planFor(root, { "resolv.conf": { text: "nameserver 9.9.9.9\n", mode: "0644" } }, { inNixosEnter: true, diff: false });
  assert.equal(opSummary(plan), ["static", "clean"]);
  const clean = plan.ops.find((o) => o.op === "clean")!;
  assert.ok(clean.op === "clean" && clean.names.includes("resolv.conf"));
});

test("owners resolve against the passwd the tree itself declares, when it does", async () => {
  const root = makeUserRoot();
  const plan = planFor(root, {
    passwd: { text: "root:x:0:0::/root:/bin/sh\nnewsvc:x:777:777::/:/bin/false\n", mode: "0644" },
    group: { text: "root:x:0:\nnewsvc:x:778:\n", mode: "0644" },
    conf: { text: "c", mode: "0400", user: "newsvc", group: "newsvc" },
  });
  const copy = plan.ops.find((o) => o.op === "copy" && o.name === "conf")!;
  assert.ok(copy.op === "copy" && copy.uid === 777 && copy.gid === 778);
});

test("--diff shows the content change of a copied file", async () => {
  const root = makeUserRoot();
  await setup(root, { conf: { text: "a=1\nb=2\n", mode: "0644" } });
  const plan = planFor(root, { conf: { text: "a=1\nb=3\n", mode: "0644" } });
  const lines = planLines(plan, { diff: true });
  assert.ok(lines.includes("would update ‘/etc/conf’ (mode 0644, owner +0:+0 = 0:0)"));
  assert.ok(lines.includes("-b=2") && lines.includes("+b=3") && lines.includes("--- a/etc/conf"), lines.join("\n"));
});

test("/etc/NIXOS that the old tree declared (a link or a copy) and this one does not is made again in the same run", async () => {
  for (const mode of [undefined, "0644"]) {
    const root = makeUserRoot();
    assert.is((await setup(root, { NIXOS: { text: "", mode }, hosts: { text: "h\n" } })).status, 0);
    const r = await setup(root, { hosts: { text: "h\n" } });
    assert.is(r.status, 0, r.messages.join("\n"));
    assert.ok(lstatSync(join(root, "etc/NIXOS")).isFile(), `${mode}: /etc/NIXOS is there`);
    assert.equal((await setup(root, { hosts: { text: "h\n" } })).lines, [], `${mode}: nothing left to do`);
  }
});

test("/etc/nixos itself a link into /etc/static is an obsolete link like any other: a later tree's nixos/ directory is set up", async () => {
  const root = makeUserRoot();
  assert.is((await setup(root, { nixos: { dir: { "configuration.nix": "{ }\n" } }, hosts: { text: "h\n" } })).status, 0);
  assert.is(readlinkSync(join(root, "etc/nixos")), "/etc/static/nixos");
  const entries = { "nixos/x": { text: "x\n" }, hosts: { text: "h\n" } };
  const r = await setup(root, entries);
  assert.is(r.status, 0, r.messages.join("\n"));
  assert.equal(r.messages, ["removing obsolete symlink ‘/etc/nixos’..."]);
  assert.is(readlinkSync(join(root, "etc/nixos/x")), "/etc/static/nixos/x");
  assert.equal((await setup(root, entries)).lines, []);
  // Under /etc/nixos (never walked), a link into /etc/static where the tree now has a directory.
  assert.is((await setup(root, { "nixos/d": { dir: { a: "a\n" } }, hosts: { text: "h\n" } })).status, 0);
  const deeper = { "nixos/d/y": { text: "y\n" }, hosts: { text: "h\n" } };
  const r2 = await setup(root, deeper);
  assert.is(r2.status, 0, r2.messages.join("\n"));
  assert.is(readlinkSync(join(root, "etc/nixos/d/y")), "/etc/static/nixos/d/y");
  assert.equal((await setup(root, deeper)).lines, []);
});

test("an entry below an admin's link into the Nix store is refused while planning, by name (and --dry says so)", async () => {
  const root = makeUserRoot();
  const etc = buildEtcTree(root, { "y/x": { text: "x\n" }, "y/c": { text: "c\n", mode: "0644" }, hosts: { text: "h\n" } });
  symlinkSync(etc, join(root, "etc/y")); // any store directory
  const { lines, failed } = planEtcSetup(root, etc, {}, false);
  assert.ok(failed);
  for (const n of ["c", "x"]) assert.ok(lines.includes(`error: not setting up ‘/etc/y/${n}’: ‘/etc/y’ is a link into the Nix store; nothing is written there`), lines.join("\n"));
  assert.not.ok(lines.some((l) => l.startsWith("would link ‘/etc/y/") || l.startsWith("would copy ‘/etc/y/")), lines.join("\n"));
  const r = await setup(root, { "y/x": { text: "x\n" }, "y/c": { text: "c\n", mode: "0644" }, hosts: { text: "h\n" } });
  assert.is(r.status, 1);
  assert.equal(r.messages.filter((m) => !m.includes("is a link into the Nix store; nothing is written there")), []);
  assert.is(readlinkSync(join(root, "etc/hosts")), "/etc/static/hosts");
});

test("a directory of static links holding a killed run's temporary is still replaced by the declared link, in one run", async () => {
  const root = makeUserRoot();
  assert.is((await setup(root, { "a/x": { text: "x\n" }, hosts: { text: "h\n" } })).status, 0);
  writeFileSync(tempPathFor(join(root, "etc/a/x")), "half", { mode: 0o600 });
  const entries = { a: { text: "a\n" }, hosts: { text: "h\n" } };
  const r = await setup(root, entries);
  assert.is(r.status, 0, r.messages.join("\n"));
  assert.equal(r.messages, ["removing obsolete symlink ‘/etc/a/x’..."], "not a directory of user files");
  assert.is(readlinkSync(join(root, "etc/a")), "/etc/static/a");
  assert.equal((await setup(root, entries)).lines, []);
});

test("links into /etc/static under /etc/nixos are never looked at", async () => {
  const root = makeUserRoot();
  mkdirSync(join(root, "etc/nixos"));
  symlinkSync("/etc/static/whatever", join(root, "etc/nixos/link"));
  symlinkSync("/etc/static/whatever", join(root, "etc/elsewhere"));
  const plan = planFor(root, {});
  assert.equal(opSummary(plan).filter((o) => o.startsWith("remove-link")), ["remove-link elsewhere"]);
});

test.run();
