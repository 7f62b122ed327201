/**
 * The users/groups spec NixOS's users-groups.nix writes (`users-groups.json`), loaded and validated.
 * Every error names the file, the line and the JSON path, and is raised before anything is written.
 */
import { MAX_ID } from "../text/id-field.ts";
import { badInRootPath, normalInRootPath } from "../fs/root.ts";
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
  /** As written: /etc/passwd gets it so. */
  home: string;
  /** Where `createHome` makes the home when `home` is not written in normal form (`/srv/x/`). */
  createHomeAt?: string;
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
  /** `YYYY-MM-DD` (a day past the month's end counts on, as the Perl script's strptime does). */
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

/**
 * User names as NixOS asserts them (users-groups.nix: shadow's is_valid_name, upper case and dots
 * included), with the trailing `$` of a machine account that older NixOS accepted; at most 32
 * characters (NixOS: fewer than 32).
 */
const USER_NAME_RE = /^[a-zA-Z0-9_.][a-zA-Z0-9_.-]*\$?$/;
const USER_NAME_MAX = 32;
/**
 * Group names and group members: NixOS types them only as `passwdEntry str` (no ':' or newline),
 * so anything that keeps a line of /etc/group whole is taken: no ':', ',' (the member separator),
 * white space (the separator of /var/lib/nixos/declarative-groups), NUL, a leading '+'/'-' (glibc's
 * compat entries) or '#' (a comment line: it would be kept verbatim and the group made anew at every
 * run), not empty, at most GROUP_NAME_MAX characters.
 */
const GROUP_NAME_RE = /^[^:,\s\0+#-][^:,\s\0]*$/;
const GROUP_NAME_MAX = 256;
/** Whether `v` is a valid user name (the check the spec's fields get, without naming them). */
const isUserName = (v: unknown): v is string => typeof v === "string" && v.length <= USER_NAME_MAX && USER_NAME_RE.test(v);
/** Whether `v` is a valid group name or group member. */
const isGroupName = (v: unknown): v is string => typeof v === "string" && v.length <= GROUP_NAME_MAX && GROUP_NAME_RE.test(v);
/** What a database field must not contain: ':' splits a line, a line break or NUL injects one. */
const FORBIDDEN_IN_FIELD = /[:\n\r\0]/;
/** A home's mode as NixOS types it (`strMatching "[0-7]{1,5}"`), whose value must fit a mode (07777). */
const OCTAL_MODE_RE = /^(?:0?[0-7]{1,4})$/;
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

/**
 * Validates spec text (`file` is only used in messages). `checked` reads every entry with the
 * per-field checks (tests compare it with the default reader, which takes a shortcut for plain entries).
 */
export function parseSpec(file: string, text: string, checked = false): UsersSpec {
  let doc;
  try {
    doc = parseJsonLazily(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw new SpecError(`${file}: line ${e.line}: invalid JSON: ${e.message}`);
    // The native parser's own depth limit (before ours is reached): still a bad spec, not a crash.
    if (e instanceof RangeError) throw new SpecError(`${file}: invalid JSON: nested too deeply`);
    throw e;
  }
  const r = new SpecReader(file, doc);
  const top = r.obj(doc.value, "", "");
  const mutableUsers = r.bool(top.mutableUsers, "", "mutableUsers", true);
  const groups = readGroups(r, top, checked);
  const userList = r.arr(top.users, "", "users");
  const users: UserSpec[] = [];
  for (let i = 0; i < userList.length; i++) users.push((checked ? undefined : plainUser(userList[i])) ?? readUser(r, `users[${i}]`, userList[i]));
  refuseDuplicates(r, users, groups);
  return { mutableUsers, users, groups };
}

/**
 * The checks of a spec's values, each naming the file, line and path of what it refuses. They run
 * for every field of every user: each takes the parent's path and the key, and joins them only for
 * an error message (a spec of 500 users has some 10,000 fields).
 */
class SpecReader {
  constructor(private readonly file: string, private readonly doc: ReturnType<typeof parseJsonLazily>) {}

  /** `file: line N: path`, the line of the nearest recorded ancestor when a key is missing. */
  private where(path: string): string {
    let lines: Map<string, number>;
    try {
      lines = this.doc.lines();
    } catch {
      return `${this.file}: ${path || "(top level)"}`; // parsed natively, but too deep for the located reader
    }
    for (let p = path; ; p = p.replace(/(\.[^.[\]]*|\[\d+\])$/, "")) {
      const l = lines.get(p);
      if (l !== undefined) return `${this.file}: line ${l}: ${path || "(top level)"}`;
      if (p === "") return `${this.file}: ${path}`;
    }
  }

  bad(path: string, msg: string): never {
    throw new SpecError(`${this.where(path)}: ${msg}`);
  }

  at(p: string, k: string): string {
    return k === "" ? p : p === "" ? k : `${p}.${k}`;
  }

  obj(v: unknown, p: string, k: string): Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : this.bad(this.at(p, k), "expected an object");
  }

  arr(v: unknown, p: string, k: string): unknown[] {
    return v === undefined || v === null ? [] : Array.isArray(v) ? v : this.bad(this.at(p, k), "expected a list");
  }

  bool(v: unknown, p: string, k: string, dflt: boolean): boolean {
    return v === undefined || v === null ? dflt : typeof v === "boolean" ? v : this.bad(this.at(p, k), "expected true or false");
  }

  /** A string that ends up in a colon-separated database line. */
  field(v: unknown, p: string, k: string): string {
    if (typeof v !== "string") return this.bad(this.at(p, k), "expected a string");
    if (FORBIDDEN_IN_FIELD.test(v)) {
      if (v.includes(":")) this.bad(this.at(p, k), `${JSON.stringify(v)} contains ':', which would split a line of the user database`);
      this.bad(this.at(p, k), `${JSON.stringify(v)} contains a newline or NUL, which would inject a line into the user database`);
    }
    return v;
  }

  optField(v: unknown, p: string, k: string): string | null {
    return v === undefined || v === null ? null : this.field(v, p, k);
  }

  optString(v: unknown, p: string, k: string): string | null {
    return v === undefined || v === null ? null : typeof v === "string" ? v : this.bad(this.at(p, k), "expected a string");
  }

  id(v: unknown, p: string, k: string): number | null {
    if (v === undefined || v === null) return null;
    if (typeof v !== "number" || !Number.isInteger(v)) return this.bad(this.at(p, k), "expected an integer ID");
    if (v < 0 || v > MAX_ID) this.bad(this.at(p, k), `ID ${v} is out of range (0 to ${MAX_ID})`);
    return v;
  }

  userName(v: unknown, p: string, k: string): string {
    // A valid name has no character a field may not have: one test decides the usual case.
    if (isUserName(v)) return v;
    const s = this.field(v, p, k);
    this.bad(this.at(p, k), `${JSON.stringify(s)} is not a valid user name (letters, digits, '_', '.' and '-', not starting with '-', at most ${USER_NAME_MAX} characters)`);
  }

  /** A group's name, or a member of a group (`what`). */
  groupName(v: unknown, p: string, k: string, what: string): string {
    if (isGroupName(v)) return v;
    const s = this.field(v, p, k);
    if (s === "") this.bad(this.at(p, k), `the ${what} is empty`);
    if (s.includes(",")) this.bad(this.at(p, k), `${JSON.stringify(s)} contains ',', which would split the member list of /etc/group`);
    if (s.length > GROUP_NAME_MAX) this.bad(this.at(p, k), `the ${what} is longer than ${GROUP_NAME_MAX} characters`);
    if (/\s/.test(s)) this.bad(this.at(p, k), `${JSON.stringify(s)} contains white space, which would split it in /var/lib/nixos/declarative-groups`);
    this.bad(this.at(p, k), `${JSON.stringify(s)} starts with '${s[0]}', which makes the line of /etc/group ${s[0] === "#" ? "a comment" : "a compat entry to glibc"}`);
  }

  ranges(v: unknown, p: string, k: string, startKey: string): SubIdRange[] {
    const list = this.arr(v, p, k);
    if (list.length === 0) return [];
    const path = this.at(p, k);
    return list.map((r, i) => {
      const rp = `${path}[${i}]`;
      const o = this.obj(r, rp, "");
      const start = this.id(o[startKey], rp, startKey);
      const count = this.id(o.count, rp, "count");
      if (start === null || count === null) return this.bad(rp, `needs ${startKey} and count`);
      if (start + count - 1 > MAX_ID) this.bad(rp, "range goes past the largest ID");
      return { start, count };
    });
  }
}

/** The `groups` list (`checked`: every entry by the per-field checks). */
function readGroups(r: SpecReader, top: Record<string, unknown>, checked: boolean): GroupSpec[] {
  const groupList = r.arr(top.groups, "", "groups");
  const groups: GroupSpec[] = [];
  for (let i = 0; i < groupList.length; i++) {
    const entry = groupList[i];
    groups.push((checked ? undefined : plainGroup(entry)) ?? readGroup(r, `groups[${i}]`, entry));
  }
  return groups;
}

/**
 * A group entry whose fields all have their plain form (a valid name, an ID in range or none,
 * valid member names), read without the per-field checks; undefined for anything else, which
 * readGroup then reads (and refuses) with the same result.
 */
function plainGroup(entry: unknown): GroupSpec | undefined {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) return undefined;
  const o = entry as Record<string, unknown>;
  const name = o.name;
  const gid = o.gid === undefined ? null : o.gid;
  const list = o.members;
  if (!isGroupName(name) || !plainId(gid)) return undefined;
  let members: string[];
  if (list === undefined || list === null) members = [];
  else if (!Array.isArray(list)) return undefined;
  else {
    // The list is the parsed document's own, not copied.
    for (let j = 0; j < list.length; j++) if (!isGroupName(list[j])) return undefined;
    members = list as string[];
  }
  return { name, gid: gid as number | null, members };
}

/** One entry of the `groups` list, at path `p`, every field checked. */
function readGroup(r: SpecReader, p: string, entry: unknown): GroupSpec {
  const o = r.obj(entry, p, "");
  const gName = r.groupName(o.name, p, "name", "group name");
  const gid = r.id(o.gid, p, "gid");
  const memberList = r.arr(o.members, p, "members");
  const members: string[] = [];
  for (let j = 0; j < memberList.length; j++) {
    const v = memberList[j];
    // The usual case decided without building the member's path (only errors name it).
    members.push(isGroupName(v) ? v : r.groupName(v, `${p}.members[${j}]`, "", "member name"));
  }
  return { name: gName, gid, members };
}

/** An ID as the spec gives it: none, or an integer in range. */
function plainId(v: unknown): boolean {
  return v === null || (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= MAX_ID);
}

/**
 * A user entry whose fields all have their plain form (strings without ':', a line break or NUL
 * where they end up in a database line, IDs in range, booleans, no sub-ID ranges, paths in normal
 * form), read without the per-field checks (a spec of 500 users has some 10,000 fields, each a
 * call and a test in code that runs once); undefined for anything else, which readUser then reads
 * (and refuses) with the same result.
 */
function plainUser(entry: unknown): UserSpec | undefined {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) return undefined;
  const o = entry as Record<string, unknown>;
  // Each field read once (`??`: absent or null), as readUser defaults it.
  const name = o.name;
  const uid = o.uid ?? null;
  const group = o.group ?? "";
  const description = o.description ?? "";
  const home = o.home ?? "/var/empty";
  const homeMode = o.homeMode ?? "700";
  const shell = o.shell ?? null;
  const hashedPassword = o.hashedPassword ?? null;
  const initialHashedPassword = o.initialHashedPassword ?? null;
  const password = o.password ?? null;
  const initialPassword = o.initialPassword ?? null;
  const file = o.hashedPasswordFile ?? o.passwordFile ?? null;
  const expires = o.expires ?? null;
  const createHome = o.createHome ?? false;
  const isSystemUser = o.isSystemUser ?? false;
  const auto = o.autoSubUidGidRange ?? false;
  if (
    !isUserName(name) || !plainId(uid) ||
    typeof group !== "string" || typeof description !== "string" || typeof home !== "string" ||
    typeof homeMode !== "string" || !OCTAL_MODE_RE.test(homeMode) ||
    (shell !== null && typeof shell !== "string") ||
    (hashedPassword !== null && typeof hashedPassword !== "string") ||
    (initialHashedPassword !== null && typeof initialHashedPassword !== "string") ||
    (password !== null && typeof password !== "string") ||
    (initialPassword !== null && typeof initialPassword !== "string") ||
    (file !== null && typeof file !== "string") ||
    (expires !== null && (typeof expires !== "string" || expiresToDays(expires) === null)) ||
    typeof createHome !== "boolean" || typeof isSystemUser !== "boolean" || typeof auto !== "boolean" ||
    !noRanges(o.subUidRanges) || !noRanges(o.subGidRanges)
  ) return undefined;
  // The fields that end up in a database line, tested together: one of them has a character
  // the test finds exactly when their concatenation does.
  if (FORBIDDEN_IN_FIELD.test(`${group}${description}${home}${shell ?? ""}${hashedPassword ?? ""}${initialHashedPassword ?? ""}`)) return undefined;
  if (NUMERIC_RE.test(group) && Number(group) > MAX_ID) return undefined;
  if (file !== null && badInRootPath(file) !== undefined) return undefined;
  if (createHome && badInRootPath(home) !== undefined) return undefined;
  return {
    name, uid: uid as number | null, group, description, home, homeMode, createHome, isSystemUser,
    shell: shell as string | null, password: password as string | null, hashedPassword: hashedPassword as string | null,
    hashedPasswordFile: file as string | null, initialPassword: initialPassword as string | null,
    initialHashedPassword: initialHashedPassword as string | null, expires: expires as string | null,
    subUidRanges: [], subGidRanges: [], autoSubUidGidRange: auto,
  };
}

/** No sub-ID ranges: absent, null or an empty list. */
function noRanges(v: unknown): boolean {
  return v === undefined || v === null || (Array.isArray(v) && v.length === 0);
}

/** One entry of the `users` list, at path `p`. */
function readUser(r: SpecReader, p: string, entry: unknown): UserSpec {
  const o = r.obj(entry, p, "");
  const expires = r.optString(o.expires, p, "expires");
  if (expires !== null && expiresToDays(expires) === null) r.bad(`${p}.expires`, `${JSON.stringify(expires)} is not a date YYYY-MM-DD (month 01-12, day 00-31, from 1900)`);
  const homeMode = o.homeMode === undefined || o.homeMode === null ? "700" : r.field(o.homeMode, p, "homeMode");
  if (!OCTAL_MODE_RE.test(homeMode)) r.bad(`${p}.homeMode`, `${JSON.stringify(homeMode)} is not an octal mode`);
  const group = o.group === undefined || o.group === null ? "" : r.field(o.group, p, "group");
  if (NUMERIC_RE.test(group) && Number(group) > MAX_ID) r.bad(`${p}.group`, `GID ${group} is out of range (0 to ${MAX_ID})`);
  const uName = r.userName(o.name, p, "name");
  const fileKey = o.hashedPasswordFile !== undefined && o.hashedPasswordFile !== null ? "hashedPasswordFile" : "passwordFile";
  const hashedPasswordFile = r.optString(o[fileKey], p, fileKey);
  // Paths inside the root that stagehand reads or changes: absolute and in normal form, so a
  // `..` cannot name something else than it says (they are resolved inside the root anyway).
  let passwordFilePath = hashedPasswordFile;
  if (hashedPasswordFile !== null) {
    const n = normalInRootPath(hashedPasswordFile);
    if ("why" in n) r.bad(`${p}.${fileKey}`, `${fileKey} of user ‘${uName}’ ${n.why}`);
    passwordFilePath = n.path;
  }
  const createHome = r.bool(o.createHome, p, "createHome", false);
  const home = o.home === undefined || o.home === null ? "/var/empty" : r.field(o.home, p, "home");
  // Only a home stagehand creates and chowns must be a real directory path: otherwise `home` is
  // just a field of /etc/passwd, as for the Perl script. /etc/passwd gets it as written.
  let createHomeAt: string | undefined;
  if (createHome) {
    const n = normalInRootPath(home);
    if ("why" in n) r.bad(`${p}.home`, `home of user ‘${uName}’ (createHome) ${n.why}`);
    if (n.path !== home) createHomeAt = n.path;
  }
  return {
    name: uName,
    uid: r.id(o.uid, p, "uid"),
    group,
    description: o.description === undefined || o.description === null ? "" : r.field(o.description, p, "description"),
    home,
    homeMode,
    createHome,
    isSystemUser: r.bool(o.isSystemUser, p, "isSystemUser", false),
    shell: r.optField(o.shell, p, "shell"),
    password: r.optString(o.password, p, "password"),
    hashedPassword: r.optField(o.hashedPassword, p, "hashedPassword"),
    hashedPasswordFile: passwordFilePath,
    initialPassword: r.optString(o.initialPassword, p, "initialPassword"),
    initialHashedPassword: r.optField(o.initialHashedPassword, p, "initialHashedPassword"),
    expires,
    subUidRanges: r.ranges(o.subUidRanges, p, "subUidRanges", "startUid"),
    subGidRanges: r.ranges(o.subGidRanges, p, "subGidRanges", "startGid"),
    autoSubUidGidRange: r.bool(o.autoSubUidGidRange, p, "autoSubUidGidRange", false),
    ...(createHomeAt === undefined ? {} : { createHomeAt }),
  };
}

/**
 * Names declared twice are refused, naming both entries. A fixed ID may be declared twice: NixOS
 * allows it with `users.enforceIdUniqueness = false` (a `toor` beside root), and asserts it otherwise.
 */
function refuseDuplicates(r: SpecReader, users: UserSpec[], groups: GroupSpec[]): void {
  const unique = (keys: string[], base: string, what: string) => {
    const seen = new Map<string, number>();
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const prev = seen.get(k);
      if (prev !== undefined) r.bad(`${base}[${i}]`, `${what} ${JSON.stringify(k)} is also declared by ${base}[${prev}]`);
      seen.set(k, i);
    }
  };
  const userNames = users.map((u) => u.name);
  const groupNames = groups.map((g) => g.name);
  // A Set decides the usual case (no repeat) natively.
  if (new Set(userNames).size !== userNames.length) unique(userNames, "users", "user name");
  if (new Set(groupNames).size !== groupNames.length) unique(groupNames, "groups", "group name");
}

/**
 * `YYYY-MM-DD` to days since 1970-01-01 (the shadow `expire` field), or null for what the Perl
 * script's `Time::Piece->strptime` refuses (and so dies on): a month outside 01-12, a day past 31,
 * a year before 1900. NixOS checks only the digits, and the Perl script took a day past the
 * month's end (2030-02-30) as the days after it (2030-03-02); so does this.
 */
export function expiresToDays(date: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) return null;
  const [y, mo, d] = [+m[1]!, +m[2]!, +m[3]!];
  if (y < 1900 || mo < 1 || mo > 12 || d > 31) return null;
  // Day 00 is the month's eve (2030-03-00 is 2030-02-28), except in January, where Time::Piece
  // gives the 1st (2030-01-00 is 2030-01-01).
  return Date.UTC(y, mo - 1, d === 0 && mo === 1 ? 1 : d) / 86_400_000;
}
