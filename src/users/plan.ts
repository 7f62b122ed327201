/**
 * The pure planner: spec + current databases + state -> new databases, new state, home directories
 * and the messages update-users-groups.pl prints. It touches nothing; `write.ts` applies the result.
 */
import { IdAllocator, NORMAL_RANGE, SubIdAllocator, SYSTEM_RANGE } from "./allocate.ts";
import { parseGroupFile, serializeGroup, type GroupEntry } from "./group.ts";
import { parsePasswdFile, serializePasswd, type PasswdEntry } from "./passwd.ts";
import { parseShadow, serializeShadow, type ShadowEntry } from "./shadow.ts";
import { expiresToDays, type UsersSpec } from "./spec.ts";
import { verifySha512Crypt } from "./sha512crypt.ts";
import { parseSubId, serializeSubId, type SubIdEntry } from "./subid.ts";
import { FILES, type FileKey } from "./files.ts";
import { type IdMap, parseIdMap, parseNameList, readIdMap, serializeIdMap, serializeNameList } from "./state.ts";
import { sortById } from "./order.ts";
import type { DatabaseFile } from "./verbatim.ts";
import { sortStringsBytewise } from "../text/bytewise.ts";
import { MAX_ID } from "../text/id-field.ts";

/**
 * The order files are replaced in. ID maps first (an ID is recorded before anything uses it),
 * the declarative lists last (a crash before them leaves the old lists, and a rerun converges).
 */
const WRITE_ORDER: readonly FileKey[] = [
  "uidMap", "gidMap", "autoSubUidMap", "group", "passwd", "shadow", "subuid", "subgid", "declarativeGroups", "declarativeUsers",
];

/** What the planner reads: each file's text, null when absent. */
export interface CurrentFiles {
  files: Record<FileKey, string | null>;
  /**
   * Contents of each `hashedPasswordFile` of the spec, null when it does not exist, or why it
   * cannot be used (not a regular file, too large, unreadable): that user's password is then left
   * as it is, with a warning, and everything else is still applied.
   */
  passwordFiles: Map<string, string | null | { refused: string }>;
}

/** A home directory to ensure. */
export interface HomeDir {
  /** The user it belongs to (for messages). */
  user: string;
  /** Absolute, in normal form, not `/` (checked by the spec). */
  path: string;
  uid: number;
  gid: number;
  mode: number;
}

/** The planner's result. */
export interface UsersPlanData {
  /** New content for every file; equal to `current` when nothing changes. */
  next: Record<FileKey, string>;
  current: Record<FileKey, string | null>;
  /** Files whose content changes, in write order. */
  changed: FileKey[];
  /**
   * The declarative lists' content written before everything else (the old names and the new):
   * see planUsers. A list whose final content is this is not written again at the end.
   */
  early?: Partial<Record<FileKey, string>>;
  homes: HomeDir[];
  /** The GID /etc/shadow is given: group `shadow`'s in the new /etc/group, 0 without one (or with GID 4294967295). */
  shadowGid: number;
  /** The messages, in the order and wording of update-users-groups.pl. */
  messages: string[];
  /** State files that were no ID map at all (reported, read as empty): kept aside when replaced. */
  broken?: FileKey[];
}

export interface PlanOptions {
  /** dry-activate wording ("would remove ..."). */
  dry: boolean;
  /** Hashes a plain-text password (injected so tests are deterministic). */
  hashPassword: (password: string) => string;
}

const NOLOGIN = "/run/current-system/sw/bin/nologin";
const NUMERIC = /^[0-9]+$/;

/**
 * A declared user or group that would share its ID with another one already in the databases
 * (update-users-groups.pl accepted it silently; userborn refuses to create it). Raised while
 * planning, so nothing is written.
 */
export class IdConflictError extends Error {
  override name = "IdConflictError";
}

/** What every part of the planner reads and adds to: the parsed files, the ID maps and allocators, the messages. */
interface Planning {
  spec: UsersSpec;
  cur: CurrentFiles;
  opts: PlanOptions;
  messages: string[];
  /** State files that were no ID map at all (UsersPlanData.broken). */
  broken: FileKey[];
  /** Adds a message in the run's wording (real or dry). */
  say(real: string, dry: string, rest: string): void;
  /** The ID maps; one that changed nothing since it was read canonically is written back as read (IdMap). */
  uidMap: IdMap;
  gidMap: IdMap;
  subMap: IdMap;
  declUsers: Set<string>;
  declGroups: Set<string>;
  groupFile: ReturnType<typeof parseGroupFile>;
  passwdFile: ReturnType<typeof parsePasswdFile>;
  shadowCur: ShadowEntry[];
  gids: IdAllocator;
  uids: IdAllocator;
}

/**
 * Plans a run. Throws only on allocation exhaustion, broken state files or a declared ID that is
 * already another user's or group's (IdConflictError), always before any write.
 */
export function planUsers(spec: UsersSpec, cur: CurrentFiles, opts: PlanOptions): UsersPlanData {
  const f = cur.files;
  const p = readPlanning(spec, cur, opts);
  const groups = planGroups(p);
  const users = planPasswd(p, groups.out);
  const shadowOut = planShadow(p, users);
  const { subUids, subGids } = planSubIds(p, users);

  const next: Record<FileKey, string> = {
    group: serializeGroup(groups.lines, p.groupFile),
    passwd: serializePasswd(users.lines, p.passwdFile),
    shadow: serializeShadow(shadowOut),
    subuid: serializeSubId(subUids),
    subgid: serializeSubId(subGids),
    // A map recorded nothing new and was canonical: its text is what serializing would give.
    uidMap: p.uidMap.asRead ?? serializeIdMap(p.uidMap),
    gidMap: p.gidMap.asRead ?? serializeIdMap(p.gidMap),
    declarativeUsers: users.declarative,
    declarativeGroups: groups.declarative,
    autoSubUidMap: p.subMap.asRead ?? serializeIdMap(p.subMap) + "\n",
  };
  // An equivalent map in another key order (Perl's encode_json) is not rewritten.
  if (f.autoSubUidMap !== null && f.autoSubUidMap !== next.autoSubUidMap && sameMap(f.autoSubUidMap, next.autoSubUidMap)) {
    next.autoSubUidMap = f.autoSubUidMap;
  }
  const changed = WRITE_ORDER.filter((k) => next[k] !== f[k]);
  // Names a run declares are recorded before the databases name them: a crash in between, then a
  // rollback, would otherwise find a new user undeclared (imperative, kept for good). The lists
  // then get their exact content last, as before (a removal is recorded after the databases).
  const early: Partial<Record<FileKey, string>> = {};
  for (const k of ["declarativeGroups", "declarativeUsers"] as const) {
    if (!changed.includes(k)) continue;
    const had = parseNameList(f[k]);
    // With no old name (a first run) the union is the new list, already sorted without repeats.
    const union = had.size === 0 ? next[k] : serializeNameList(new Set([...had, ...parseNameList(next[k])]));
    if (union !== (f[k] ?? "")) early[k] = union;
  }
  // A `shadow` GID that chown(2) cannot give (4294967295, (gid_t)-1, is its "leave the group as
  // it is": what glibc reads from `-1` or a number too large) falls back to 0, as no group does:
  // else an unchanged /etc/shadow would keep whatever group it had, and that group the hashes.
  const shadowGid = groups.out.get("shadow")?.gid ?? 0;
  return {
    next, current: { ...f }, changed, ...(Object.keys(early).length > 0 ? { early } : {}),
    homes: users.homes, shadowGid: shadowGid < 0 || shadowGid > MAX_ID ? 0 : shadowGid, messages: p.messages, ...(p.broken.length > 0 ? { broken: p.broken } : {}),
  };
}

/** Parses the current files and state, and sets up the ID allocators (every ID in use taken). */
function readPlanning(spec: UsersSpec, cur: CurrentFiles, opts: PlanOptions): Planning {
  const f = cur.files;
  const messages: string[] = [];
  // Parsed in update-users-groups.pl's order, so the first broken file is the one reported.
  // A broken map is reported and read as empty, never a failure of every later run.
  const warn = (l: string) => messages.push(l);
  const uidMap = readIdMap(`/${FILES.uidMap}`, f.uidMap, "", warn);
  const gidMap = readIdMap(`/${FILES.gidMap}`, f.gidMap, "", warn);
  const subMap = readIdMap(`/${FILES.autoSubUidMap}`, f.autoSubUidMap, "\n", warn);
  const broken = ([["uidMap", uidMap], ["gidMap", gidMap], ["autoSubUidMap", subMap]] as const).filter(([, m]) => m.broken).map(([k]) => k as FileKey);
  const declUsers = parseNameList(f.declarativeUsers);
  const declGroups = parseNameList(f.declarativeGroups);
  const groupFile = parseGroupFile(f.group ?? "");
  const passwdFile = parsePasswdFile(f.passwd ?? "");
  const shadowCur = parseShadow(f.shadow ?? "");

  // IDs in use: fixed IDs of the spec and everything in the current databases (inputs that do not
  // change while planning), gathered only when a user or group is new (not on a rerun). The
  // recorded IDs are taken now: planning overwrites map entries.
  const usedGids = () => idsInUse(spec.groups.map((g) => g.gid), groupFile.entries.map((g) => g.gid), groupFile);
  const usedUids = () => idsInUse(spec.users.map((u) => u.uid), passwdFile.entries.map((u) => u.uid), passwdFile);

  return {
    spec, cur, opts, messages, broken,
    say: (real, dry, rest) => messages.push(`${opts.dry ? dry : real} ${rest}`),
    uidMap: uidMap.map, gidMap: gidMap.map, subMap: subMap.map,
    declUsers, declGroups, groupFile, passwdFile, shadowCur,
    gids: new IdAllocator(usedGids, recordedIds(gidMap.map, spec.groups, groupFile.byName)),
    uids: new IdAllocator(usedUids, recordedIds(uidMap.map, spec.users, passwdFile.byName)),
  };
}

/**
 * The IDs `map` records for any name, taken before planning overwrites its entries. Only a
 * declared entry the database does not have yet is revived or allocated an ID, so on a rerun,
 * where all are there, no allocator asks and none is gathered.
 */
function recordedIds(map: IdMap, declared: readonly { name: string }[], current: ReadonlyMap<string, unknown>): Set<number> {
  for (let i = 0; i < declared.length; i++) if (!current.has(declared[i]!.name)) return new Set(map.values());
  return new Set();
}

/** A set of the IDs given: the spec's fixed ones, a database's records' and its verbatim lines' leading ones. */
function idsInUse(fixed: readonly (number | null)[], records: readonly number[], file: Pick<DatabaseFile<unknown>, "verbatim">): Set<number> {
  const used = new Set<number>(records);
  for (const id of fixed) if (id !== null) used.add(id);
  for (const v of file.verbatim) if (v.id !== undefined) used.add(v.id);
  return used;
}

/** /etc/group: declared groups (GIDs kept, revived or allocated), then the kept or removed others. */
function planGroups(p: Planning): { out: Map<string, GroupEntry>; lines: GroupEntry[]; declarative: string } {
  const { spec, say } = p;
  const groupsCur = p.groupFile.entries;
  const groupsCurByName = p.groupFile.byName;
  const out = new Map<string, GroupEntry>();
  for (const g of spec.groups) {
    const existing = groupsCurByName.get(g.name);
    // Members an existing line has besides the declared users (kept while users are mutable).
    let kept: string[] | undefined;
    let gid: number;
    let password: string;
    if (existing) {
      gid = g.gid ?? existing.gid;
      if (gid !== existing.gid) {
        say("warning: not applying", "warning: would not apply", `GID change of group ‘${g.name}’ (${existing.gid} -> ${gid}) in /etc/group`);
        gid = existing.gid;
      }
      password = existing.password;
      if (spec.mutableUsers) {
        for (let i = 0; i < existing.members.length; i++) {
          const m = existing.members[i]!;
          if (!p.declUsers.has(m)) (kept ??= []).push(m);
        }
      }
    } else {
      if (g.gid !== null) gid = g.gid;
      else {
        const revived = p.gids.revive(p.gidMap.get(g.name));
        if (revived !== undefined) {
          say("reviving", "would revive", `group '${g.name}' with GID ${revived}`);
          gid = revived;
        } else gid = p.gids.allocate(SYSTEM_RANGE, "GID");
      }
      password = "x";
    }
    out.set(g.name, { name: g.name, password, gid, members: memberList(g.members, kept) });
    // (gid_t)-1 kept from an existing line is no ID a map may hold (its reader forgets it, warning).
    if (gid <= MAX_ID) p.gidMap.set(g.name, gid);
  }
  const declarative = serializeNameList(out.keys());
  for (const g of groupsCur) {
    if (out.has(g.name)) continue;
    if (!spec.mutableUsers || p.declGroups.has(g.name)) say("removing group", "would remove group", `‘${g.name}’`);
    else out.set(g.name, g);
  }
  const { sorted, shared } = sortById(out.values(), (g) => g.gid);
  if (shared) refuseSharedIds("group", "GID", "/etc/group", spec.groups, (g) => g.gid, groupsCurByName, out, (g) => g.gid);
  return { out, lines: sorted, declarative };
}

const ASCII = /^[\x00-\x7f]*$/;

/**
 * A group's members, sorted bytewise without repeats: the declared ones and those `kept`. When no
 * member is kept and the declared list is ascending by `<` (as NixOS writes it) and ASCII (where
 * `<`, comparing UTF-16 units, is the byte order), it is the answer already.
 */
function memberList(declared: readonly string[], kept: readonly string[] | undefined): string[] {
  if (kept === undefined) {
    let ascending = declared.length === 0 || ASCII.test(declared[0]!);
    for (let i = 1; i < declared.length && ascending; i++) ascending = declared[i - 1]! < declared[i]! && ASCII.test(declared[i]!);
    if (ascending) return declared.length === 0 ? [] : declared.slice();
  }
  const members = new Set(declared);
  if (kept !== undefined) for (let i = 0; i < kept.length; i++) members.add(kept[i]!);
  return sortStringsBytewise([...members]);
}

/** The users' side of the plan: passwd entries, and what the shadow lines and homes get. */
interface PlannedUsers {
  out: Map<string, PasswdEntry>;
  lines: PasswdEntry[];
  declarative: string;
  /** Declared hashes where the shadow line gets them: a new line, or any line with immutable users. */
  hashes: Map<string, string>;
  expires: Map<string, number>;
  homes: HomeDir[];
  /** Users kept from the current files without being declared (mutable users). */
  kept: Set<string>;
}

/** /etc/passwd: declared users (UIDs kept, revived or allocated), then the kept or removed others. */
function planPasswd(p: Planning, groupsOut: Map<string, GroupEntry>): PlannedUsers {
  const { spec, say } = p;
  const usersCur = p.passwdFile.entries;
  const usersCurByName = p.passwdFile.byName;
  const shadowByName = byName(p.shadowCur);
  const r: PlannedUsers = { out: new Map(), lines: [], declarative: "", hashes: new Map(), expires: new Map(), homes: [], kept: new Set() };
  for (const declared of spec.users) {
    const oldHash = shadowByName.get(declared.name)?.hash;
    const u = planUser(p, declared, groupsOut, usersCurByName.get(declared.name), oldHash, r.homes);
    r.out.set(u.entry.name, u.entry);
    // Only a user without a shadow line yet gets its hash there while users are mutable
    // (a declared name is a valid one: never the name of a verbatim line).
    if (u.hashed !== undefined && (!spec.mutableUsers || oldHash === undefined)) r.hashes.set(u.entry.name, u.hashed);
    if (declared.expires !== null) r.expires.set(u.entry.name, expiresToDays(declared.expires)!);
    if (u.entry.uid <= MAX_ID) p.uidMap.set(u.entry.name, u.entry.uid);
  }
  r.declarative = serializeNameList(r.out.keys());
  for (const u of usersCur) {
    if (r.out.has(u.name)) continue;
    if (!spec.mutableUsers || p.declUsers.has(u.name)) say("removing user", "would remove user", `‘${u.name}’`);
    else {
      r.out.set(u.name, u);
      r.kept.add(u.name);
    }
  }
  const { sorted, shared } = sortById(r.out.values(), (u) => u.uid);
  if (shared) refuseSharedIds("user", "UID", "/etc/passwd", spec.users, (u) => u.uid, usersCurByName, r.out, (u) => u.uid);
  r.lines = sorted;
  return r;
}

/** One declared user: its passwd entry, the hash its shadow line gets, and its home (added to `homes`). */
function planUser(p: Planning, declared: UsersSpec["users"][number], groupsOut: Map<string, GroupEntry>, existing: PasswdEntry | undefined, oldHash: string | undefined, homes: HomeDir[]): { entry: PasswdEntry; hashed: string | undefined } {
  const { spec, say, messages, opts } = p;
  // NixOS's module already turns initial passwords into passwords for immutable users
  // (users-groups.nix, mkDefault); hand-written specs get the same meaning.
  const u = spec.mutableUsers ? declared : {
    ...declared,
    hashedPassword: declared.hashedPassword ?? declared.initialHashedPassword,
    password: declared.password ?? (declared.hashedPassword === null ? declared.initialPassword : null),
  };
  let gid: string;
  const named = groupsOut.get(u.group);
  // A group of that name first (group names may be all digits, `2000`), then a numeric GID; a name
  // that starts with a letter is not numeric: no test of the whole name for most users.
  if (named !== undefined) gid = String(named.gid);
  else {
    const c = u.group.charCodeAt(0);
    if (c >= 0x30 && c <= 0x39 && NUMERIC.test(u.group)) gid = String(Number(u.group));
    else {
      messages.push(`warning: user ‘${u.name}’ has unknown group ‘${u.group}’`);
      gid = "65534";
    }
  }
  let uid: number;
  let hashed = u.hashedPassword ?? undefined;
  if (existing) {
    uid = u.uid ?? existing.uid;
    if (uid !== existing.uid) {
      say("warning: not applying", "warning: would not apply", `UID change of user ‘${u.name}’ (${existing.uid} -> ${uid}) in /etc/passwd`);
      uid = existing.uid;
    }
  } else {
    if (u.uid !== null) uid = u.uid;
    else {
      const range = u.isSystemUser ? SYSTEM_RANGE : NORMAL_RANGE;
      const revived = p.uids.revive(p.uidMap.get(u.name), range);
      if (revived !== undefined) {
        say("reviving", "would revive", `user '${u.name}' with UID ${revived}`);
        uid = revived;
      } else uid = p.uids.allocate(range, "UID");
    }
  }
  // Initial passwords apply to a user without a shadow line yet: a new user, or one whose passwd
  // line was written by a run that crashed before /etc/shadow was replaced.
  if (hashed === undefined && (!existing || oldHash === undefined)) {
    if (u.initialPassword !== null) hashed = hashKeeping(u.initialPassword, oldHash, opts);
    else if (u.initialHashedPassword !== null) hashed = u.initialHashedPassword;
  }
  if (u.createHome) homes.push({ user: u.name, path: u.createHomeAt ?? u.home, uid, gid: Number(gid), mode: parseInt(u.homeMode, 8) });
  if (u.hashedPasswordFile !== null) {
    const content = p.cur.passwordFiles.get(u.hashedPasswordFile);
    if (content === null || content === undefined) messages.push(`warning: password file ‘${u.hashedPasswordFile}’ does not exist`);
    else if (typeof content === "object") {
      messages.push(`warning: password file ‘${u.hashedPasswordFile}’ of user ‘${u.name}’ ${content.refused}; ignored`);
      // Ignored means the password stays as it is, also with mutableUsers = false (not `!`).
      hashed ??= oldHash;
    } else {
      const line = content.endsWith("\n") ? content.slice(0, -1) : content;
      // A hash with ':' or a newline would split or inject /etc/shadow lines.
      if (/[:\n\r\0]/.test(line)) {
        messages.push(`warning: password file ‘${u.hashedPasswordFile}’ contains ':' or a line break; ignored`);
        hashed ??= oldHash;
      } else hashed = line;
    }
  } else if (u.password !== null) hashed = hashKeeping(u.password, oldHash, opts);
  let shell = u.shell;
  if (shell === null) {
    if (existing) shell = existing.shell;
    else {
      messages.push(`warning: no declarative or previous shell for ‘${u.name}’, setting shell to nologin`);
      shell = NOLOGIN;
    }
  }
  const entry = { name: u.name, password: existing?.password ?? "x", uid, gid, description: u.description, home: u.home, shell };
  return { entry, hashed };
}

/** /etc/shadow: existing lines keep their place and fields; new users are appended in passwd order. */
function planShadow(p: Planning, users: PlannedUsers): ShadowEntry[] {
  const out: ShadowEntry[] = [];
  const seen = new Set<string>();
  for (const s of p.shadowCur) {
    if (s.verbatim !== undefined) {
      out.push(s); // NIS compat or a comment: kept as it was, in its place
      continue;
    }
    if (!users.out.has(s.name) || seen.has(s.name)) continue;
    seen.add(s.name);
    const exp = users.expires.get(s.name);
    // The parsed line itself when nothing of it changes (the usual case): copied only to change it.
    if (p.spec.mutableUsers && exp === undefined) {
      out.push(s);
      continue;
    }
    const line: ShadowEntry = { ...s, text: undefined };
    if (!p.spec.mutableUsers) line.hash = users.hashes.get(s.name) ?? "!";
    if (exp !== undefined) line.expire = String(exp);
    out.push(line);
  }
  for (const u of users.lines) {
    if (seen.has(u.name)) continue;
    const exp = users.expires.get(u.name);
    const hash = users.hashes.get(u.name) ?? "!";
    const expire = exp === undefined ? "" : String(exp);
    // Its line made here, where three of the nine fields vary (serializeShadow writes it as it is).
    out.push({
      name: u.name, hash, lastChange: "1", min: "", max: "", warn: "", inactive: "", expire, flag: "",
      text: `${u.name}:${hash}:1:::::${expire}:`,
    });
  }
  return out;
}

/** /etc/subuid and /etc/subgid: kept users' own ranges, declared ranges, and automatic ones. */
function planSubIds(p: Planning, users: PlannedUsers): { subUids: SubIdEntry[]; subGids: SubIdEntry[] } {
  const f = p.cur.files;
  // The declared users with subordinate ranges, declared or automatic (the others have none).
  const withSub = new Map<string, UsersSpec["users"][number]>();
  const declaredRanges: { start: number; count: number }[] = [];
  for (const s of p.spec.users) {
    if (s.subUidRanges.length === 0 && s.subGidRanges.length === 0 && !s.autoSubUidGidRange) continue;
    withSub.set(s.name, s);
    for (const r of s.subUidRanges) declaredRanges.push(r);
    for (const r of s.subGidRanges) declaredRanges.push(r);
  }
  // Users kept from the current files (mutable, not declared) keep their own subordinate ranges.
  // Lines are picked by the name before their first ':' (a line's name, when it parses at all), so
  // the declared users' lines, usually all of them, are never parsed.
  const keptSub = (text: string | null) => {
    const kept: string[] = [];
    const lines = (text ?? "").split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      const name = line.slice(0, line.indexOf(":"));
      if (users.kept.has(name)) kept.push(line);
    }
    return kept.length === 0 ? [] : parseSubId(kept.join("\n"));
  };
  const subUids: SubIdEntry[] = keptSub(f.subuid);
  const subGids: SubIdEntry[] = keptSub(f.subgid);
  for (const r of subUids) declaredRanges.push(r);
  for (const r of subGids) declaredRanges.push(r);
  const subAlloc = new SubIdAllocator(new Set(p.subMap.values()), declaredRanges);
  for (const u of users.lines) {
    const s = withSub.get(u.name);
    if (!s) continue;
    for (const r of s.subUidRanges) subUids.push({ name: u.name, start: r.start, count: r.count });
    for (const r of s.subGidRanges) subGids.push({ name: u.name, start: r.start, count: r.count });
    if (s.autoSubUidGidRange) {
      const start = subAlloc.allocate(p.subMap.get(u.name));
      p.subMap.set(u.name, start);
      subUids.push({ name: u.name, start, count: 65536 });
      subGids.push({ name: u.name, start, count: 65536 });
    }
  }
  return { subUids, subGids };
}

/**
 * Refuses a declared entry that is new in this run and got a fixed ID another entry of the result
 * already has: two users with one UID own each other's files, which the configuration did not ask
 * for. Entries declared with the same fixed ID asked for it (NixOS asserts unique fixed IDs unless
 * `users.enforceIdUniqueness = false`); entries that already share an ID in the current file are
 * left as they are (not introduced by this run). Called only when sortById saw a shared ID.
 */
function refuseSharedIds<T extends { name: string }, D extends { name: string }>(
  kind: string, idName: string, file: string, declared: readonly D[], fixedId: (d: D) => number | null,
  current: ReadonlyMap<string, T>, out: Map<string, T>, id: (x: T) => number,
): void {
  const fresh: D[] = [];
  for (let i = 0; i < declared.length; i++) if (!current.has(declared[i]!.name)) fresh.push(declared[i]!);
  if (fresh.length === 0) return;
  // Each ID's first name; the names of IDs several entries have, in the result's order (rare).
  const first = new Map<number, string>();
  let shared: Map<number, string[]> | undefined;
  for (const x of out.values()) {
    const n = id(x);
    const had = first.get(n);
    if (had === undefined) first.set(n, x.name);
    else {
      shared ??= new Map();
      const list = shared.get(n);
      if (list) list.push(x.name);
      else shared.set(n, [had, x.name]);
    }
  }
  if (shared === undefined) return; // every ID is one entry's
  // Entries declared with the same fixed ID share it as asked (NixOS's enforceIdUniqueness = false);
  // an ID another entry holds by allocation, or undeclared, was not asked to be shared.
  const fixed = new Map<string, number | null>(declared.map((x) => [x.name, fixedId(x)]));
  for (const d of fresh) {
    const n = id(out.get(d.name)!);
    const other = shared.get(n)?.find((name) => name !== d.name && !(fixed.get(d.name) === n && fixed.get(name) === n));
    if (other === undefined) continue;
    const how = fixed.has(other) ? "also declared" : `already in ${file}, not declared`;
    throw new IdConflictError(`${kind} ‘${d.name}’ is declared with ${idName} ${n}, which ${kind} ‘${other}’ (${how}) has: two ${kind}s with one ${idName} would share every file; nothing changed`);
  }
}

/**
 * Hashes a plain password, keeping the current hash when it already matches (stable files). A
 * current hash with more than VERIFY_ROUNDS_MAX rounds is not tried (up to 999,999,999 rounds would
 * take an hour at boot): the password is hashed anew instead.
 */
function hashKeeping(pw: string, oldHash: string | undefined, opts: PlanOptions): string {
  return oldHash !== undefined && cheapToVerify(oldHash) && verifySha512Crypt(pw, oldHash) ? oldHash : opts.hashPassword(pw);
}

/** The most SHA-512-crypt rounds a current hash may ask for to be verified (4x the default: ~0.1 s). */
const VERIFY_ROUNDS_MAX = 20_000;

/** Whether verifying against `hash` costs at most VERIFY_ROUNDS_MAX rounds. */
function cheapToVerify(hash: string): boolean {
  const m = /^\$6\$rounds=(\d{1,10})\$/.exec(hash);
  return m === null || Number(m[1]) <= VERIFY_ROUNDS_MAX;
}

function sameMap(a: string, b: string): boolean {
  try {
    return serializeIdMap(parseIdMap("", a)) === serializeIdMap(parseIdMap("", b));
  } catch {
    return false;
  }
}

/** Entries by name (the last one wins, as a Map built from the list would). */
function byName<T extends { name: string }>(list: readonly T[]): Map<string, T> {
  const map = new Map<string, T>();
  for (const x of list) map.set(x.name, x);
  return map;
}
