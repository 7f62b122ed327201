/**
 * The users/groups spec NixOS's users-groups.nix writes (`users-groups.json`), loaded and validated.
 * Every error names the file, the line and the JSON path, and is raised before anything is written.
 */
import { badInRootPath } from "../fs/root.ts";
import { InputFileError, MAX_BYTES, readRegularFile } from "../fs/read.ts";
import { JsonSyntaxError, parseJsonLazily } from "./json.ts";

/** A declared subordinate ID range. */
export interface SubIdRange {
  start: number;
  count: number;
}

/** One entry of `users`, as declared. */
export interface UserSpec {
  name: string;
  uid: number | null;
  /** A group name, or a numeric GID. */
  group: string;
  description: string;
  home: string;
  homeMode: string;
  createHome: boolean;
  isSystemUser: boolean;
  shell: string | null;
  password: string | null;
  hashedPassword: string | null;
  /** `hashedPasswordFile`, or the older `passwordFile`. */
  hashedPasswordFile: string | null;
  initialPassword: string | null;
  initialHashedPassword: string | null;
  /** `YYYY-MM-DD`. */
  expires: string | null;
  subUidRanges: SubIdRange[];
  subGidRanges: SubIdRange[];
  autoSubUidGidRange: boolean;
}

/** One entry of `groups`. */
export interface GroupSpec {
  name: string;
  gid: number | null;
  members: string[];
}

/** The whole spec. */
export interface UsersSpec {
  mutableUsers: boolean;
  users: UserSpec[];
  groups: GroupSpec[];
}

/** A spec that cannot be applied; the message names the file, line and JSON path. */
export class SpecError extends Error {
  override name = "SpecError";
}

/** The largest valid ID: (uid_t)-1 means "no ID" to the kernel and libc. */
const MAX_ID = 4294967294;

/** Names as NixOS asserts them and shadow-utils accepts them by default. */
const NAME_RE = /^[a-z_][a-z0-9_-]*\$?$/;
const NAME_MAX = 32;
/** What a database field must not contain: ':' splits a line, a line break or NUL injects one. */
const FORBIDDEN_IN_FIELD = /[:\n\r\0]/;
const OCTAL_MODE_RE = /^[0-7]{1,4}$/;
const NUMERIC_RE = /^[0-9]+$/;

/**
 * Loads and validates a spec file: a regular file of at most MAX_BYTES.usersSpec (a FIFO or a
 * device where the spec should be is refused, never read).
 */
export function loadSpec(path: string): UsersSpec {
  let text: string;
  try {
    text = readRegularFile(path, { maxBytes: MAX_BYTES.usersSpec, what: "the users spec" }).toString("utf8");
  } catch (e) {
    if (e instanceof InputFileError) throw new SpecError(e.message);
    throw new SpecError(`${path}: cannot read the users spec: ${(e as Error).message}`);
  }
  return parseSpec(path, text);
}

/** Validates spec text (`file` is only used in messages). */
export function parseSpec(file: string, text: string): UsersSpec {
  let doc;
  try {
    doc = parseJsonLazily(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw new SpecError(`${file}: line ${e.line}: invalid JSON: ${e.message}`);
    // The native parser's own depth limit (before ours is reached): still a bad spec, not a crash.
    if (e instanceof RangeError) throw new SpecError(`${file}: invalid JSON: nested too deeply`);
    throw e;
  }
  const where = (path: string): string => {
    let lines: Map<string, number>;
    try {
      lines = doc.lines();
    } catch {
      return `${file}: ${path || "(top level)"}`; // parsed natively, but too deep for the located reader
    }
    // The nearest recorded ancestor gives the line when a key is missing.
    for (let p = path; ; p = p.replace(/(\.[^.[\]]*|\[\d+\])$/, "")) {
      const l = lines.get(p);
      if (l !== undefined) return `${file}: line ${l}: ${path || "(top level)"}`;
      if (p === "") return `${file}: ${path}`;
    }
  };
  const bad = (path: string, msg: string): never => {
    throw new SpecError(`${where(path)}: ${msg}`);
  };
  // The checks below run for every field of every user: each takes the parent's path and the key,
  // and joins them only for an error message (a spec of 500 users has some 10,000 fields).
  const at = (p: string, k: string): string => (k === "" ? p : p === "" ? k : `${p}.${k}`);
  const obj = (v: unknown, p: string, k: string): Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : bad(at(p, k), "expected an object");
  const arr = (v: unknown, p: string, k: string): unknown[] =>
    v === undefined || v === null ? [] : Array.isArray(v) ? v : bad(at(p, k), "expected a list");
  const bool = (v: unknown, p: string, k: string, dflt: boolean): boolean =>
    v === undefined || v === null ? dflt : typeof v === "boolean" ? v : bad(at(p, k), "expected true or false");
  /** A string that ends up in a colon-separated database line. */
  const field = (v: unknown, p: string, k: string): string => {
    if (typeof v !== "string") return bad(at(p, k), "expected a string");
    if (FORBIDDEN_IN_FIELD.test(v)) {
      if (v.includes(":")) bad(at(p, k), `${JSON.stringify(v)} contains ':', which would split a line of the user database`);
      bad(at(p, k), `${JSON.stringify(v)} contains a newline or NUL, which would inject a line into the user database`);
    }
    return v;
  };
  const optField = (v: unknown, p: string, k: string): string | null => (v === undefined || v === null ? null : field(v, p, k));
  const optString = (v: unknown, p: string, k: string): string | null =>
    v === undefined || v === null ? null : typeof v === "string" ? v : bad(at(p, k), "expected a string");
  const id = (v: unknown, p: string, k: string): number | null => {
    if (v === undefined || v === null) return null;
    if (typeof v !== "number" || !Number.isInteger(v)) return bad(at(p, k), "expected an integer ID");
    if (v < 0 || v > MAX_ID) bad(at(p, k), `ID ${v} is out of range (0 to ${MAX_ID})`);
    return v;
  };
  const name = (v: unknown, p: string, k: string, what: string): string => {
    const s = field(v, p, k);
    if (!NAME_RE.test(s) || s.length > NAME_MAX) {
      bad(at(p, k), `${JSON.stringify(s)} is not a valid ${what} name (lower-case letters, digits, '_' and '-', starting with a letter or '_', at most ${NAME_MAX} characters)`);
    }
    return s;
  };
  const ranges = (v: unknown, p: string, k: string, startKey: string): SubIdRange[] => {
    const list = arr(v, p, k);
    if (list.length === 0) return [];
    const path = at(p, k);
    return list.map((r, i) => {
      const rp = `${path}[${i}]`;
      const o = obj(r, rp, "");
      const start = id(o[startKey], rp, startKey);
      const count = id(o.count, rp, "count");
      if (start === null || count === null) return bad(rp, `needs ${startKey} and count`);
      if (start + count - 1 > MAX_ID) bad(rp, "range goes past the largest ID");
      return { start, count };
    });
  };

  const top = obj(doc.value, "", "");
  const mutableUsers = bool(top.mutableUsers, "", "mutableUsers", true);

  const groupList = arr(top.groups, "", "groups");
  const groups: GroupSpec[] = [];
  for (let i = 0; i < groupList.length; i++) {
    const p = `groups[${i}]`;
    const o = obj(groupList[i], p, "");
    const gName = name(o.name, p, "name", "group");
    const gid = id(o.gid, p, "gid");
    const memberList = arr(o.members, p, "members");
    const members: string[] = [];
    for (let j = 0; j < memberList.length; j++) {
      const mp = `${p}.members[${j}]`;
      const m = name(memberList[j], mp, "", "user");
      if (m.includes(",")) bad(mp, "contains ','");
      members.push(m);
    }
    groups.push({ name: gName, gid, members });
  }

  const userList = arr(top.users, "", "users");
  const users: UserSpec[] = [];
  for (let i = 0; i < userList.length; i++) {
    const p = `users[${i}]`;
    const o = obj(userList[i], p, "");
    const expires = optString(o.expires, p, "expires");
    if (expires !== null && expiresToDays(expires) === null) bad(`${p}.expires`, `${JSON.stringify(expires)} is not a date YYYY-MM-DD`);
    const homeMode = o.homeMode === undefined || o.homeMode === null ? "700" : field(o.homeMode, p, "homeMode");
    if (!OCTAL_MODE_RE.test(homeMode)) bad(`${p}.homeMode`, `${JSON.stringify(homeMode)} is not an octal mode`);
    const group = o.group === undefined || o.group === null ? "" : field(o.group, p, "group");
    if (NUMERIC_RE.test(group) && Number(group) > MAX_ID) bad(`${p}.group`, `GID ${group} is out of range (0 to ${MAX_ID})`);
    const uName = name(o.name, p, "name", "user");
    const fileKey = o.hashedPasswordFile !== undefined && o.hashedPasswordFile !== null ? "hashedPasswordFile" : "passwordFile";
    const hashedPasswordFile = optString(o[fileKey], p, fileKey);
    // Paths inside the root that stagehand reads or changes: absolute and in normal form, so a
    // `..` cannot name something else than it says (they are resolved inside the root anyway).
    if (hashedPasswordFile !== null) {
      const why = badInRootPath(hashedPasswordFile);
      if (why) bad(`${p}.${fileKey}`, `${fileKey} of user ‘${uName}’ ${why}`);
    }
    const createHome = bool(o.createHome, p, "createHome", false);
    const home = o.home === undefined || o.home === null ? "/var/empty" : field(o.home, p, "home");
    // Only a home stagehand creates and chowns must be a real directory path: otherwise `home` is
    // just a field of /etc/passwd, as for the Perl script.
    if (createHome) {
      const why = badInRootPath(home);
      if (why) bad(`${p}.home`, `home of user ‘${uName}’ (createHome) ${why}`);
    }
    users.push({
      name: uName,
      uid: id(o.uid, p, "uid"),
      group,
      description: o.description === undefined || o.description === null ? "" : field(o.description, p, "description"),
      home,
      homeMode,
      createHome,
      isSystemUser: bool(o.isSystemUser, p, "isSystemUser", false),
      shell: optField(o.shell, p, "shell"),
      password: optString(o.password, p, "password"),
      hashedPassword: optField(o.hashedPassword, p, "hashedPassword"),
      hashedPasswordFile,
      initialPassword: optString(o.initialPassword, p, "initialPassword"),
      initialHashedPassword: optField(o.initialHashedPassword, p, "initialHashedPassword"),
      expires,
      subUidRanges: ranges(o.subUidRanges, p, "subUidRanges", "startUid"),
      subGidRanges: ranges(o.subGidRanges, p, "subGidRanges", "startGid"),
      autoSubUidGidRange: bool(o.autoSubUidGidRange, p, "autoSubUidGidRange", false),
    });
  }

  const unique = <T>(list: T[], key: (x: T) => string | number | null, base: string, what: string) => {
    const seen = new Map<string | number, number>();
    for (let i = 0; i < list.length; i++) {
      const k = key(list[i]!);
      if (k === null) continue;
      const prev = seen.get(k);
      if (prev !== undefined) bad(`${base}[${i}]`, `${what} ${JSON.stringify(k)} is also declared by ${base}[${prev}]`);
      seen.set(k, i);
    }
  };
  unique(users, (u) => u.name, "users", "user name");
  unique(groups, (g) => g.name, "groups", "group name");
  unique(users, (u) => u.uid, "users", "UID");
  unique(groups, (g) => g.gid, "groups", "GID");
  return { mutableUsers, users, groups };
}

/** `YYYY-MM-DD` to days since 1970-01-01 (the shadow `expire` field), or null if not a real date. */
export function expiresToDays(date: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) return null;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!);
  const d = new Date(ms);
  if (d.getUTCFullYear() !== +m[1]! || d.getUTCMonth() !== +m[2]! - 1 || d.getUTCDate() !== +m[3]!) return null;
  return ms / 86_400_000;
}
