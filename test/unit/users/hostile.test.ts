/**
 * Hostile roots and inputs for `users --root DIR` (issue 13): nothing outside DIR is read or
 * written, only regular files of bounded size are read, a killed run's temporaries are swept,
 * /etc/shadow's mode is enforced, and the databases' lock is the one passwd(1) takes. Each case
 * failed on the code before.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, lchownSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run as cli } from "../../../src/cli/commands/users.ts";
import { applyUsersPlan, planUsersStep } from "../../../src/users/step.ts";
import { DatabaseLockedError, lockUserDatabases } from "../../../src/users/lock.ts";
import { IdConflictError, type HomeDir, type UsersPlanData } from "../../../src/users/plan.ts";
import { ensureHomes } from "../../../src/users/write.ts";
import { inRoot } from "../../../src/users/load.ts";
import { withResolveCache } from "../../../src/fs/root.ts";
import { tempDir } from "../tmp.ts";

/** A scratch directory holding `root/` (the --root) and `host/` (stands for the host outside it). */
function scratch() {
  const top = tempDir("users-hostile-");
  const root = join(top, "root");
  const host = join(top, "host");
  mkdirSync(join(root, "etc"), { recursive: true });
  mkdirSync(host);
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\nshadow:x:42:\nusers:x:100:\n");
  return { top, root, host };
}
const rootUser = { name: "root", uid: 0, group: "root", home: "/root", shell: "/bin/sh" };
const groups = [{ name: "root", gid: 0 }, { name: "shadow", gid: 42 }, { name: "users", gid: 100 }];
let specCount = 0;
function specFile(dir: string, users: unknown[], extra: Record<string, unknown> = {}): string {
  const p = join(dir, `spec-${++specCount}.json`);
  writeFileSync(p, JSON.stringify({ mutableUsers: true, groups, users: [rootUser, ...users], ...extra }));
  return p;
}
/** Every file and directory under `dir` with its mode, owner and content (what "unchanged" means). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const st = statSync(p, { throwIfNoEntry: false });
      out[p] = st ? `${st.mode.toString(8)}:${st.uid}:${st.gid}` : "dangling";
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out[p] += `:${readFileSync(p, "utf8")}`;
    }
  };
  walk(dir);
  return out;
}
/** Plans and applies as the CLI does, collecting stderr; returns the exit status or the error. */
async function apply(root: string, spec: string): Promise<{ status: number; lines: string[] }> {
  const lines: string[] = [];
  const plan = planUsersStep(root, spec, false);
  return { status: await applyUsersPlan(root, plan, (l) => lines.push(l), {}), lines };
}
/** The error planning throws. */
function planError(root: string, spec: string, dry = false): Error {
  try {
    planUsersStep(root, spec, dry);
  } catch (e) {
    return e as Error;
  }
  return assert.unreachable("planning was expected to fail") as never;
}
const alice = (extra: Record<string, unknown> = {}) => ({ name: "alice", group: "users", shell: "/bin/sh", ...extra });

// --- §1: confinement -----------------------------------------------------------------------------

test("home `/../../x` (createHome) is refused naming the user and field; nothing is created anywhere", async () => {
  const { top, root } = scratch();
  const before = snapshot(top);
  const spec = specFile(top, [alice({ home: "/../escaped", createHome: true })]);
  assert.match(planError(root, spec).message, /users\[1\]\.home: home of user ‘alice’ \(createHome\) has a `..` component/);
  assert.is(await cli(["--root", root, spec]), 1);
  assert.not.ok(existsSync(join(top, "escaped")));
  delete (before as Record<string, string>)[spec];
  const after = snapshot(top);
  delete after[spec];
  assert.equal(after, before);
});

test("home \"\" and \"/\" with createHome are refused: DIR itself is never chowned to a user", async () => {
  for (const home of ["", "/", "relative/home", "//", "/./"]) {
    const { top, root } = scratch();
    const mode = statSync(root).mode;
    assert.is(await cli(["--root", root, specFile(top, [alice({ home, createHome: true })])]), 1, JSON.stringify(home));
    assert.is(statSync(root).mode, mode);
    assert.is(statSync(root).uid, 0);
    assert.not.ok(existsSync(join(root, "var/lib/nixos")), "nothing written");
  }
});

test("a dangling /var/lib/nixos link (impermanence's /persist not there) is named with its target; the databases are left as they were", async () => {
  const { top, root } = scratch();
  mkdirSync(join(root, "var/lib"), { recursive: true });
  symlinkSync("/persist/var/lib/nixos", join(root, "var/lib/nixos"));
  const before = snapshot(root);
  const spec = specFile(top, [alice({ uid: 1000 })]);
  assert.is(await cli(["--root", root, spec]), 1);
  const err = await apply(root, spec).then(() => assert.unreachable("applying was expected to fail"), (e: Error) => e);
  assert.match((err as Error).message, /cannot create \/var\/lib\/nixos inside .*root \(reached as \/persist\/var\/lib\/nixos through a symlink\): \/persist\/var\/lib does not exist \(ENOENT\)$/);
  // A relative link climbing out of DIR stays inside it (as RESOLVE_IN_ROOT): nothing is made outside.
  rmSync(join(root, "var/lib/nixos"));
  symlinkSync("../../../../../persist/var/lib/nixos", join(root, "var/lib/nixos"));
  const climbed = await apply(root, spec).then(() => assert.unreachable("applying was expected to fail"), (e: Error) => e);
  assert.match((climbed as Error).message, /\(reached as \/persist\/var\/lib\/nixos through a symlink\): \/persist\/var\/lib does not exist/);
  assert.not.ok(existsSync(join(top, "persist")) || existsSync("/persist/var/lib/nixos"), "nothing made outside DIR");
  // The same names with `--root DIR/`.
  const slashed = await apply(`${root}/`, spec).then(() => assert.unreachable("applying was expected to fail"), (e: Error) => e);
  assert.match((slashed as Error).message, /\(reached as \/persist\/var\/lib\/nixos through a symlink\): \/persist\/var\/lib does not exist/);
  const after = snapshot(root);
  delete after[join(root, "etc/.pwd.lock")];
  assert.equal(after, before);
});

test("a home written `/home//alice/` (NixOS's path type takes it) is made at /home/alice; /etc/passwd keeps it as written", async () => {
  const { top, root } = scratch();
  assert.is((await apply(root, specFile(top, [alice({ home: "/home//alice/", createHome: true })]))).status, 0);
  assert.ok(statSync(join(root, "home/alice")).isDirectory());
  assert.match(readFileSync(join(root, "etc/passwd"), "utf8"), /^alice:x:\d+:\d+::\/home\/\/alice\/:/m);
});

test("a `home` that only stands in /etc/passwd (no createHome) is not checked, as before", async () => {
  const { top, root } = scratch();
  assert.is((await apply(root, specFile(top, [alice({ home: "" })]))).status, 0);
  assert.match(readFileSync(join(root, "etc/passwd"), "utf8"), /^alice:x:1000:100:::\/bin\/sh$/m);
});

test("an absolute DIR/home symlink leads inside DIR, never to the host path it names", async () => {
  const { top, root, host } = scratch();
  symlinkSync(host, join(root, "home")); // DIR/home -> /…/host (absolute)
  mkdirSync(join(root, host), { recursive: true }); // what that path means inside DIR
  const r = await apply(root, specFile(top, [alice({ home: "/home/alice", createHome: true })]));
  assert.is(r.status, 0, r.lines.join("\n"));
  assert.not.ok(existsSync(join(host, "alice")), "nothing made on the host");
  const made = statSync(join(root, host, "alice"));
  assert.ok(made.isDirectory());
  assert.is(made.uid, 1000);
});

test("an absolute DIR/home symlink whose target is missing inside DIR: a warning, exit 1, the host untouched", async () => {
  const { top, root, host } = scratch();
  symlinkSync(host, join(root, "home"));
  const r = await apply(root, specFile(top, [alice({ home: "/home/alice", createHome: true })]));
  assert.is(r.status, 1);
  assert.ok(r.lines.some((l) => /cannot create home directory ‘\/home\/alice’ of user ‘alice’/.test(l)), r.lines.join("\n"));
  assert.equal(readdirSync(host), []);
});

test("an existing home that is a symlink (absolute or relative) is left alone with a warning: no chown/chmod through it", async () => {
  for (const target of ["abs", "../../host/victim"]) {
    const { top, root, host } = scratch();
    const victim = join(host, "victim");
    mkdirSync(victim, { mode: 0o755 });
    chmodSync(victim, 0o755);
    mkdirSync(join(root, "home"));
    symlinkSync(target === "abs" ? victim : target, join(root, "home/alice"));
    const r = await apply(root, specFile(top, [alice({ home: "/home/alice", createHome: true, homeMode: "700" })]));
    assert.is(r.status, 0);
    assert.ok(r.lines.includes("warning: not changing the owner or mode of home directory ‘/home/alice’ of user ‘alice’: it is a symbolic link"), r.lines.join("\n"));
    const st = statSync(victim);
    assert.is(st.mode & 0o7777, 0o755, target);
    assert.is(st.uid, 0, target);
  }
});

test("an existing home that is an absolute symlink is only ever visited without following it (strace)", async () => {
  const { top, root, host } = scratch();
  const victim = join(host, "victim-home");
  mkdirSync(victim);
  mkdirSync(join(root, "home"));
  symlinkSync(victim, join(root, "home/alice"));
  const spec = specFile(top, [alice({ home: "/home/alice", createHome: true, homeMode: "700" })]);
  const trace = join(top, "trace.txt");
  const r = spawnSync("strace", ["-f", "-qq", "-o", trace, "-e", "trace=%file,%desc", process.execPath,
    join(import.meta.dir, "../../../src/main.ts"), "users", "--root", root, spec], { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  assert.ok(r.stderr.includes("it is a symbolic link"), r.stderr);
  // Every call on the home's path must not follow the link (the kernel would resolve its target
  // on the host, outside the root): lstat, O_NOFOLLOW opens, readlink; never access or stat.
  const home = `"${join(root, "home/alice")}"`;
  const following = readFileSync(trace, "utf8").split("\n").filter((l) => l.includes(home))
    .filter((l) => !/AT_SYMLINK_NOFOLLOW|O_NOFOLLOW|\blstat\(|\breadlink(at)?\(/.test(l));
  assert.equal(following, []);
});

test("hashedPasswordFile `/../../x` is refused naming the user and field; nothing changes", async () => {
  const { top, root, host } = scratch();
  writeFileSync(join(host, "secret"), "$6$HOST$secret\n");
  const before = snapshot(root);
  const spec = specFile(top, [alice({ hashedPasswordFile: "/../../host/secret" })]);
  assert.match(planError(root, spec).message, /users\[1\]\.hashedPasswordFile: hashedPasswordFile of user ‘alice’ has a `..` component/);
  assert.is(await cli(["--root", root, spec]), 1);
  assert.equal(snapshot(root), before);
  const old = specFile(top, [alice({ passwordFile: "relative" })]);
  assert.match(planError(root, old).message, /users\[1\]\.passwordFile: passwordFile of user ‘alice’ is not an absolute path/);
});

test("a hashedPasswordFile reached through an absolute symlink is read inside DIR, never from the host", async () => {
  const { top, root, host } = scratch();
  writeFileSync(join(host, "secret"), "$6$HOST$secret\n");
  mkdirSync(join(root, "run"));
  symlinkSync(join(host, "secret"), join(root, "run/pw"));
  const r = await apply(root, specFile(top, [alice({ hashedPasswordFile: "/run/pw" })]));
  assert.is(r.status, 0);
  assert.ok(r.lines.includes("warning: password file ‘/run/pw’ does not exist"), r.lines.join("\n"));
  assert.not.match(readFileSync(join(root, "etc/shadow"), "utf8"), /HOST/);
  // The same link with its target present inside DIR is followed there.
  mkdirSync(join(root, host), { recursive: true });
  writeFileSync(join(root, host, "secret"), "$6$INSIDE$secret\n");
  assert.is((await apply(root, specFile(top, [alice({ hashedPasswordFile: "/run/pw" })], { mutableUsers: false }))).status, 0);
  assert.match(readFileSync(join(root, "etc/shadow"), "utf8"), /^alice:\$6\$INSIDE\$secret:/m);
});

test("an absolute DIR/etc symlink: passwd and shadow are read and written inside DIR, the host's /etc untouched", async () => {
  const { top, root, host } = scratch();
  const hostEtc = join(host, "etc");
  mkdirSync(hostEtc);
  writeFileSync(join(hostEtc, "passwd"), "root:x:0:0::/root:/bin/sh\nhostonly:x:1234:100::/:/bin/sh\n");
  const hostBefore = snapshot(host);
  // DIR/etc -> /…/host/etc; inside DIR that names DIR/…/host/etc, which holds DIR's databases.
  const inside = join(root, hostEtc);
  mkdirSync(join(inside, ".."), { recursive: true });
  Bun.spawnSync(["mv", join(root, "etc"), inside]);
  symlinkSync(hostEtc, join(root, "etc"));
  const r = await apply(root, specFile(top, [alice()]));
  assert.is(r.status, 0, r.lines.join("\n"));
  assert.equal(snapshot(host), hostBefore);
  const passwd = readFileSync(join(inside, "passwd"), "utf8");
  assert.match(passwd, /^alice:/m);
  assert.not.match(passwd, /hostonly/);
  assert.ok(existsSync(join(inside, "shadow")));
  assert.ok(existsSync(join(inside, ".pwd.lock")));
});

/**
 * alice owns /home/alice/x; svc's home is /home/alice/x/svc. She swaps x for a link to
 * /var/lib/victim in the moment between stagehand resolving the parents and using them (the
 * resolution memo makes that moment last for the test). Returns the root, the plan and the warnings.
 */
function homeParentSwapped(victimHasHome: boolean) {
  const { root } = scratch();
  mkdirSync(join(root, "home/alice/x"), { recursive: true });
  mkdirSync(join(root, victimHasHome ? "var/lib/victim/svc" : "var/lib/victim"), { recursive: true, mode: 0o755 });
  const home: HomeDir = { user: "svc", path: "/home/alice/x/svc", uid: 4242, gid: 4242, mode: 0o700 };
  const plan = { next: {}, current: {}, changed: [], homes: [home], shadowGid: 42, messages: [] } as unknown as UsersPlanData;
  const warnings: string[] = [];
  const ok = withResolveCache(() => {
    inRoot(root, "/home/alice/x", true, "x"); // resolved: a plain directory
    renameSync(join(root, "home/alice/x"), join(root, "home/alice/x.old"));
    symlinkSync("../../var/lib/victim", join(root, "home/alice/x"));
    return ensureHomes(root, plan, (l) => warnings.push(l));
  });
  assert.not.ok(ok);
  assert.equal(warnings, ["warning: not changing the owner or mode of home directory ‘/home/alice/x/svc’ of user ‘svc’: a directory above it was replaced while it was set up"]);
  return { root, plan };
}

test("a parent of a home swapped for a link between its resolution and the home's open: nothing is chowned where the link leads", async () => {
  const { root, plan } = homeParentSwapped(true);
  const victim = statSync(join(root, "var/lib/victim/svc"));
  assert.is(victim.uid, 0, "not chowned");
  assert.is(victim.mode & 0o777, 0o755, "not chmodded");
  // Without the swap, the same home is made and owned as declared.
  rmSync(join(root, "home/alice/x"));
  renameSync(join(root, "home/alice/x.old"), join(root, "home/alice/x"));
  assert.ok(ensureHomes(root, plan, (l) => assert.unreachable(l)));
  const made = statSync(join(root, "home/alice/x/svc"));
  assert.equal([made.uid, made.gid, made.mode & 0o777], [4242, 4242, 0o700]);
});

test("a parent of a missing home swapped for a link after its resolution: no directory appears where the link leads", async () => {
  // The mkdir itself must not follow the swapped parent (it would leave root's directory there).
  const { root } = homeParentSwapped(false);
  assert.equal(readdirSync(join(root, "var/lib/victim")), [], "nothing made there");
  assert.equal(readdirSync(join(root, "home/alice/x.old")), [], "nor in the old place");
});

test("a link a user put among a home's parents is not followed: root makes and chowns nothing where it leads; a link in root's own directories is", async () => {
  const { top, root } = scratch();
  mkdirSync(join(root, "home/alice"), { recursive: true });
  chownSync(join(root, "home/alice"), 1000, 100);
  mkdirSync(join(root, "etc/victim"), { mode: 0o700 });
  symlinkSync("/etc/victim", join(root, "home/alice/x"));
  lchownSync(join(root, "home/alice/x"), 1000, 100);
  // And a link in a root-owned directory (an admin's /srv -> /data/srv): followed as before.
  mkdirSync(join(root, "data/srv"), { recursive: true });
  symlinkSync("/data/srv", join(root, "srv"));
  const r = await apply(root, specFile(top, [
    { name: "svc", group: "users", shell: "/bin/sh", home: "/home/alice/x/svc", createHome: true, isSystemUser: true },
    { name: "web", group: "users", shell: "/bin/sh", home: "/srv/web", createHome: true, isSystemUser: true },
  ]));
  assert.is(r.status, 1, r.lines.join("\n"));
  assert.ok(r.lines.includes("warning: cannot create home directory ‘/home/alice/x/svc’ of user ‘svc’: /home/alice/x is a symbolic link in a directory of user 1000; not followed"), r.lines.join("\n"));
  assert.equal(readdirSync(join(root, "etc/victim")), []);
  assert.ok(statSync(join(root, "data/srv/web")).isDirectory());
  assert.match(readFileSync(join(root, "etc/passwd"), "utf8"), /^svc:/m, "the user itself is still made");
});

test("a home directly below the root's / (NixOS's /root, createHome) is made and owned under --root, not taken for a replaced parent", async () => {
  // DIR's `/` resolves to `DIR/`, which the kernel names `DIR`: the check of the parent failed,
  // every run warned "a directory above it was replaced" and exited 1 (found by graph/dry-exact).
  const { root } = scratch();
  const spec = specFile(root, [], { users: [{ ...rootUser, createHome: true, homeMode: "700" }, { name: "svc", uid: 1500, group: "users", home: "/svc", createHome: true, homeMode: "750", shell: "/bin/sh" }] });
  for (let i = 0; i < 2; i++) {
    const { status, lines } = await apply(root, spec);
    assert.equal([status, lines], [0, []]);
  }
  const st = statSync(join(root, "root"));
  assert.equal([st.isDirectory(), st.uid, st.mode & 0o777], [true, 0, 0o700]);
  const svc = statSync(join(root, "svc"));
  assert.equal([svc.uid, svc.gid, svc.mode & 0o777], [1500, 100, 0o750]);
});

test("homes below missing parents are made by descriptor, parents and all, inside the root; a second run changes nothing", async () => {
  const { root } = scratch();
  const homes: HomeDir[] = [
    { user: "a", path: "/srv/one/a", uid: 1001, gid: 100, mode: 0o700 },
    { user: "b", path: "/srv/one/b", uid: 1002, gid: 100, mode: 0o750 },
    { user: "c", path: "/var/lib/c/deep/c", uid: 1003, gid: 100, mode: 0o711 },
  ];
  const plan = { next: {}, current: {}, changed: [], homes, shadowGid: 42, messages: [] } as unknown as UsersPlanData;
  assert.ok(ensureHomes(root, plan, (l) => assert.unreachable(l)));
  for (const h of homes) {
    const st = statSync(join(root, h.path));
    assert.equal([st.isDirectory(), st.uid, st.gid, st.mode & 0o777], [true, h.uid, h.gid, h.mode], h.path);
  }
  assert.is(statSync(join(root, "srv/one")).mode & 0o777, 0o755);
  const before = snapshot(root);
  assert.ok(ensureHomes(root, plan, (l) => assert.unreachable(l)));
  assert.equal(snapshot(root), before);
});

test("mutableUsers=false removes every account glibc reads, also with an ID field of `+0`, ` 0` or `00000000000`", async () => {
  // glibc reads such fields with strtoul: these are root's UID to every program. Kept as
  // "not records", they would survive as backdoors; update-users-groups.pl removed them.
  const { top, root } = scratch();
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\neve:$6$s$h:+0:0::/root:/bin/sh\nmal:x: 0:0::/:/bin/sh\nzed:x:00000000000:0::/:/bin/sh\n+::::::\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\nshadow:x:42:\nusers:x:100:\nwheelish:x:+0:eve\n");
  const r = await apply(root, specFile(top, [], { mutableUsers: false }));
  assert.is(r.status, 0, r.lines.join("\n"));
  for (const n of ["eve", "mal", "zed"]) assert.ok(r.lines.includes(`removing user ‘${n}’`), r.lines.join("\n"));
  assert.ok(r.lines.includes("removing group ‘wheelish’"));
  assert.is(readFileSync(join(root, "etc/passwd"), "utf8"), "root:x:0:0::/root:/bin/sh\n+::::::\n", "NIS compat lines stay");
});

test("an ID map of ours that is corrupt, or remembers IDs outside uid_t, is reported and repaired: never every later run failing, nor a hang", async () => {
  const cases: [string, string, RegExp][] = [
    ["uid-map", "{\"alice\":1000", /^warning: \/var\/lib\/nixos\/uid-map: invalid JSON: .*; the IDs it remembers are forgotten and it is written anew$/],
    ["gid-map", "\0".repeat(16), /^warning: \/var\/lib\/nixos\/gid-map: invalid JSON: /],
    ["uid-map", "{\"alice\":-1}", /^warning: \/var\/lib\/nixos\/uid-map: "alice": not an ID from 0 to 4294967294; forgotten$/],
    ["gid-map", "{\"users\":4294967296}", /^warning: \/var\/lib\/nixos\/gid-map: "users": not an ID/],
    ["auto-subuid-map", "{\"alice\":1e300}\n", /^warning: \/var\/lib\/nixos\/auto-subuid-map: "alice": not an ID/],
  ];
  for (const [file, text, warning] of cases) {
    const { top, root } = scratch();
    mkdirSync(join(root, "var/lib/nixos"), { recursive: true });
    writeFileSync(join(root, "var/lib/nixos", file), text);
    const spec = specFile(top, [alice({ autoSubUidGidRange: true })]);
    const r = await apply(root, spec);
    assert.is(r.status, 0, `${file} ${JSON.stringify(text)}: ${r.lines.join("\n")}`);
    assert.ok(r.lines.some((l) => warning.test(l)), r.lines.join("\n"));
    assert.match(readFileSync(join(root, "etc/passwd"), "utf8"), /^alice:x:1000:/m);
    JSON.parse(readFileSync(join(root, "var/lib/nixos", file), "utf8")); // written anew, valid
    if (warning.source.includes("invalid JSON")) {
      // No map at all: its bytes are kept beside it.
      const aside = readdirSync(join(root, "var/lib/nixos")).filter((n) => n.startsWith(`${file}.broken-`));
      assert.is(aside.length, 1, file);
      assert.is(readFileSync(join(root, "var/lib/nixos", aside[0]!), "utf8"), text);
    }
    const again = await apply(root, spec);
    assert.equal([again.status, again.lines], [0, []], "the next run is quiet");
  }
});

// --- §2: only regular files of bounded size --------------------------------------------------------

test("a FIFO as hashedPasswordFile is not read and does not block, also with --dry; that user's password is left, everyone else applied", async () => {
  // Never wedged: one user's password file (perhaps writable by that user) must not stop every
  // user and group from being updated at every boot.
  const { top, root } = scratch();
  mkdirSync(join(root, "run"));
  assert.is(spawnSync("mkfifo", [join(root, "run/pw")]).status, 0);
  const spec = specFile(top, [alice({ hashedPasswordFile: "/run/pw" }), { name: "bob", group: "users", shell: "/bin/sh" }]);
  assert.is(await cli(["--root", root, "--dry", spec]), 0);
  const r = await apply(root, spec);
  assert.is(r.status, 0, r.lines.join("\n"));
  assert.ok(r.lines.includes("warning: password file ‘/run/pw’ of user ‘alice’ is a FIFO, not a regular file; ignored"), r.lines.join("\n"));
  const passwd = readFileSync(join(root, "etc/passwd"), "utf8");
  assert.match(passwd, /^alice:/m);
  assert.match(passwd, /^bob:/m);
  assert.match(readFileSync(join(root, "etc/shadow"), "utf8"), /^alice:!:/m, "no password taken from it");
});

test("mutableUsers=false: a password file that turns into a FIFO (or holds a ':') leaves the current hash, not `!`", async () => {
  const { top, root } = scratch();
  mkdirSync(join(root, "run"));
  writeFileSync(join(root, "run/pw"), "$6$good$hash\n");
  const spec = specFile(top, [alice({ hashedPasswordFile: "/run/pw" })], { mutableUsers: false });
  assert.is((await apply(root, spec)).status, 0);
  assert.match(readFileSync(join(root, "etc/shadow"), "utf8"), /^alice:\$6\$good\$hash:/m);
  rmSync(join(root, "run/pw"));
  assert.is(spawnSync("mkfifo", [join(root, "run/pw")]).status, 0);
  const r = await apply(root, spec);
  assert.is(r.status, 0, r.lines.join("\n"));
  assert.ok(r.lines.some((l) => /is a FIFO, not a regular file; ignored$/.test(l)), r.lines.join("\n"));
  assert.match(readFileSync(join(root, "etc/shadow"), "utf8"), /^alice:\$6\$good\$hash:/m, "left as it is");
  rmSync(join(root, "run/pw"));
  writeFileSync(join(root, "run/pw"), "bad:hash\n");
  assert.is((await apply(root, spec)).status, 0);
  assert.match(readFileSync(join(root, "etc/shadow"), "utf8"), /^alice:\$6\$good\$hash:/m, "left as it is");
});

test("a character device (/dev/zero inside DIR), a directory or an oversized file as hashedPasswordFile is not read, with a warning naming user and why", async () => {
  const { top, root } = scratch();
  mkdirSync(join(root, "dev"));
  assert.is(spawnSync("mknod", [join(root, "dev/zero"), "c", "1", "5"]).status, 0);
  mkdirSync(join(root, "run/dir"), { recursive: true });
  // Too large for one hash: not read, its content never quoted.
  writeFileSync(join(root, "run/big"), "SECRETCONTENT".repeat(2000));
  const r = await apply(root, specFile(top, [
    alice({ hashedPasswordFile: "/dev/zero" }),
    { name: "carol", group: "users", shell: "/bin/sh", hashedPasswordFile: "/run/dir" },
    { name: "dave", group: "users", shell: "/bin/sh", hashedPasswordFile: "/run/big" },
  ]));
  assert.is(r.status, 0, r.lines.join("\n"));
  const out = r.lines.join("\n");
  assert.ok(r.lines.includes("warning: password file ‘/dev/zero’ of user ‘alice’ is a character device, not a regular file; ignored"), out);
  assert.ok(r.lines.includes("warning: password file ‘/run/dir’ of user ‘carol’ is a directory, not a regular file; ignored"), out);
  assert.ok(r.lines.includes("warning: password file ‘/run/big’ of user ‘dave’ is 26000 bytes, more than the 16384 accepted; ignored"), out);
  assert.not.match(out, /SECRET/);
  assert.match(readFileSync(join(root, "etc/passwd"), "utf8"), /^dave:/m);
});

test("the users spec must be a regular file of bounded size: a FIFO does not block, a huge file is not read", async () => {
  const { top, root } = scratch();
  const fifo = join(top, "spec.fifo");
  assert.is(spawnSync("mkfifo", [fifo]).status, 0);
  assert.match(planError(root, fifo, true).message, /^the users spec: .*spec\.fifo: is a FIFO, not a regular file$/);
  const huge = join(top, "huge.json");
  writeFileSync(huge, "");
  truncateSync(huge, 65 << 20);
  assert.match(planError(root, huge, true).message, /^the users spec: .*huge\.json: is \d+ bytes, more than the \d+ accepted$/);
});

test("a database that is a FIFO, or a link to a device, is refused naming it; nothing written", async () => {
  const { top, root } = scratch();
  assert.is(spawnSync("mkfifo", [join(root, "etc/shadow")]).status, 0);
  assert.match(planError(root, specFile(top, [alice()]), true).message, /^\/etc\/shadow: .*\/etc\/shadow: is a FIFO, not a regular file$/);
  const s2 = scratch();
  mkdirSync(join(s2.root, "dev"));
  assert.is(spawnSync("mknod", [join(s2.root, "dev/zero"), "c", "1", "5"]).status, 0);
  mkdirSync(join(s2.root, "var/lib/nixos"), { recursive: true });
  symlinkSync("/dev/zero", join(s2.root, "var/lib/nixos/uid-map"));
  assert.match(planError(s2.root, specFile(s2.top, [alice()])).message, /^\/var\/lib\/nixos\/uid-map: .*: is a character device, not a regular file$/);
  assert.is(await cli(["--root", s2.root, specFile(s2.top, [alice()])]), 1);
  assert.not.ok(existsSync(join(s2.root, "etc/shadow")));
});

// --- §3: temporaries, shadow's mode, the lock ------------------------------------------------------

test("a run sweeps the temporaries a killed run left beside the users files, and only those", async () => {
  const { top, root } = scratch();
  mkdirSync(join(root, "var/lib/nixos"), { recursive: true });
  const ours = [
    "etc/.shadow.stagehand-0123456789ab1", "etc/.passwd.stagehand-0123456789abz", "var/lib/nixos/.uid-map.stagehand-0123456789ab2",
  ];
  const others = ["etc/.hosts.stagehand-0123456789ab3", "etc/.shadow.bak", "var/lib/nixos/.shadow.stagehand-x"];
  for (const f of [...ours, ...others]) writeFileSync(join(root, f), "$6$leftover$hash\n", { mode: 0o644 });
  // A no-op run sweeps too.
  const spec = specFile(top, [alice()]);
  assert.is((await apply(root, spec)).status, 0);
  for (const f of ours) writeFileSync(join(root, f), "$6$leftover$hash\n");
  assert.is((await apply(root, spec)).status, 0);
  for (const f of ours) assert.not.ok(existsSync(join(root, f)), f);
  for (const f of others) assert.ok(existsSync(join(root, f)), f);
});

test("an existing world-readable /etc/shadow is made 0640 root:shadow on every run, also when its content stays", async () => {
  const { top, root } = scratch();
  const spec = specFile(top, [alice()]);
  assert.is((await apply(root, spec)).status, 0);
  const shadow = join(root, "etc/shadow");
  const content = readFileSync(shadow, "utf8");
  chmodSync(shadow, 0o644);
  spawnSync("chown", ["0:0", shadow]);
  assert.is((await apply(root, spec)).status, 0);
  assert.is(readFileSync(shadow, "utf8"), content);
  const st = statSync(shadow);
  assert.is(st.mode & 0o7777, 0o640);
  assert.is(st.gid, 42);
  // Rewritten content gets the same, not the old file's mode.
  chmodSync(shadow, 0o666);
  assert.is((await apply(root, specFile(top, [alice({ hashedPassword: "$6$new$hash" })]))).status, 0);
  assert.is(statSync(shadow).mode & 0o7777, 0o640);
});

test("a `shadow` group whose GID field reads as 4294967295 ((gid_t)-1, chown's \"leave it\") gives /etc/shadow group 0, not the group it had", async () => {
  const { top, root } = scratch();
  // glibc reads `-1` (and any number above 4294967295) as 4294967295; chown(2) takes that as "unchanged".
  writeFileSync(join(root, "etc/group"), "root:x:0:\nshadow:x:-1:\nusers:x:100:\n");
  const spec = specFile(top, [alice()], { groups: [{ name: "root", gid: 0 }, { name: "users", gid: 100 }] });
  assert.is((await apply(root, spec)).status, 0);
  const shadow = join(root, "etc/shadow");
  // The hashes readable by group `users`: the next run, with nothing to write, must take that back.
  chownSync(shadow, 0, 100);
  assert.equal(planUsersStep(root, spec, false).data.changed, []);
  assert.is((await apply(root, spec)).status, 0);
  assert.is(statSync(shadow).gid, 0);
  assert.is(statSync(shadow).mode & 0o7777, 0o640);
});

test("an account whose ID field reads as 4294967295 is kept as Perl kept it, but never written to an ID map: no run after warns", async () => {
  const { top, root } = scratch();
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\nbob:x:-1:100::/home/bob:/bin/sh\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\nshadow:x:42:\nusers:x:100:\nbobs:x:4294967296:\n");
  const bob = { name: "bob", uid: null, group: "users", home: "/home/bob", shell: "/bin/sh", description: "" };
  const spec = specFile(top, [bob], { groups: [...groups, { name: "bobs", gid: null, members: [] }] });
  const first = await apply(root, spec);
  assert.is(first.status, 0);
  assert.match(readFileSync(join(root, "etc/passwd"), "utf8"), /^bob:x:4294967295:100:/m);
  assert.not.match(readFileSync(join(root, "var/lib/nixos/uid-map"), "utf8"), /bob/);
  assert.not.match(readFileSync(join(root, "var/lib/nixos/gid-map"), "utf8"), /bobs/);
  for (let i = 0; i < 2; i++) {
    const again = await apply(root, spec);
    assert.equal(again.lines, []);
    assert.equal(planUsersStep(root, spec, false).data.changed, []);
  }
});

test("the databases' lock is /etc/.pwd.lock as lckpwdf takes it: a holder (passwd, useradd) makes us wait, then fail", async () => {
  const { root } = scratch();
  // A POSIX record lock, as glibc's lckpwdf takes it, held by another process.
  const holder = spawn("python3", ["-c", `import fcntl,os,sys,time
fd=os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT, 0o600)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()`, join(root, "etc/.pwd.lock")], { stdio: ["pipe", "pipe", "inherit"] });
  await new Promise<void>((resolve) => holder.stdout!.once("data", () => resolve()));
  try {
    assert.throws(() => lockUserDatabases(root, 100), (e: Error) => e instanceof DatabaseLockedError && /\.pwd\.lock .* is held by another program/.test(e.message));
  } finally {
    holder.stdin!.end();
    await new Promise((resolve) => holder.on("exit", resolve));
  }
  const lock = lockUserDatabases(root, 100);
  lock.release();
  assert.is(statSync(join(root, "etc/.pwd.lock")).mode & 0o777, 0o600);
});

test("a FIFO, a directory or a link at /etc/.pwd.lock is moved aside, never opened or followed: no hang, the run goes on", async () => {
  for (const what of ["FIFO", "directory", "link"]) {
    const { top, root } = scratch();
    const lockPath = join(root, "etc/.pwd.lock");
    const victim = join(root, "victim");
    writeFileSync(victim, "keep");
    if (what === "FIFO") assert.is(spawnSync("mkfifo", [lockPath]).status, 0);
    else if (what === "directory") mkdirSync(lockPath);
    else symlinkSync(victim, lockPath);
    const r = await apply(root, specFile(top, [alice()]));
    assert.is(r.status, 0, `${what}: ${r.lines.join("\n")}`);
    assert.ok(r.lines.some((l) => /^warning: \/etc\/\.pwd\.lock was not a regular file; moved to .*\.pwd\.lock\.broken-\d+$/.test(l)), r.lines.join("\n"));
    assert.match(readFileSync(join(root, "etc/passwd"), "utf8"), /^alice:/m);
    assert.ok(statSync(lockPath).isFile());
    assert.is(readFileSync(victim, "utf8"), "keep");
  }
});

// --- §5 ------------------------------------------------------------------------------------------

test("NIS compat lines, comments and odd fields of passwd/group (and shadow) are kept verbatim, in place", async () => {
  const { top, root } = scratch();
  writeFileSync(join(root, "etc/passwd"), "# local users\nroot:x:0:0::/root:/bin/sh\nodd:x:12abc:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n+::::::\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\nshadow:x:42:\nusers:x:100:\n# a comment\n+:::\n");
  assert.is((await apply(root, specFile(top, [alice()]))).status, 0);
  assert.is(readFileSync(join(root, "etc/passwd"), "utf8"),
    "# local users\nroot:x:0:0::/root:/bin/sh\nodd:x:12abc:0::/:/bin/sh\nalice:x:1000:100::/var/empty:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n+::::::\n");
  assert.is(readFileSync(join(root, "etc/group"), "utf8"), "root:x:0:\nshadow:x:42:\nusers:x:100:\n# a comment\n+:::\n");
  // /etc/shadow's NIS and comment lines too (the Perl script dropped them with the users it removed).
  writeFileSync(join(root, "etc/shadow"), "# hashes\nroot:!:1::::::\n+::::::::\n");
  assert.is((await apply(root, specFile(top, [alice()]))).status, 0);
  assert.is(readFileSync(join(root, "etc/shadow"), "utf8"), "# hashes\nroot:!:1::::::\n+::::::::\nalice:!:1::::::\nnobody:!:1::::::\n");
});

test("bytes that are no UTF-8 (a Latin-1 comment, an imperative user's GECOS) are written back as they were, not as U+FFFD", async () => {
  const { top, root } = scratch();
  const latin1 = (s: string) => Buffer.from(s, "latin1");
  writeFileSync(join(root, "etc/passwd"), latin1("# Gr\u00fc\u00dfe\nroot:x:0:0::/root:/bin/sh\njose:x:1200:100:Jos\u00e9:/home/jose:/bin/sh\n"));
  writeFileSync(join(root, "etc/shadow"), latin1("# caf\u00e9\nroot:!:1::::::\njose:$6$s\u00ff$h:1::::::\n"));
  assert.is((await apply(root, specFile(top, [alice()]))).status, 0);
  assert.equal(readFileSync(join(root, "etc/passwd")), latin1("# Gr\u00fc\u00dfe\nroot:x:0:0::/root:/bin/sh\nalice:x:1000:100::/var/empty:/bin/sh\njose:x:1200:100:Jos\u00e9:/home/jose:/bin/sh\n"));
  assert.equal(readFileSync(join(root, "etc/shadow")), latin1("# caf\u00e9\nroot:!:1::::::\njose:$6$s\u00ff$h:1::::::\nalice:!:1::::::\n"));
  // And a rerun plans nothing: what was written reads back as the same text.
  assert.equal(planUsersStep(root, specFile(top, [alice()]), false).data.changed, []);
});

test("a declared UID or GID that an imperative user or group already has is refused while planning", async () => {
  const { top, root } = scratch();
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\ncarol:x:1500:100::/home/carol:/bin/sh\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\nshadow:x:42:\nusers:x:100:\nlocal:x:600:\n");
  const before = snapshot(root);
  const e = planError(root, specFile(top, [alice({ uid: 1500 })]));
  assert.instance(e, IdConflictError);
  assert.is(e.message, "user ‘alice’ is declared with UID 1500, which user ‘carol’ (already in /etc/passwd, not declared) has: two users with one UID would share every file; nothing changed");
  const g = planError(root, specFile(top, [], { groups: [...groups, { name: "team", gid: 600 }] }));
  assert.match(g.message, /^group ‘team’ is declared with GID 600, which group ‘local’ \(already in \/etc\/group, not declared\) has/);
  assert.equal(snapshot(root), before);
});

test.run();
