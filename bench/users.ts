/**
 * users and groups: `stagehand users` against NixOS's update-users-groups.pl on 500 users and 300
 * groups (system and normal users, group memberships, created homes, hashed passwords, sub-ID ranges):
 * first run on a Debian root and a no-op rerun; and userborn when it has been built on the machine.
 * Each tool runs in a chroot on its own overlay copy of the cached rootfs.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sha512Crypt } from "../src/users/sha512crypt.ts";
import { compare, comparisonRoots, comparisonTable, must, saveState, type ComparisonRow } from "./chroot.ts";
import { reference } from "../test/harness/shared.ts";

const PERL_SCRIPT = reference("nixos/modules/config/update-users-groups.pl");

/** The users-groups.json users-groups.nix would write for N users and G groups. */
export function usersSpec(nUsers: number, nGroups: number): { mutableUsers: boolean; users: object[]; groups: object[] } {
  const hash = sha512Crypt("benchpw", "$6$benchsalt$");
  const groups = Array.from({ length: nGroups }, (_, g) => ({
    name: `grp${g}`, gid: g % 3 === 0 ? 20000 + g : null,
    members: Array.from({ length: g % 5 }, (_, k) => `user${(g * 7 + k * 13) % nUsers}`),
  }));
  const users = Array.from({ length: nUsers }, (_, i) => {
    const system = i % 4 === 0;
    return {
      name: `user${i}`, uid: i % 10 === 1 ? 40000 + i : null, group: system ? `grp${i % nGroups}` : "users",
      description: `Bench user ${i}`, home: system ? "/var/empty" : `/home/user${i}`, homeMode: "700",
      createHome: !system && i % 5 === 1, isSystemUser: system, shell: system ? "/usr/sbin/nologin" : "/bin/bash",
      password: null, hashedPassword: system ? null : hash, hashedPasswordFile: null, initialPassword: null, initialHashedPassword: null,
      expires: null, subUidRanges: [], subGidRanges: [], autoSubUidGidRange: !system && i % 2 === 0,
    };
  });
  return { mutableUsers: true, users, groups };
}

/**
 * userborn (nikstur/userborn, Rust; NixOS's `services.userborn`), when built on this machine: its path
 * from STAGEHAND_USERBORN, else where bench/README.md's recipe leaves it. Not part of the repository.
 */
export function userbornBinary(): string | undefined {
  const p = process.env.STAGEHAND_USERBORN ?? "/var/tmp/userborn/target/release/userborn";
  return existsSync(p) ? p : undefined;
}

/**
 * The same users and groups as userborn's config (its schema of commit 2079143: camelCase users with
 * isNormalUser, groups with is_normal_group). userborn has no created homes or sub-ID ranges in that
 * version: those parts of the spec have no counterpart, so userborn does less work than the other two.
 */
export function userbornConfig(spec: ReturnType<typeof usersSpec>): object {
  const s = spec as { users: Record<string, unknown>[]; groups: Record<string, unknown>[] };
  return {
    users: s.users.map((u) => ({
      name: u.name, uid: u.uid ?? undefined, group: u.group, description: u.description, home: u.home, shell: u.shell,
      isNormalUser: !u.isSystemUser, hashedPassword: u.hashedPassword ?? undefined,
    })),
    groups: s.groups.map((g) => ({ name: g.name, gid: g.gid ?? undefined, members: g.members, is_normal_group: false })),
  };
}

const STATE = ["etc/passwd", "etc/group", "etc/shadow", "etc/subuid", "etc/subgid", "var/lib/nixos", "home"];

/** Runs the users comparison; returns its Markdown section. */
export function benchUsers(nUsers = 500, nGroups = 300, runs = 10): string[] {
  const userborn = userbornBinary();
  // userborn is built against Debian trixie's glibc: with it, all three roots are trixie's.
  const roots = comparisonRoots("bench-users", PERL_SCRIPT, "uug.pl", "disk", userborn, userborn ? "trixie" : "bookworm");
  try {
    const specObj = usersSpec(nUsers, nGroups);
    const spec = JSON.stringify(specObj);
    const all = [roots.perl, roots.ours, ...(roots.third ? [roots.third] : [])];
    for (const r of all) {
      writeFileSync(join(r.dir, "spec.json"), spec);
      // Files the first run may create must exist to be saved and restored (empty, as on a fresh system).
      must(["sh", "-c", `cd ${r.dir} && touch etc/subuid etc/subgid && mkdir -p var/lib/nixos home`]);
    }
    if (roots.third) writeFileSync(join(roots.third.dir, "userborn.json"), JSON.stringify(userbornConfig(specObj)));
    const perl = ["chroot", roots.perl.dir, "perl", "/uug.pl", "/spec.json"];
    const ours = ["chroot", roots.ours.dir, "/stagehand", "users", "/spec.json"];
    const ub = roots.third ? ["chroot", roots.third.dir, "/third", "/userborn.json", "/etc"] : undefined;
    const rows: ComparisonRow[] = [];
    const freshPerl = saveState(roots.perl.dir, STATE, ".bench-fresh");
    const freshOurs = saveState(roots.ours.dir, STATE, ".bench-fresh");
    const freshUb = roots.third ? saveState(roots.third.dir, STATE, ".bench-fresh") : undefined;
    rows.push(compare(`first run, ${nUsers} users, ${nGroups} groups`, perl, ours, { prepPerl: freshPerl, prepOurs: freshOurs, runs, others: ub ? [{ argv: ub, prep: freshUb }] : [] }));
    must(["sh", "-c", freshPerl]); must(perl);
    must(["sh", "-c", freshOurs]); must(ours);
    if (ub) { must(["sh", "-c", freshUb!]); must(ub); }
    rows.push(compare("no-op rerun", perl, ours, { runs, others: ub ? [{ argv: ub }] : [] }));
    const intro = `${nUsers} users (a quarter system users; hashed passwords; ${Math.floor(nUsers / 10)} fixed UIDs; every fifth normal user ` +
      `with a created home; half the normal users with automatic sub-ID ranges) and ${nGroups} groups (a third with fixed GIDs, ` +
      "0-4 members). Same method as setup-etc (chroot, overlay copies, hyperfine, state restored before each first run)." +
      (ub ? " **userborn** (nikstur/userborn at commit 2079143, Rust, built here from Debian's packaged crates as " +
        "bench/README.md describes; NixOS's `services.userborn`) gets the same users and groups in its own config format; " +
        "that version creates no homes, allocates no sub-ID ranges, keeps no ID maps in /var/lib/nixos and syncs nothing, " +
        "so it does less than the other two. With userborn all three roots are Debian trixie's (it needs glibc 2.39)." : "");
    return comparisonTable("## users and groups: `stagehand users` vs update-users-groups.pl" + (ub ? " and userborn" : ""),
      intro, "update-users-groups.pl", rows, ub ? [{ name: "userborn", kind: "peer" }] : []);
  } finally {
    roots.dispose();
  }
}

if (import.meta.main) console.log(benchUsers(Number(process.argv[2] ?? 500), Number(process.argv[3] ?? 300), Number(process.argv[4] ?? 10)).join("\n"));
