/**
 * users and groups: `stagehand users` against NixOS's update-users-groups.pl on 500 users and 300
 * groups (system and normal users, group memberships, created homes, hashed passwords, sub-ID ranges):
 * first run on a Debian root and a no-op rerun. Each tool runs in a chroot on its own overlay copy of
 * the cached rootfs.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { sha512Crypt } from "../src/users/sha512crypt.ts";
import { compare, comparisonRoots, comparisonTable, must, saveState, type ComparisonRow } from "./chroot.ts";

const PERL_SCRIPT = "/work/shared/reference/nixos/modules/config/update-users-groups.pl";

/** The users-groups.json users-groups.nix would write for N users and G groups. */
export function usersSpec(nUsers: number, nGroups: number): object {
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

const STATE = ["etc/passwd", "etc/group", "etc/shadow", "etc/subuid", "etc/subgid", "var/lib/nixos", "home"];

/** Runs the users comparison; returns its Markdown section. */
export function benchUsers(nUsers = 500, nGroups = 300, runs = 10): string[] {
  const roots = comparisonRoots("bench-users", PERL_SCRIPT, "uug.pl");
  try {
    const spec = JSON.stringify(usersSpec(nUsers, nGroups));
    for (const r of [roots.perl, roots.ours]) {
      writeFileSync(join(r.dir, "spec.json"), spec);
      // Files the first run may create must exist to be saved and restored (empty, as on a fresh system).
      must(["sh", "-c", `cd ${r.dir} && touch etc/subuid etc/subgid && mkdir -p var/lib/nixos home`]);
    }
    const perl = ["chroot", roots.perl.dir, "perl", "/uug.pl", "/spec.json"];
    const ours = ["chroot", roots.ours.dir, "/stagehand", "users", "/spec.json"];
    const rows: ComparisonRow[] = [];
    const freshPerl = saveState(roots.perl.dir, STATE, ".bench-fresh");
    const freshOurs = saveState(roots.ours.dir, STATE, ".bench-fresh");
    rows.push(compare(`first run, ${nUsers} users, ${nGroups} groups`, perl, ours, { prepPerl: freshPerl, prepOurs: freshOurs, runs }));
    must(["sh", "-c", freshPerl]); must(perl);
    must(["sh", "-c", freshOurs]); must(ours);
    rows.push(compare("no-op rerun", perl, ours, { runs }));
    return comparisonTable("## users and groups: `stagehand users` vs update-users-groups.pl",
      `${nUsers} users (a quarter system users; hashed passwords; ${Math.floor(nUsers / 10)} fixed UIDs; every fifth normal user ` +
      `with a created home; half the normal users with automatic sub-ID ranges) and ${nGroups} groups (a third with fixed GIDs, ` +
      "0-4 members). Same method as setup-etc (chroot, overlay copies, hyperfine, state restored before each first run).",
      "update-users-groups.pl", rows);
  } finally {
    roots.dispose();
  }
}

if (import.meta.main) console.log(benchUsers(Number(process.argv[2] ?? 500), Number(process.argv[3] ?? 300), Number(process.argv[4] ?? 10)).join("\n"));
