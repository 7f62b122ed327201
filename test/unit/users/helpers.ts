/** Builders for users specs and planner inputs in tests. */
import type { GroupSpec, UserSpec, UsersSpec } from "../../../src/users/spec.ts";
import { FILES, type FileKey } from "../../../src/users/files.ts";
import { planUsers, type CurrentFiles } from "../../../src/users/plan.ts";

/** A declared user with NixOS's defaults. */
export function user(name: string, extra: Partial<UserSpec> = {}): UserSpec {
  return {
    name, uid: null, group: "users", description: "", home: "/var/empty", homeMode: "700", createHome: false,
    isSystemUser: false, shell: "/bin/sh", password: null, hashedPassword: null, hashedPasswordFile: null,
    initialPassword: null, initialHashedPassword: null, expires: null, subUidRanges: [], subGidRanges: [],
    autoSubUidGidRange: false, ...extra,
  };
}

/** A declared group. */
export function group(name: string, gid: number | null = null, members: string[] = []): GroupSpec {
  return { name, gid, members };
}

export function spec(users: UserSpec[], groups: GroupSpec[], mutableUsers = false): UsersSpec {
  return { mutableUsers, users, groups };
}

/** Planner input from partial file contents. */
export function files(f: Partial<Record<FileKey, string>> = {}, passwordFiles: Record<string, string | null> = {}): CurrentFiles {
  const all = {} as Record<FileKey, string | null>;
  for (const k of Object.keys(FILES) as FileKey[]) all[k] = f[k] ?? null;
  return { files: all, passwordFiles: new Map(Object.entries(passwordFiles)) };
}

/** A deterministic stand-in for hashing. */
export const fakeHash = (pw: string) => `HASH(${pw})`;

/** Plans, then feeds the result back as the next run's files. */
export function run(s: UsersSpec, cur: CurrentFiles, dry = false) {
  const plan = planUsers(s, cur, { dry, hashPassword: fakeHash });
  const after: CurrentFiles = { files: { ...plan.next }, passwordFiles: cur.passwordFiles };
  return { plan, after };
}
