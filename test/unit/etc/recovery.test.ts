/**
 * What a killed run leaves is cleaned by the next (issue 13 §3), under a lock so that a concurrent
 * run's temporary files are never swept; /etc/static that is not a link is refused before any link
 * is made (§4).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { closeSync, constants, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applyEtc, isNoop } from "../../../src/etc/apply.ts";
import { planEtcSetup } from "../../../src/etc/step.ts";
import { tryLockExclusive } from "../../../src/fs/lock.ts";
import { ETC_LOCK } from "../../../src/etc/paths.ts";
import { flock, LOCK_EX, LOCK_NB, LOCK_UN } from "../../../src/fs/libc.ts";
import { tempPathFor } from "../../../src/fs/staged.ts";
import { buildEtcTree, makeUserRoot, snapshot } from "./fixtures.ts";
import { setup } from "./helpers.ts";

const lstatExists = (p: string) => { try { lstatSync(p); return true; } catch { return false; } };

const ENTRIES = { hosts: { text: "h\n" }, "ssh/sshd_config": { text: "p\n", mode: "0600" }, "profile.d/a.sh": { text: "a\n" } };

test("temporary files of a killed run are swept from every directory of /etc, and nothing else is", async () => {
  const root = makeUserRoot("etc-sweep-");
  await setup(root, ENTRIES);
  const etc = join(root, "etc");
  // What a run killed at various moments leaves: a staged copy, a link, a directory being built, one moved aside.
  const copy = tempPathFor(join(etc, "ssh/sshd_config"));
  writeFileSync(copy, "half", { mode: 0o600 });
  symlinkSync("/etc/static/hosts", tempPathFor(join(etc, "hosts"), "link"));
  const dir = tempPathFor(join(etc, "profile.d"), "dir");
  mkdirSync(dir);
  symlinkSync("/etc/static/profile.d/a.sh", join(dir, "a.sh"));
  mkdirSync(tempPathFor(join(etc, "gone"), "old"));
  writeFileSync(tempPathFor(join(etc, ".clean")), "x\n");
  // In a directory this tree does not manage (a killed run's, when a directory became a link): swept too.
  mkdirSync(join(etc, "unmanaged"));
  const foreign = tempPathFor(join(etc, "unmanaged/file"));
  writeFileSync(foreign, "");
  // Not ours (not the temporaries' name pattern): kept.
  writeFileSync(join(etc, ".hosts.stagehand-notours"), "");
  writeFileSync(join(etc, ".hidden"), "");

  const r = await setup(root, ENTRIES);
  assert.is(r.status, 0, r.messages.join("\n"));
  assert.equal(r.messages, [], "a temporary link into /etc/static is not an obsolete link");
  const left = Object.keys(snapshot(etc)).filter((n) => n.includes(".stagehand-"));
  assert.equal(left.sort(), [".hosts.stagehand-notours"]);
  assert.ok(existsSync(join(etc, ".hidden")));
});

test("a temporary left in a directory no later tree manages is swept too (a run killed while a directory became a link)", async () => {
  const root = makeUserRoot("etc-sweep-");
  assert.is((await setup(root, { "a/b/x": { text: "x\n" }, hosts: { text: "h\n" } })).status, 0);
  const etc = join(root, "etc");
  // What the killed run left: the new link built beside /etc/a/b, never swapped in.
  const left = tempPathFor(join(etc, "a/b"), "new");
  symlinkSync("/etc/static/a/b", left);
  const r = await setup(root, { hosts: { text: "h\n" } });
  assert.is(r.status, 0, r.messages.join("\n"));
  assert.not.ok(existsSync(left) || lstatExists(left), "swept");
  assert.equal(Object.keys(snapshot(etc)).filter((n) => n.includes(".stagehand-")), []);
});

test("in /etc itself, the users step's temporaries are left to it (it sweeps them under its own lock)", async () => {
  const root = makeUserRoot("etc-sweep-");
  await setup(root, ENTRIES);
  const etc = join(root, "etc");
  const shadow = tempPathFor(join(etc, "shadow"));
  const passwd = tempPathFor(join(etc, "passwd"));
  const hosts = tempPathFor(join(etc, "hosts"), "link");
  for (const p of [shadow, passwd]) writeFileSync(p, "", { mode: 0o600 });
  symlinkSync("/etc/static/hosts", hosts);
  assert.is((await setup(root, ENTRIES)).status, 0);
  assert.ok(existsSync(shadow) && existsSync(passwd));
  assert.not.ok(existsSync(hosts));
});

test("/etc that is not a directory: one error, nothing done", async () => {
  const root = makeUserRoot("etc-sweep-");
  rmSync(join(root, "etc"), { recursive: true });
  writeFileSync(join(root, "etc"), "not a directory\n");
  const r = await setup(root, ENTRIES);
  assert.is(r.status, 1);
  assert.equal(r.messages.length, 1);
  assert.match(r.messages[0]!, /^error: cannot set up \/etc: EEXIST/);
});

test("a run while another holds the lock on /etc does nothing (and sweeps nothing)", async () => {
  const root = makeUserRoot("etc-sweep-");
  const etc = buildEtcTree(root, ENTRIES);
  const { data } = planEtcSetup(root, etc, {}, false);
  const inFlight = tempPathFor(join(root, "etc/hosts"), "link");
  symlinkSync("/etc/static/hosts", inFlight);
  // flock(2) locks conflict between open file descriptions, even within one process.
  const lock = tryLockExclusive(join(root, "etc", ETC_LOCK));
  assert.ok(lock);
  const messages: string[] = [];
  try {
    assert.is(await applyEtc(root, data, { stderr: (l) => messages.push(l) }), 1);
  } finally {
    lock!.release();
  }
  assert.equal(messages, [`error: another process is setting up /etc (it holds /etc/${ETC_LOCK}); nothing done`]);
  assert.ok(lstatSync(inFlight).isSymbolicLink(), "the other run's temporary link is not swept");
  assert.not.ok(existsSync(join(root, "etc/static")));
  assert.is(await applyEtc(root, data, { stderr: () => {} }), 0, "free again once released");
});

test("the lock is a root-only file: a lock on the /etc directory, which any user can take, holds nothing up", async () => {
  const root = makeUserRoot("etc-lock-");
  const etc = buildEtcTree(root, ENTRIES);
  const { data } = planEtcSetup(root, etc, {}, false);
  // What `flock /etc sleep infinity` by any user does: a lock on the directory's open file.
  const dirFd = openSync(join(root, "etc"), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    assert.ok(flock(dirFd, LOCK_EX | LOCK_NB));
    assert.is(await applyEtc(root, data, { stderr: (l) => assert.unreachable(l) }), 0);
  } finally {
    flock(dirFd, LOCK_UN);
    closeSync(dirFd);
  }
  const st = lstatSync(join(root, "etc", ETC_LOCK));
  assert.ok(st.isFile());
  assert.is(st.mode & 0o777, 0o600, "no one but root can open it, so no one else can hold it");
  assert.is(st.uid, process.getuid!());
});

test("a lock file that is a link, a FIFO, a directory or a device is moved aside, never followed, opened or waited on: the run goes on", async () => {
  const root = makeUserRoot("etc-lock-");
  const etc = buildEtcTree(root, ENTRIES);
  const { data } = planEtcSetup(root, etc, {}, false);
  const victim = join(root, "victim");
  writeFileSync(victim, "keep");
  const lockPath = join(root, "etc", ETC_LOCK);
  const makers: [string, () => void][] = [
    ["link", () => symlinkSync(victim, lockPath)],
    ["FIFO", () => execFileSync("mkfifo", [lockPath])],
    ["directory", () => mkdirSync(lockPath)],
    // A character device (/dev/null's numbers): opening one can act; it is never opened.
    ["device", () => execFileSync("mknod", [lockPath, "c", "1", "3"])],
  ];
  for (const [what, make] of makers) {
    rmSync(join(root, "etc"), { recursive: true, force: true });
    mkdirSync(join(root, "etc"));
    make();
    const messages: string[] = [];
    assert.is(await applyEtc(root, data, { stderr: (l) => messages.push(l) }), 0, `${what}: ${messages.join("\n")}`);
    assert.equal(messages.length, 1, what);
    assert.match(messages[0]!, new RegExp(`^warning: /etc/${ETC_LOCK.replace(".", "\\.")} was not a regular file; moved to .*\\.broken-\\d+$`));
    assert.ok(lstatSync(lockPath).isFile(), what);
    assert.is(readlinkSync(join(root, "etc/hosts")), "/etc/static/hosts", what);
    assert.is(readFileSync(victim, "utf8"), "keep");
  }
});

test("a no-op run needs no lock (it writes nothing), but one with a killed run's temporary to sweep does", async () => {
  const root = makeUserRoot("etc-sweep-");
  assert.is((await setup(root, ENTRIES)).status, 0);
  const etc = buildEtcTree(root, ENTRIES);
  const lock = tryLockExclusive(join(root, "etc", ETC_LOCK));
  assert.ok(lock);
  try {
    const before = snapshot(join(root, "etc"));
    const { data } = planEtcSetup(root, etc, {}, false);
    assert.ok(isNoop(data));
    const messages: string[] = [];
    assert.is(await applyEtc(root, data, { stderr: (l) => messages.push(l) }), 0);
    assert.equal(messages, []);
    assert.equal(snapshot(join(root, "etc")), before);
    // A leftover temporary makes its directory one to sweep: that run takes the lock (and is refused here).
    writeFileSync(tempPathFor(join(root, "etc/ssh/sshd_config")), "half", { mode: 0o600 });
    const sweep = planEtcSetup(root, etc, {}, false).data;
    assert.not.ok(isNoop(sweep));
    assert.equal(sweep.dirs, ["ssh"]);
    assert.is(await applyEtc(root, sweep, { stderr: () => {} }), 1);
  } finally {
    lock.release();
  }
});

test("directories the walk of /etc does not enter (/etc/nixos, one reached through a link) keep a rerun a no-op; a killed run's temporary there is still swept", async () => {
  const root = makeUserRoot("etc-sweep-");
  mkdirSync(join(root, "persist/ssh"), { recursive: true });
  symlinkSync("/persist/ssh", join(root, "etc/ssh"));
  const entries = { "ssh/sshd_config": { text: "p\n", mode: "0600" }, "nixos/x": { text: "x\n" }, hosts: { text: "h\n" } };
  assert.is((await setup(root, entries)).status, 0);
  const etc = buildEtcTree(root, entries);
  const again = planEtcSetup(root, etc, {}, false).data;
  assert.ok(isNoop(again), JSON.stringify(again.dirs));
  const left = [tempPathFor(join(root, "persist/ssh/sshd_config")), tempPathFor(join(root, "etc/nixos/x"), "link")];
  writeFileSync(left[0]!, "half", { mode: 0o600 });
  symlinkSync("/etc/static/nixos/x", left[1]!);
  const sweep = planEtcSetup(root, etc, {}, false).data;
  assert.equal(sweep.dirs.sort(), ["nixos", "ssh"]);
  assert.is(await applyEtc(root, sweep, { stderr: () => {} }), 0);
  for (const p of left) assert.not.ok(lstatExists(p), p);
  assert.ok(isNoop(planEtcSetup(root, etc, {}, false).data));
});

test("/etc/static that is a real directory is refused before any link is made", async () => {
  for (const make of [(p: string) => mkdirSync(p), (p: string) => writeFileSync(p, "")]) {
    const root = makeUserRoot("etc-static-");
    make(join(root, "etc/static"));
    symlinkSync("/etc/static/old", join(root, "etc/old"));
    const before = snapshot(join(root, "etc"));
    const r = await setup(root, { hosts: { text: "h\n" }, conf: { text: "c\n", mode: "0644" } });
    assert.is(r.status, 1);
    assert.match(r.messages.join("\n"), /^error: \/etc\/static is a (directory|regular file), not a symlink: not setting up \/etc$/);
    assert.equal(r.lines, [r.messages[0]], "--dry shows the same refusal, and nothing else");
    assert.equal(snapshot(join(root, "etc")), before, "nothing created, removed or changed");
  }
});

test("a failure to point /etc/static at the new tree stops the run before any link", async () => {
  const root = makeUserRoot("etc-static-");
  const first = await setup(root, { hosts: { text: "h\n" } });
  assert.is(first.status, 0);
  const etc = buildEtcTree(root, { hosts: { text: "h2\n" }, added: { text: "a\n" } });
  const { data } = planEtcSetup(root, etc, {}, false);
  // Between planning and applying, /etc/static became a non-empty directory (rename over it fails).
  // (The applier's check for another run's changes would catch this first: taken out here.)
  data.seen = undefined;
  rmSync(join(root, "etc/static"));
  mkdirSync(join(root, "etc/static/x"), { recursive: true });
  const messages: string[] = [];
  assert.is(await applyEtc(root, data, { stderr: (l) => messages.push(l) }), 1);
  assert.match(messages.join("\n"), /^error: cannot point \/etc\/static at .*; nothing else done: /);
  assert.not.ok(existsSync(join(root, "etc/added")));
  assert.equal(readdirSync(join(root, "etc")).filter((n) => n.includes(".stagehand-")), [], "its temporary link removed");
});

test("two runs whose planning overlaps: the second sees the first's changes under the lock and plans again (or, unable to, does nothing)", async () => {
  const root = makeUserRoot("etc-stale-");
  assert.is((await setup(root, { hosts: { text: "h\n" } })).status, 0);
  const B = buildEtcTree(root, { hosts: { text: "h\n" }, "only-b": { text: "b\n", mode: "0600" } });
  const A = buildEtcTree(root, { hosts: { text: "h2\n" } });
  const planB = planEtcSetup(root, B, {}, false).data;
  const planA = planEtcSetup(root, A, {}, false).data; // made from the same /etc as planB
  assert.is(await applyEtc(root, planB, { stderr: () => {} }), 0);
  assert.is(readFileSync(join(root, "etc/.clean"), "utf8"), "only-b\n");
  // Without a way to plan again: nothing done, said so.
  const messages: string[] = [];
  assert.is(await applyEtc(root, planA, { stderr: (l) => messages.push(l) }), 1);
  assert.equal(messages, ["error: another run changed /etc while this one was planned; nothing done"]);
  assert.ok(existsSync(join(root, "etc/only-b")));
  // With one: A's plan made again under the lock removes B's copy, which the stale plan did not know.
  messages.length = 0;
  assert.is(await applyEtc(root, planA, { stderr: (l) => messages.push(l) }, () => planEtcSetup(root, A, {}, false).data), 0);
  assert.equal(messages, ["removing obsolete file ‘/etc/only-b’..."]);
  assert.not.ok(existsSync(join(root, "etc/only-b")));
  assert.is(readFileSync(join(root, "etc/.clean"), "utf8"), "");
});

test("a staged copy whose temporary name is swapped for a FIFO (a user's directory of /etc) is not waited on nor published; directories are 0755 under any umask; a link gone since planning is no error", async () => {
  const root = makeUserRoot("etc-stage-");
  assert.is((await setup(root, { old: { text: "o\n" } })).status, 0);
  const { data } = planEtcSetup(root, buildEtcTree(root, { "d/x": { text: "x\n", mode: "0644" }, "d/y": { text: "y\n" } }), {}, false);
  const messages: string[] = [];
  const umask = process.umask(0o077);
  let status: number;
  try {
    unlinkSync(join(root, "etc/old")); // removed by someone else after planning
    status = await applyEtc(root, data, {
      stderr: (l) => messages.push(l),
      afterOp: (op) => {
        if (op.op !== "copy") return;
        const tmp = readdirSync(join(root, "etc/d")).find((n) => n.startsWith(".x.stagehand-"))!;
        unlinkSync(join(root, "etc/d", tmp));
        execFileSync("mkfifo", [join(root, "etc/d", tmp)]);
      },
    });
  } finally {
    process.umask(umask);
  }
  assert.is(status, 1);
  const errors = messages.filter((m) => m.startsWith("error"));
  assert.equal(errors.length, 1, messages.join("\n"));
  assert.match(errors[0]!, /^error: copy \/etc\/d\/x: .*(replaced by another file|replaced meanwhile)/);
  assert.not.ok(lstatExists(join(root, "etc/d/x")), "nothing published");
  assert.is(lstatSync(join(root, "etc/d")).mode & 0o777, 0o755, "not narrowed by the caller's umask");
  assert.is(readlinkSync(join(root, "etc/d/y")), "/etc/static/d/y");
  assert.equal(readdirSync(join(root, "etc/d")).filter((n) => n.includes(".stagehand-")), [], "the FIFO removed with the failed copy");
});

test("an admin's own file that a new copy replaces is tracked in .clean only once the copy is in place: a crash before, then a rollback, cannot remove it", async () => {
  const root = makeUserRoot("etc-clean-");
  assert.is((await setup(root, { hosts: { text: "h\n" } })).status, 0);
  writeFileSync(join(root, "etc/foo.conf"), "admin's own\n");
  const etc = buildEtcTree(root, { hosts: { text: "h\n" }, "foo.conf": { text: "declared\n", mode: "0600" }, "new.conf": { text: "n\n", mode: "0600" } });
  const { data } = planEtcSetup(root, etc, {}, false);
  const cleanWhile: string[] = [];
  const status = await applyEtc(root, data, {
    stderr: () => {},
    afterOp: (op) => { if (op.op === "copy") cleanWhile.push(readFileSync(join(root, "etc/.clean"), "utf8")); },
  });
  assert.is(status, 0);
  // Before the copies are published: the new name is tracked already, the admin's file's is not.
  assert.ok(cleanWhile.length > 0 && cleanWhile.every((c) => c === "new.conf\n"), JSON.stringify(cleanWhile));
  assert.is(readFileSync(join(root, "etc/.clean"), "utf8"), "foo.conf\nnew.conf\n");
  assert.is(readFileSync(join(root, "etc/foo.conf"), "utf8"), "declared\n");
});

test.run();
