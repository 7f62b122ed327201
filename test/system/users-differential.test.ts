/**
 * Differential test: update-users-groups.pl (Debian's perl in a chroot) and `stagehand users --root`
 * run over identical overlay copies of the cached rootfs through a sequence of specs. Outputs must be
 * identical except the documented fixes, which are asserted explicitly (and the roots re-synced).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { appendFileSync, chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { overlayRoot, type RootCopy } from "../harness/rootfs.ts";
import { sha512Crypt, verifySha512Crypt } from "../../src/users/sha512crypt.ts";
import { reference } from "../harness/shared.ts";

const ROOT = join(import.meta.dir, "../..");
const BIN = join(ROOT, "dist/stagehand");
const PERL_SCRIPT = reference("nixos/modules/config/update-users-groups.pl");
const SUBID_FILES = ["etc/subuid", "etc/subgid", "var/lib/nixos/auto-subuid-map"];
const FILES = ["etc/passwd", "etc/group", "etc/shadow", "etc/subuid", "etc/subgid", "var/lib/nixos/uid-map", "var/lib/nixos/gid-map",
  "var/lib/nixos/declarative-users", "var/lib/nixos/declarative-groups", "var/lib/nixos/auto-subuid-map"];

type Json = Record<string, unknown>;
const user = (name: string, extra: Json = {}): Json => ({
  name, uid: null, group: "users", description: "", home: "/var/empty", homeMode: "700", createHome: false, isSystemUser: false,
  shell: "/bin/sh", password: null, hashedPassword: null, hashedPasswordFile: null, initialPassword: null, initialHashedPassword: null,
  expires: null, subUidRanges: [], subGidRanges: [], autoSubUidGidRange: false, ...extra,
});
const group = (name: string, gid: number | null = null, members: string[] = []): Json => ({ name, gid, members });

const bobHash = sha512Crypt("bobpw", "$6$declaredsalt$");
const rootHash = sha512Crypt("rootpw", "$6$rootsalt$");
/** The plain password each hash in /etc/shadow must verify. */
const plain: Record<string, string> = { alice: "pw1", bob: "bobpw", svc: "svcpw", carol: "carolpw", root: "rootpw" };

const root = user("root", { uid: 0, group: "root", home: "/root", shell: "/bin/bash", description: "root" });
const alice = user("alice", { group: "alice", password: "pw1", createHome: true, home: "/home/alice", autoSubUidGidRange: true, expires: "2031-05-06", shell: "/bin/bash", description: "Alice" });
const bob = user("bob", { hashedPassword: bobHash, passwordFile: "/run/missing-bob", shell: null });
const svc = user("svc", { isSystemUser: true, group: "svc", initialPassword: "svcpw", subUidRanges: [{ startUid: 50000, count: 1000 }], subGidRanges: [{ startGid: 50000, count: 1000 }] });
const carol = user("carol", { initialPassword: "carolpw", autoSubUidGidRange: true });
const dave = user("dave", { autoSubUidGidRange: true });
const frank = user("frank", { group: "100" });
const alice2 = { ...alice, uid: 2000, description: "Alice Liddell", shell: "/bin/sh", password: "pw2" };

/** What users-groups.nix emits for immutable users: initial passwords become passwords (mkDefault). */
const asNixosImmutable = (u: Json): Json => ({
  ...u,
  password: u.password ?? (u.hashedPassword === null ? u.initialPassword : null),
  hashedPassword: u.hashedPassword ?? u.initialHashedPassword,
});

let perlRoot: RootCopy;
let oursRoot: RootCopy;
/**
 * The first system GID allocated (counting down from 999): the base system's own groups differ by
 * suite (trixie's dbus creates messagebus at 997 via sysusers, bookworm's at 101), so the GIDs
 * below are relative to it: 997 on bookworm, 996 on trixie.
 */
let G = 0;

function runPerl(specJson: Json, dry: boolean) {
  writeFileSync(join(perlRoot.dir, "spec.json"), JSON.stringify(specJson));
  const r = spawnSync("chroot", [perlRoot.dir, "perl", "-w", "/uug.pl", ...(dry ? ["--dry-activate"] : []), "/spec.json"], { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  return r.stderr.split("\n").filter((l) => l !== "" && !/^Can't exec "nscd"|^Use of uninitialized value/.test(l));
}

function runOurs(specJson: Json, dry: boolean) {
  const p = join(dirname(oursRoot.dir), "users-spec.json");
  writeFileSync(p, JSON.stringify(specJson));
  const r = spawnSync(BIN, ["users", "--root", oursRoot.dir, ...(dry ? ["--dry"] : []), p], { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  return r.stderr.split("\n").filter((l) => l !== "");
}

const read = (dir: string) => Object.fromEntries(FILES.map((f) => [f, existsSync(join(dir, f)) ? readFileSync(join(dir, f), "utf8") : null]));
const sorted = (t: string | null) => (t ?? "").split("\n").filter((l) => l !== "").sort();

function compareShadow(a: string, b: string) {
  const parse = (t: string) => new Map(sorted(t).map((l) => [l.split(":")[0]!, l.split(":")]));
  const pa = parse(a);
  const pb = parse(b);
  assert.equal([...pa.keys()].sort(), [...pb.keys()].sort(), "shadow users");
  for (const [name, fa] of pa) {
    const fb = pb.get(name)!;
    assert.equal(fa.filter((_, i) => i !== 1), fb.filter((_, i) => i !== 1), `shadow fields of ${name}`);
    if (fa[1] !== fb[1]) {
      assert.ok(fa[1]!.startsWith("$6$") && fb[1]!.startsWith("$6$"), `hash kinds of ${name}: ${fa[1]} vs ${fb[1]}`);
      assert.ok(verifySha512Crypt(plain[name]!, fa[1]!), `perl's hash of ${name} verifies`);
      assert.ok(verifySha512Crypt(plain[name]!, fb[1]!), `our hash of ${name} verifies`);
    }
  }
}

/** Compares everything; `skip` names files a documented fix makes differ (asserted by the caller). */
function compare(skip: string[] = []) {
  const a = read(perlRoot.dir);
  const b = read(oursRoot.dir);
  for (const f of FILES) {
    if (skip.includes(f)) continue;
    if (f === "etc/shadow") compareShadow(a[f]!, b[f]!);
    else if (f === "etc/subuid" || f === "etc/subgid") assert.equal(sorted(b[f]!), sorted(a[f]!), f); // Perl's order is hash order
    else if (f.endsWith("auto-subuid-map")) assert.equal(JSON.parse(b[f]!), JSON.parse(a[f]!), f); // Perl's encode_json is not canonical
    else assert.is(b[f], a[f], f);
  }
  for (const h of ["home/alice"]) {
    const sa = statSync(join(perlRoot.dir, h));
    const sb = statSync(join(oursRoot.dir, h));
    assert.equal([sb.mode, sb.uid, sb.gid], [sa.mode, sa.uid, sa.gid], h);
  }
}

/** Dry runs print the same messages (in dry wording) and change nothing; then the real runs. */
function step(specJson: Json): { perl: string[]; ours: string[] } {
  const beforeA = read(perlRoot.dir);
  const beforeB = read(oursRoot.dir);
  const dp = runPerl(specJson, true);
  const dOurs = runOurs(specJson, true);
  assert.equal(read(oursRoot.dir), beforeB, "our dry run wrote nothing");
  assert.equal(read(perlRoot.dir), beforeA, "perl's dry run wrote nothing");
  const perl = runPerl(specJson, false);
  const ours = runOurs(specJson, false);
  // Each side's dry run says the same as its real run, in the dry-activate wording.
  assert.equal(dp.map(undry).sort(), perl.slice().sort(), "perl: dry vs real messages");
  assert.equal(dOurs.map(undry).sort(), ours.slice().sort(), "ours: dry vs real messages");
  assert.ok(dOurs.every((l) => !/^(removing|reviving|warning: not applying)/.test(l)), "dry wording");
  return { perl, ours };
}

const undry = (l: string) =>
  l.replace(/^would remove /, "removing ").replace(/^would revive /, "reviving ").replace(/^warning: would not apply /, "warning: not applying ");

/** glibc's crypt() inside the rootfs (Debian's perl) accepts our hash for the password. */
function cryptVerifiesInRootfs(hash: string, password: string) {
  const r = spawnSync("chroot", [perlRoot.dir, "perl", "-e", 'print crypt($ARGV[0], $ARGV[1]) eq $ARGV[1] ? "ok" : "no"', password, hash], { encoding: "utf8" });
  assert.is(r.stdout, "ok", `crypt() in the rootfs rejects ${hash}`);
}

/** After a documented difference, continue from our state on both sides. */
function resync() {
  for (const f of FILES) {
    const src = join(oursRoot.dir, f);
    if (existsSync(src)) copyFileSync(src, join(perlRoot.dir, f));
  }
}

test.before(() => {
  perlRoot = overlayRoot("users-diff-perl-");
  oursRoot = overlayRoot("users-diff-ours-");
  copyFileSync(PERL_SCRIPT, join(perlRoot.dir, "uug.pl"));
  const used = new Set(readFileSync(join(oursRoot.dir, "etc/group"), "utf8").split("\n").map((l) => Number(l.split(":")[2])));
  for (G = 999; used.has(G); G--);
});
test.after(() => {
  perlRoot?.dispose();
  oursRoot?.dispose();
});

test("the binary is built", () => assert.ok(existsSync(BIN), "run `bun run build` first"));

const S1 = { mutableUsers: true, groups: [group("wheel", 500, ["alice"]), group("svc"), group("alice")], users: [root, alice, bob, svc] };

test("1. add users and groups (mutable)", () => {
  const { perl, ours } = step(S1);
  assert.equal(ours, perl);
  assert.equal(ours, [
    "warning: password file ‘/run/missing-bob’ does not exist",
    "warning: no declarative or previous shell for ‘bob’, setting shell to nologin",
  ]);
  compare();
  assert.match(read(oursRoot.dir)["etc/passwd"]!, new RegExp(`^alice:x:1000:${G - 1}:Alice:/home/alice:/bin/bash$`, "m"));
  const hashOf = (name: string) => read(oursRoot.dir)["etc/shadow"]!.split("\n").find((l) => l.startsWith(`${name}:`))!.split(":")[1]!;
  cryptVerifiesInRootfs(hashOf("alice"), "pw1");
  cryptVerifiesInRootfs(hashOf("svc"), "svcpw");
});

test("2. remove users and a group", () => {
  const { perl, ours } = step({ ...S1, groups: [group("wheel", 500, ["alice"]), group("alice")], users: [root, alice] });
  assert.equal(ours.sort(), perl.sort());
  assert.equal(ours.sort(), ["removing group ‘svc’", "removing user ‘bob’", "removing user ‘svc’"]);
  compare();
});

test("3. re-add: revived IDs; fixed: a new group allocated first does not steal a revived GID", () => {
  const spec = { mutableUsers: true, groups: [group("wheel", 500, ["alice"]), group("aaa"), group("svc"), group("alice")], users: [root, alice, svc, bob, carol] };
  const { perl, ours } = step(spec);
  const a = read(perlRoot.dir);
  const b = read(oursRoot.dir);
  // update-users-groups.pl marks the skipped, recorded GID G (997 on bookworm) as used while allocating aaa, so svc
  // cannot get its old GID back; we revive it.
  assert.match(a["etc/group"]!, new RegExp(`^svc:x:${G - 3}:$`, "m"));
  assert.match(b["etc/group"]!, new RegExp(`^svc:x:${G}:$`, "m"));
  assert.match(b["etc/group"]!, new RegExp(`^aaa:x:${G - 2}:$`, "m"));
  assert.ok(ours.includes(`reviving group 'svc' with GID ${G}`));
  assert.not.ok(perl.some((l) => l.startsWith("reviving group")));
  assert.equal(ours.filter((l) => !l.includes("group 'svc'")).sort(), perl.sort());
  assert.ok(ours.includes("reviving user 'svc' with UID 999") && ours.includes("reviving user 'bob' with UID 1001"));
  compare(["etc/group", "etc/passwd", "var/lib/nixos/gid-map", ...SUBID_FILES]);
  assert.is(b["etc/passwd"]!.replace(new RegExp(`^(svc:x:999:)${G}:`, "m"), `$1${G - 3}:`), a["etc/passwd"]);
  // Fixed: alice keeps her range and carol gets the next aligned block. Perl gets this right only when
  // its hash order visits alice before carol; otherwise carol's search marks 100000 used and alice moves.
  assert.equal(sorted(b["etc/subuid"]), ["alice:100000:65536", "carol:165536:65536", "svc:50000:1000"]);
  const perlSub = sorted(a["etc/subuid"]);
  assert.ok(JSON.stringify(perlSub) === JSON.stringify(sorted(b["etc/subuid"])) || !perlSub.includes("alice:100000:65536"), perlSub.join(" "));
  resync();
});

test("4. change: UID/GID changes refused, shells and descriptions changed, mutable members kept; fixed: subuid overlap, numeric group", () => {
  for (const r of [perlRoot, oursRoot]) {
    appendFileSync(join(r.dir, "etc/passwd"), "eve:x:1500:1500::/home/eve:/bin/sh\n");
    appendFileSync(join(r.dir, "etc/shadow"), "eve:$6$x$y:19000:0:99999:7:::\n");
    appendFileSync(join(r.dir, "etc/group"), "eve:x:1500:\n");
    const g = join(r.dir, "etc/group");
    writeFileSync(g, readFileSync(g, "utf8").replace(/^wheel:x:500:alice$/m, "wheel:x:500:alice,eve"));
  }
  const spec = { mutableUsers: true, groups: [group("wheel", 501, ["alice"]), group("aaa"), group("svc"), group("alice")], users: [root, alice2, svc, bob, carol, dave, frank] };
  const { perl, ours } = step(spec);
  const a = read(perlRoot.dir);
  const b = read(oursRoot.dir);
  assert.ok(ours.includes("warning: not applying UID change of user ‘alice’ (1000 -> 2000) in /etc/passwd"));
  assert.ok(ours.includes("warning: not applying GID change of group ‘wheel’ (500 -> 501) in /etc/group"));
  assert.match(b["etc/group"]!, /^wheel:x:500:alice,eve$/m);
  assert.match(b["etc/passwd"]!, new RegExp(`^alice:x:1000:${G - 1}:Alice Liddell:/home/alice:/bin/sh$`, "m"));
  // Fixed: `group = "100"` is a GID; the Perl script only recognised one digit.
  assert.match(a["etc/passwd"]!, /^frank:x:1004:65534:/m);
  assert.match(b["etc/passwd"]!, /^frank:x:1004:100:/m);
  assert.equal(perl.filter((l) => !l.includes("‘frank’")).sort(), ours.slice().sort());
  assert.ok(perl.includes("warning: user ‘frank’ has unknown group ‘100’"));
  // Fixed: automatic subuid ranges are aligned, never overlap and never move.
  assert.equal(sorted(b["etc/subuid"]), ["alice:100000:65536", "carol:165536:65536", "dave:231072:65536", "svc:50000:1000"]);
  // Whatever its hash order, the Perl script either gives dave a block overlapping carol's or moves
  // alice's or carol's block.
  const ranges = sorted(a["etc/subuid"]).map((l) => l.split(":")).filter((f) => f[2] === "65536").map((f) => [f[0]!, +f[1]!] as const);
  const overlap = ranges.some(([n, s]) => ranges.some(([m, t]) => n !== m && Math.abs(s - t) < 65536));
  const moved = !ranges.some(([n, s]) => n === "carol" && s === 165536) || !ranges.some(([n, s]) => n === "alice" && s === 100000);
  assert.ok(overlap || moved, `perl's ranges were expected to overlap or move: ${JSON.stringify(ranges)}`);
  compare(["etc/passwd", ...SUBID_FILES]);
  assert.is(b["etc/passwd"], a["etc/passwd"]!.replace(/^(frank:x:1004:)65534:/m, "$1100:"));
  resync();
});

test("5. mutableUsers off: undeclared users go, hashes set from the spec; shadow's group falls back to 0 with the shadow group gone", () => {
  const spec = { mutableUsers: false, groups: [group("root", 0), group("wheel", 500, ["alice"]), group("aaa"), group("svc"), group("alice"), group("users", 100)], users: [{ ...root, hashedPassword: rootHash }, alice2, svc, bob, carol, dave].map(asNixosImmutable) };
  plain.alice = "pw2";
  const { perl, ours } = step(spec);
  assert.equal(ours.slice().sort(), perl.slice().sort());
  assert.ok(ours.includes("removing user ‘eve’") && ours.includes("removing group ‘shadow’"));
  compare();
  assert.match(read(oursRoot.dir)["etc/shadow"]!, /^dave:!:/m);
  // The shadow group is gone: Perl chowns to root:<undef> = 0, and so do we (a GID no group has
  // any more must not keep read access to the hashes: a group made later could get it).
  assert.is(statSync(join(perlRoot.dir, "etc/shadow")).gid, 0);
  assert.is(statSync(join(oursRoot.dir, "etc/shadow")).gid, 0);
  assert.is(statSync(join(oursRoot.dir, "etc/shadow")).mode & 0o7777, 0o640);
});

test("6. mutableUsers on again, then a no-op run writes nothing", () => {
  const spec = { mutableUsers: true, groups: [group("root", 0), group("wheel", 500, ["alice"]), group("svc"), group("alice"), group("users", 100)], users: [{ ...root, hashedPassword: rootHash }, alice2, svc, bob] };
  const { perl, ours } = step(spec);
  assert.equal(ours.slice().sort(), perl.slice().sort());
  compare();
  const inode = (f: string) => statSync(join(oursRoot.dir, f)).ino;
  const before = FILES.map(inode);
  runOurs(spec, false);
  assert.equal(FILES.map(inode), before, "no file replaced");
});

test("7. a world-readable /etc/shadow is reset to 0640 on every run, as by the Perl script (ours without rewriting it)", () => {
  const spec = { mutableUsers: true, groups: [group("root", 0), group("wheel", 500, ["alice"]), group("svc"), group("alice"), group("users", 100), group("shadow", 42)], users: [{ ...root, hashedPassword: rootHash }, alice2, svc, bob] };
  step(spec);
  compare();
  const shadow = (dir: string) => join(dir, "etc/shadow");
  for (const d of [perlRoot.dir, oursRoot.dir]) chmodSync(shadow(d), 0o644);
  const ino = statSync(shadow(oursRoot.dir)).ino;
  runPerl(spec, false);
  runOurs(spec, false);
  const mode = (d: string) => { const st = statSync(shadow(d)); return [st.mode & 0o7777, st.uid, st.gid]; };
  assert.equal(mode(oursRoot.dir), mode(perlRoot.dir));
  assert.equal(mode(oursRoot.dir), [0o640, 0, 42]);
  assert.is(statSync(shadow(oursRoot.dir)).ino, ino, "same content: mode fixed in place");
});

test("8. NixOS's own forms: names with dots, capitals and leading digits, a toor sharing root's UID, two groups sharing a GID, a 5-digit homeMode, a home with a trailing slash, a day past the month's end", () => {
  const base = [group("root", 0), group("wheel", 500, ["alice"]), group("svc"), group("alice"), group("users", 100), group("shadow", 42)];
  const spec = {
    mutableUsers: true,
    groups: [...base, group("Domain.Users", null, ["john.doe", "ghost"]), group("g".repeat(40), 4242), group("h2", 4242)],
    users: [
      { ...root, hashedPassword: rootHash }, alice2, svc, bob,
      user("john.doe", { group: "Domain.Users" }), user("Alice"), user("1password"), user("toor", { uid: 0, group: "root", home: "/root" }),
      user("svc2", { isSystemUser: true, group: "svc", createHome: true, home: "/srv/svc2/", homeMode: "02770", expires: "2030-02-30" }),
    ],
  };
  const { perl, ours } = step(spec);
  assert.equal(ours.slice().sort(), perl.slice().sort());
  // Entries sharing an ID: the Perl script orders them by hash order (varies by run), stagehand by name.
  compare(["etc/group", "etc/passwd"]);
  for (const f of ["etc/group", "etc/passwd"]) assert.equal(sorted(read(oursRoot.dir)[f]!), sorted(read(perlRoot.dir)[f]!), f);
  const sa = statSync(join(perlRoot.dir, "srv/svc2"));
  const sb = statSync(join(oursRoot.dir, "srv/svc2"));
  assert.equal([sb.mode, sb.uid, sb.gid], [sa.mode, sa.uid, sa.gid], "srv/svc2");
  assert.match(read(oursRoot.dir)["etc/passwd"]!, /^toor:x:0:0:/m);
  assert.match(read(oursRoot.dir)["etc/passwd"]!, /^svc2:x:\d+:\d+::\/srv\/svc2\/:/m);
});

test.run();
