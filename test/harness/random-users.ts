/**
 * Random users-groups.json specs for seeded tests (test/unit/graph/dry-exact.test.ts,
 * test/unit/users/apply-fuzz.test.ts): valid specs only, as NixOS writes them; the spec fuzz
 * (test/unit/users/fuzz.test.ts) covers the invalid ones.
 */
import type { Random } from "./random.ts";

/** The user names the specs draw from ("root" always declared). */
export const NAMES = ["root", "alice", "bob", "carol", "svc", "nixbld1"];
/** The group names the specs draw from ("root" always declared). */
export const GROUP_NAMES = ["root", "users", "wheel", "svcgrp", "shadow", "media"];

/** A JSON object. */
export type Json = Record<string, unknown>;

/** A random users-groups.json (as NixOS writes it; only valid specs: the spec fuzz covers the rest). */
export function randomSpec(r: Random): Json {
  const groups: Json[] = [{ name: "root", gid: 0, members: [] }];
  for (const g of GROUP_NAMES.slice(1)) {
    if (!r.chance(0.6)) continue;
    const gid = g === "users" ? 100 : r.chance(0.5) ? null : r.pick([1, 27, 400, 500, 3000]);
    if (gid !== null && groups.some((x) => x.gid === gid)) continue;
    groups.push({ name: g, gid, members: NAMES.filter(() => r.chance(0.2)).sort() });
  }
  const users: Json[] = [{ name: "root", uid: 0, group: "root", description: "System administrator", home: "/root", homeMode: "700", createHome: r.chance(0.5), isSystemUser: false, shell: "/bin/sh" }];
  const uids = new Set([0]);
  for (const n of NAMES.slice(1)) {
    if (!r.chance(0.6)) continue;
    let uid: number | null = r.chance(0.5) ? null : r.pick([400, 999, 1000, 1001, 1500]);
    if (uid !== null && uids.has(uid)) uid = null;
    if (uid !== null) uids.add(uid);
    const u: Json = {
      name: n, uid, group: r.chance(0.05) ? "nogroup" : r.pick(groups.map((g) => g.name as string)), description: r.chance(0.3) ? `${n} ${r.int(3)}` : "",
      home: r.chance(0.7) ? `/home/${n}` : "/var/empty", homeMode: r.pick(["700", "755", "750"]), createHome: r.chance(0.5),
      isSystemUser: r.chance(0.3), shell: r.chance(0.9) ? r.pick(["/bin/sh", "/run/current-system/sw/bin/bash"]) : null,
    };
    // Hashes given are never sha512crypt ones: those are the ones a plan makes, with a new salt each time.
    const pw = r.int(6);
    if (pw === 0) u.hashedPassword = r.pick(["!", "$y$j9T$x$y", ""]);
    if (pw === 1) u.initialPassword = "secret";
    if (pw === 2) u.initialHashedPassword = "$y$j9T$i$h";
    if (pw === 3) u.hashedPasswordFile = `/run/pw-${n}`;
    if (pw === 4) u.password = "plain";
    if (r.chance(0.2)) u.autoSubUidGidRange = true;
    else if (r.chance(0.1)) u.subUidRanges = [{ startUid: 200000 + r.int(3) * 65536, count: 65536 }];
    if (r.chance(0.1)) u.expires = "2030-01-02";
    users.push(u);
  }
  return { mutableUsers: r.chance(0.6), users, groups };
}

