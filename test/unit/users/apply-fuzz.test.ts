/**
 * Seeded whole-run fuzzing of the users step (planUsersStep + applyUsersPlan, and the built
 * binary for the killed runs) over a hostile root: passwd, group, shadow, subuid and subgid with
 * records, NIS compat lines, comments, blank lines, CRLF, duplicate names, too few or many fields,
 * huge and odd IDs, non-UTF-8 bytes; sometimes a FIFO, a directory, a link out of the root or a
 * dangling link in place of a database or state file (or of /var/lib/nixos); corrupt ID maps; a
 * killed run's temporaries (ours and the etc step's); homes that are files, links (inside and out
 * of the root) or FIFOs; password files that are FIFOs, directories or links out; an
 * /etc/.pwd.lock that is a FIFO or a directory. Sometimes a real run of another spec comes first.
 * For each random valid spec:
 *
 *  1. confined: a host directory beside the root (reachable only through planted links) is
 *     unchanged, also its nodes' owners, modes and ctimes;
 *  2. no hang: each in-process run ends within RUN_MS (a watchdog kills a blocked test), each
 *     binary run within CHILD_MS;
 *  3. typed: a run returns 0 or 1 or throws one of the users step's typed errors, never another
 *     exception (TypeError, RangeError, an errno error);
 *  4. converged: planned again, nothing changes (but with mutableUsers /etc/group once: a member
 *     kept as imperative because the old declarative-users did not name it is dropped by the next
 *     run, update-users-groups.pl's two-run convergence; the third plan changes nothing), and
 *     applied again, no file is replaced (same inode, same bytes);
 *  5. no temporary of the users step's files is left; the etc step's temporaries are kept;
 *  6. kept: each NIS compat or comment line of passwd, group and shadow is still there, byte for
 *     byte and in order; with mutableUsers, each imperative user (not declared now or before) too;
 *  7. crash-safe: a copy of the root, where `dist/stagehand users` is killed (strace injects
 *     SIGKILL at a random rename, fsync, write or mkdir, or a timer fires at a random moment), then
 *     run again in-process, ends as the uninterrupted root (every file and home, password hashes
 *     up to their random salt); at the kill, each database and state file is the old or the new one.
 *
 * Build dist/stagehand first (npm run build). Cases are built on /dev/shm when there is one.
 * A failure names its seed; replay one case (printing the spec and what was planted):
 * STAGEHAND_FUZZ_SEED=N bun test/unit/users/apply-fuzz.test.ts
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { applyUsersPlan, planUsersStep } from "../../../src/users/step.ts";
import { FILES, type FileKey } from "../../../src/users/files.ts";
import { SpecError } from "../../../src/users/spec.ts";
import { IdConflictError, type UsersPlanData } from "../../../src/users/plan.ts";
import { AllocationError } from "../../../src/users/allocate.ts";
import { StateError, parseNameList } from "../../../src/users/state.ts";
import { ConcurrentChangeError, UsersWriteError } from "../../../src/users/write.ts";
import { DatabaseLockedError } from "../../../src/users/lock.ts";
import { isCompatOrComment, isRecord } from "../../../src/users/verbatim.ts";
import { InputFileError } from "../../../src/fs/read.ts";
import { resolveInRoot } from "../../../src/fs/root.ts";
import { isTempName, tempPathFor } from "../../../src/fs/staged.ts";
import { fuzzSeeds, Random } from "../../harness/random.ts";
import { type Json, NAMES, randomSpec } from "../../harness/random-users.ts";
import { stagedTemporaries } from "../../harness/temporaries.ts";
import { heartbeat } from "../../harness/watchdog.ts";
import { tempDir } from "../tmp.ts";

const BIN = join(import.meta.dir, "../../../dist/stagehand");
/** Where cases are built: a tmpfs when there is one (fsyncs cost nothing there), else the tmp dir. */
const BASE = existsSync("/dev/shm") ? "/dev/shm" : undefined;
/** Cases per run: each is about ten in-process runs and two or three processes. */
const CASES = BASE === undefined ? 40 : 150;
/** The longest an in-process plan and apply of these small roots may take. */
const RUN_MS = 5_000;
/** The longest a child process may take (it never waits for a lock here). */
const CHILD_MS = 10_000;

const made = new Set<string>();
process.on("exit", () => { for (const d of made) rmSync(d, { recursive: true, force: true }); });
function caseDir(): string {
  if (BASE === undefined) return tempDir("users-apply-fuzz-");
  const d = mkdtempSync(join(BASE, "users-apply-fuzz-"));
  made.add(d);
  return d;
}

const KEYS = Object.keys(FILES) as FileKey[];
const DB_KEYS: FileKey[] = ["passwd", "group", "shadow", "subuid", "subgid"];
/** Names an admin adds imperatively (and some the specs declare). */
const IMPS = ["imp1", "imp2", "imp3", ...NAMES.slice(1)];

// ---------------------------------------------------------------------------------------------
// A hostile root

let mknod: ((path: string) => number) | undefined;
/** A FIFO at `path` (mknod(2), as mkfifo leaves it). */
function makeFifo(path: string): void {
  if (!mknod) {
    const ffi = require("bun:ffi") as typeof import("bun:ffi");
    const lib = ffi.dlopen("libc.so.6", { mknod: { args: [ffi.FFIType.ptr, ffi.FFIType.u32, ffi.FFIType.u64], returns: ffi.FFIType.i32 } });
    mknod = (p) => lib.symbols.mknod(ffi.ptr(Buffer.from(`${p}\0`)), 0o010000 | 0o644, 0) as number;
  }
  if (mknod(path) !== 0) throw new Error(`mknod ${path} failed`);
}

interface Case {
  seed: number;
  /** What was planted and run (printed on a replay's failure). */
  log: string[];
  /** The top directory: `root/`, `twin/` and `host/` (stands for the host outside the roots). */
  top: string;
  host: string;
}

/** An odd but plausible ID field. */
function idField(r: Random): string {
  return r.pick(["0", "1", "100", "400", "999", "1000", "1001", "1100", "1500", "29999", "65534", "4294967295", "99999999999", "+0", " 7", "00000000000", "-1", "12abc", "", "x"]);
}

/** A line that is no record: NIS compat, a comment, too few fields, non-UTF-8 bytes (latin1: one char per byte). */
function oddLine(r: Random, fields: number): string {
  return r.pick([
    "+", "+".padEnd(fields, ":"), `-${r.pick(IMPS)}`, "+@netgroup", `-@${r.pick(IMPS)}::::::`, "# a comment", "#", "# caf\u00e9 na\u00efve \u00ff\u00fe",
    `${r.pick(IMPS)}:x`, "   ", "only-a-name", "nul\u0000:x:1300:100::/:/bin/sh", "jos\u00e9:x:1301:100::/:/bin/sh", "\u00e9t\u00e9:x:abc:", `# ${"long ".repeat(40)}`, "+::::::\r",
  ]);
}

/** A record line of `kind` (passwd, group, shadow, subuid/subgid) for `name`, sometimes malformed. */
function recordLine(r: Random, kind: FileKey, name: string): string {
  switch (kind) {
    case "passwd": {
      const f = [name, "x", idField(r), r.pick(["100", "0", "users", "65534", "1"]), r.pick(["", "An admin", "Jos\u00e9 \u00e9\u00e8", "a,b,c"]), r.pick([`/home/${name}`, "/var/empty", "/", ""]), r.pick(["/bin/sh", "/bin/false", ""])];
      if (r.chance(0.1)) f.push("extra", "fields");
      if (r.chance(0.05)) f.length = 4;
      return f.join(":");
    }
    case "group": {
      const members = IMPS.filter(() => r.chance(0.2));
      const f = [name, r.pick(["x", "", "!"]), idField(r), members.join(",")];
      if (r.chance(0.05)) f.push("extra");
      return f.join(":");
    }
    case "shadow": {
      const f = [name, r.pick(["!", "*", "$6$salt$hash", "$y$j9T$a$b", "", "!!"]), "19000", "0", "99999", "7", "", "", ""];
      if (r.chance(0.1)) f.length = 2 + r.int(6);
      if (r.chance(0.05)) f.push("more");
      return f.join(":");
    }
    default:
      return r.chance(0.8) ? `${name}:${r.pick(["100000", "165536", "200000", "231072", "4294900000"])}:${r.pick(["65536", "1", "0"])}` : `${name}:x:y`;
  }
}

/** A database's text: records and odd lines, some ending in CRLF, in the latin1 "one char per byte" form. */
function databaseText(r: Random, kind: FileKey): string {
  const lines: string[] = [];
  const groupNames = ["root", "users", "wheel", "svcgrp", "shadow", "media", "impg"];
  const names = kind === "group" ? groupNames : ["root", ...IMPS];
  if (kind === "passwd") lines.push("root:x:0:0:System administrator:/root:/bin/sh");
  if (kind === "group") lines.push("root:x:0:", "users:x:100:");
  for (let n = r.int(9); n > 0; n--) {
    const what = r.int(10);
    if (what < 6) lines.push(recordLine(r, kind, r.pick(names)));
    else if (what < 9) lines.push(oddLine(r, kind === "passwd" ? 7 : kind === "shadow" ? 9 : 4));
    else lines.push("");
  }
  for (let i = lines.length - 1; i > 0; i--) { const j = r.int(i + 1); [lines[i], lines[j]] = [lines[j]!, lines[i]!]; }
  return lines.map((l) => l + (r.chance(0.05) ? "\r" : "")).join("\n") + (r.chance(0.9) ? "\n" : "");
}

/** A state file's text: valid, or corrupt in one of many ways. */
function stateText(r: Random, kind: FileKey): string {
  if (kind === "declarativeUsers") return r.chance(0.8) ? IMPS.concat("root").filter(() => r.chance(0.3)).sort().join(" ") : " alice\n\tbob  imp1 \n";
  if (kind === "declarativeGroups") return r.chance(0.8) ? ["root", "users", "wheel", "media", "impg"].filter(() => r.chance(0.3)).sort().join(" ") : "wheel\n\nmedia";
  const base = kind === "autoSubUidMap" ? [100000, 165536, 231072, 4294967000, 4294967294] : [400, 999, 1000, 1001, 1100, 1500, 29999, 0];
  const names = kind === "gidMap" ? ["root", "users", "wheel", "media", "impg", "gone"] : ["root", ...IMPS, "gone"];
  const k = r.int(12);
  if (k < 7) {
    const m: Record<string, unknown> = {};
    for (const n of names) if (r.chance(0.4)) m[n] = r.pick(base);
    return JSON.stringify(m) + (kind === "autoSubUidMap" ? "\n" : "");
  }
  return r.pick([
    "not json", "[1,2]", "{\"alice\":\"1005\",\"bob\":-1,\"carol\":1e20,\"svc\":4294967295,\"imp1\":null,\"imp2\":1.5}", "[".repeat(300), "",
    "{\"alice\":1000,\"alice\":1001}", "{\"__proto__\":1000,\"constructor\":1001}", "\u00ff\u00fe{}", "null",
  ]);
}

/**
 * Something hostile at the in-root path `rel` instead of a file (a FIFO, a directory, a link out of
 * the root, a dangling link, a link to another file inside); false when nothing was planted.
 */
function plantNode(r: Random, c: Case, root: string, rel: string): string {
  const p = join(root, rel);
  rmSync(p, { recursive: true, force: true });
  mkdirSync(dirname(p), { recursive: true });
  const k = r.int(6);
  if (k === 0) makeFifo(p);
  else if (k === 1) { mkdirSync(p); writeFileSync(join(p, "x"), "x\n"); }
  else if (k === 2) symlinkSync(join(c.host, r.pick(["f", "d"])), p);
  else if (k === 3) symlinkSync(`${"../".repeat(rel.split("/").length + 1)}host/f`, p);
  else if (k === 4) symlinkSync("/nonexistent/file", p);
  else symlinkSync("/srv/elsewhere", p);
  return ["fifo", "dir", "link to the host (absolute)", "link to the host (relative)", "dangling link", "link inside"][k]!;
}

/** Prepares `root`: files, state, plants (random), as an admin or an attacker left them. */
function plant(r: Random, c: Case, root: string, spec: Json): void {
  const users = spec.users as Json[];
  for (const d of ["etc", "home", "run", "srv"]) mkdirSync(join(root, d), { recursive: true });
  for (const k of KEYS) {
    if (r.chance(0.15)) continue; // missing
    const text = DB_KEYS.includes(k) ? databaseText(r, k) : stateText(r, k);
    // Latin1: the text is "one char per byte", so the non-UTF-8 bytes are written as they are.
    const p = join(root, FILES[k]);
    mkdirSync(dirname(p), { recursive: true });
    const existing = existsSync(p) ? readFileSync(p, "latin1") : "";
    // After a run of another spec, the hostile lines are added to what it wrote.
    writeFileSync(p, Buffer.from(DB_KEYS.includes(k) && existing !== "" && r.chance(0.7) ? existing + text : text, "latin1"));
  }
  // Rarely a file, or /var/lib/nixos, is no regular file.
  if (r.chance(0.15)) {
    const rel = r.chance(0.15) ? "var/lib/nixos" : FILES[r.pick(KEYS)];
    c.log.push(`/${rel}: ${plantNode(r, c, root, rel)}`);
  }
  // Rarely a database is a link to another one, or a user owns a home's parent and put a link there.
  if (r.chance(0.05)) {
    const [a, b] = [r.pick(DB_KEYS), r.pick(DB_KEYS)];
    if (a !== b) { rmSync(join(root, FILES[a]), { recursive: true, force: true }); symlinkSync(`/${FILES[b]}`, join(root, FILES[a])); c.log.push(`/${FILES[a]} -> /${FILES[b]}`); }
  }
  for (const u of users) {
    if (typeof u.home !== "string" || !/^\/home\/[a-z0-9]+$/.test(u.home) || !r.chance(0.1)) continue;
    // /home/NAME/sub is the user's; sub/svc the home of a service: sub a link to the host or to /etc.
    const own = join(root, u.home.slice(1));
    rmSync(own, { recursive: true, force: true });
    mkdirSync(own, { recursive: true });
    lchownSync(own, 1000, 100);
    symlinkSync(r.chance(0.5) ? c.host : "/etc", join(own, "sub"));
    const svc = (users.find((x) => x.name === "svc") ?? users[users.length - 1])!;
    svc.home = `${u.home}/sub/svc`;
    svc.createHome = true;
    c.log.push(`${u.home}/sub: a user's link; home of ${svc.name} below it`);
  }
  // A killed run's temporaries: ours (swept) and the etc step's (kept).
  for (let n = r.chance(0.4) ? 1 + r.int(3) : 0; n > 0; n--) {
    const target = r.chance(0.8) ? FILES[r.pick(KEYS)] : `etc/${r.pick(["hosts", "passwd-", "group.conf"])}`;
    const dir = join(root, dirname(target));
    if (!lstatSync(dir, { throwIfNoEntry: false })?.isDirectory()) continue;
    const tmp = tempPathFor(join(dir, target.slice(target.lastIndexOf("/") + 1)), r.pick([undefined, undefined, "link"]));
    const k = r.int(3);
    if (k === 0) writeFileSync(tmp, "half", { mode: 0o600 });
    else if (k === 1) symlinkSync(join(c.host, "f"), tmp);
    else { mkdirSync(tmp); writeFileSync(join(tmp, "y"), "y"); }
    c.log.push(`temporary ${tmp.slice(root.length)}`);
  }
  // Homes in the way, and their parents.
  for (const u of users) {
    if (typeof u.home !== "string" || !/^\/home\/[a-z0-9]+$/.test(u.home) || !r.chance(0.3)) continue;
    c.log.push(`home ${u.home}: ${plantNode(r, c, root, u.home.slice(1))}`);
  }
  if (r.chance(0.05)) { rmSync(join(root, "home"), { recursive: true, force: true }); symlinkSync(r.chance(0.5) ? c.host : "/srv", join(root, "home")); c.log.push("/home: a link"); }
  // Password files: FIFOs, directories, links out.
  for (const n of NAMES) {
    const p = join(root, `run/pw-${n}`);
    const k = r.int(10);
    if (k < 3) writeFileSync(p, r.pick(["$y$j9T$f$f\n", "bad:hash\n", "", "$6$x$y\r\n"]));
    else if (k === 3) c.log.push(`/run/pw-${n}: ${plantNode(r, c, root, `run/pw-${n}`)}`);
  }
  // The lock in the way.
  const lock = r.int(12);
  if (lock < 3) rmSync(join(root, "etc/.pwd.lock"), { recursive: true, force: true });
  if (lock === 0) { makeFifo(join(root, "etc/.pwd.lock")); c.log.push("/etc/.pwd.lock: fifo"); }
  if (lock === 1) { mkdirSync(join(root, "etc/.pwd.lock")); writeFileSync(join(root, "etc/.pwd.lock/x"), ""); c.log.push("/etc/.pwd.lock: dir"); }
  if (lock === 2) { symlinkSync(join(c.host, "f"), join(root, "etc/.pwd.lock")); c.log.push("/etc/.pwd.lock: link out"); }
  if (existsSync(join(root, "etc/shadow")) && lstatSync(join(root, "etc/shadow")).isFile() && r.chance(0.3)) chmodSync(join(root, "etc/shadow"), 0o644);
}

/** Extras on a random spec: setgid homes, more homes, members the admin added, sub-ID ranges. */
function extendSpec(r: Random, spec: Json): Json {
  for (const u of spec.users as Json[]) {
    if (u.name === "root") continue;
    if (r.chance(0.2)) u.homeMode = r.pick(["02770", "0750", "1777", "0"]);
    if (r.chance(0.2)) u.createHome = true;
    if (r.chance(0.1)) u.subGidRanges = [{ startGid: r.pick([100000, 300000, 4294000000]), count: r.pick([1, 65536]) }];
    if (r.chance(0.05)) u.home = r.pick(["/home/x/../y", "/home//z/", "/srv/deep/er/home"]);
  }
  for (const g of spec.groups as Json[]) if (r.chance(0.2)) g.members = [...new Set([...(g.members as string[]), r.pick(IMPS)])].sort();
  return spec;
}

// ---------------------------------------------------------------------------------------------
// Looking at a root

/** A fingerprint of the node at a host path: type, mode, owner, content or target (never opening a FIFO). */
function print(p: string, times = false): string | undefined {
  let st;
  try { st = lstatSync(p); } catch { return undefined; }
  const own = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}${times ? ` @${st.ctimeMs}` : ""}`;
  if (st.isSymbolicLink()) return `link ${readlinkSync(p)}`;
  if (st.isDirectory()) return `dir ${own}`;
  if (st.isFile()) return `file ${own} ${JSON.stringify(normalHashes(readFileSync(p, "latin1")))}`;
  return st.isFIFO() ? `fifo ${own}` : `other ${own}`;
}

/** Hashes a plan makes (sha512crypt, a fresh salt each time), as one token. */
function normalHashes(text: string): string {
  return text.replace(/\$6\$[^:\n]*/g, "$6$HASH");
}

/**
 * Every node under `dir` by relative path, without names that carry the time (`.broken-`) or a
 * random part (temporaries: checked on their own), and the lock.
 */
function snapshot(dir: string, times = false): Record<string, string> {
  const snap: Record<string, string> = {};
  const walk = (rel: string) => {
    let names: string[];
    try { names = readdirSync(join(dir, rel)).sort(); } catch { return; }
    for (const n of names) {
      const name = rel === "" ? n : `${rel}/${n}`;
      if (n.includes(".broken-") || name === "etc/.pwd.lock" || isTempName(n)) continue;
      snap[name] = print(join(dir, name), times)!;
      if (snap[name].startsWith("dir")) walk(name);
    }
  };
  walk("");
  return snap;
}

/** What each database and state file is (its bytes as latin1 text, null when missing, else what is there). */
function files(root: string): Record<FileKey, string | null> {
  const out = {} as Record<FileKey, string | null>;
  for (const k of KEYS) {
    let p: string;
    try { p = resolveInRoot(root, `/${FILES[k]}`); } catch (e) { out[k] = `<unresolvable: ${(e as NodeJS.ErrnoException).code}>`; continue; }
    let st;
    try { st = lstatSync(p, { throwIfNoEntry: false }); } catch (e) { out[k] = `<${(e as NodeJS.ErrnoException).code}>`; continue; }
    out[k] = st === undefined ? null : st.isFile() ? readFileSync(p, "latin1") : `<${st.isFIFO() ? "fifo" : st.isDirectory() ? "dir" : "other"}>`;
  }
  return out;
}

/** The identity of each file (inode and bytes): a run that writes nothing keeps all of them. */
function identities(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const f = files(root);
  for (const k of KEYS) {
    let p: string;
    try { p = resolveInRoot(root, `/${FILES[k]}`); } catch { continue; }
    let st;
    try { st = lstatSync(p, { throwIfNoEntry: false }); } catch { st = undefined; }
    out[k] = st ? `${st.ino} ${f[k]}` : "missing";
  }
  return out;
}

/** The users step's temporaries left in /etc and /var/lib/nixos (resolved inside the root). */
function ourTemps(root: string): string[] {
  const found: string[] = [];
  const own = new Set(KEYS.map((k) => FILES[k].slice(FILES[k].lastIndexOf("/") + 1)));
  for (const d of ["/etc", "/var/lib/nixos"]) {
    let host: string;
    try { host = resolveInRoot(root, d); } catch { continue; }
    let list: string[];
    try { list = readdirSync(host); } catch { continue; }
    for (const n of list) if (isTempName(n) && own.has(n.slice(1, n.lastIndexOf(".stagehand-")))) found.push(`${d}/${n}`);
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Runs

const TYPED = [SpecError, InputFileError, StateError, IdConflictError, AllocationError, ConcurrentChangeError, UsersWriteError, DatabaseLockedError];

interface Outcome {
  status?: number;
  /** The plan applied (when planning succeeded). */
  plan?: UsersPlanData;
  error?: Error;
  messages: string[];
}

/** Plans and applies in-process; checks the outcome is typed and timely (2, 3). */
async function runUsers(c: Case, label: string, root: string, spec: string): Promise<Outcome> {
  heartbeat("users apply fuzz", `seed ${c.seed} ${label}`);
  const messages: string[] = [];
  const start = Date.now();
  let out: Outcome;
  try {
    const plan = planUsersStep(root, spec, false);
    out = { status: await applyUsersPlan(root, plan, (l) => messages.push(l), {}), messages, plan: plan.data };
  } catch (e) {
    out = { error: e as Error, messages };
  }
  const ms = Date.now() - start;
  assert.ok(ms < RUN_MS, `seed ${c.seed} ${label}: took ${ms} ms`);
  if (out.error) {
    assert.ok(TYPED.some((t) => out.error instanceof t), `seed ${c.seed} ${label}: an untyped error: ${out.error.stack}\nmessages: ${messages.join("\n")}${ctx(c)}`);
  } else {
    assert.ok(out.status === 0 || out.status === 1, `seed ${c.seed} ${label}: status ${out.status}`);
  }
  c.log.push(`${label}: ${out.error ? `${out.error.name}: ${out.error.message}` : `status ${out.status}`}${messages.length ? `\n  ${messages.join("\n  ")}` : ""}`);
  return out;
}

function ctx(c: Case): string {
  return process.env.STAGEHAND_FUZZ_SEED ? `\n${c.log.join("\n")}` : "";
}

/** Runs the binary on `root`, killed by strace at a random system call or by a timer; resolves when it is gone. */
async function killedRun(r: Random, c: Case, root: string, spec: string): Promise<string> {
  heartbeat("users apply fuzz", `seed ${c.seed} killed run`);
  let argv: string[];
  let delay: number | undefined;
  let how: string;
  if (r.chance(0.75)) {
    const sys = r.pick(["rename", "fsync", "write", "mkdir", "openat", "fchown", "link"]);
    const n = 1 + r.int(sys === "openat" ? 60 : sys === "write" ? 12 : 6);
    argv = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", `trace=${sys}`, "-e", `inject=${sys}:signal=SIGKILL:when=${n}`, BIN, "users", "--root", root, spec];
    how = `killed at ${sys} #${n}`;
  } else {
    argv = [BIN, "users", "--root", root, spec];
    delay = r.next() * 60;
    how = `killed after ${delay.toFixed(1)} ms`;
  }
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const result = await new Promise<string>((resolve) => {
    const t = delay === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), delay);
    const hang = setTimeout(() => { child.kill("SIGKILL"); resolve("hung"); }, CHILD_MS);
    child.on("close", (code, signal) => { clearTimeout(t); clearTimeout(hang); resolve(signal ? `killed (${signal})` : `exit ${code}`); });
  });
  assert.is.not(result, "hung", `seed ${c.seed}: the binary hung (${how})${ctx(c)}`);
  // An untyped error is printed by the CLI as its message: the in-process runs judge those.
  c.log.push(`twin ${how}: ${result}${stderr ? `\n  ${stderr.trimEnd().split("\n").join("\n  ")}` : ""}`);
  return how;
}

// ---------------------------------------------------------------------------------------------
// Checks

/** The lines of a database text that are not records (NIS compat, comments), in order. */
function verbatimLines(text: string | null): string[] {
  if (text === null || text.startsWith("<")) return [];
  return text.split("\n").filter((l) => l !== "" && isCompatOrComment(l.slice(0, l.indexOf(":") >>> 0)));
}

/** Whether `sub` is a subsequence of `all`. */
function inOrder(sub: readonly string[], all: readonly string[]): boolean {
  let i = 0;
  for (const x of all) if (i < sub.length && x === sub[i]) i++;
  return i === sub.length;
}

/**
 * The NIS compat and comment lines of a passwd or group text (docs/users.md: kept in their place):
 * those before the first record, those after the last, and all of them.
 */
function placedLines(text: string | null): { top: string[]; end: string[]; all: string[] } {
  const out = { top: [] as string[], end: [] as string[], all: [] as string[] };
  if (text === null || text.startsWith("<")) return out;
  let seenRecord = false;
  for (const l of text.split("\n")) {
    if (l === "") continue;
    const f = l.split(":");
    if (isRecord(f[0]!, f[2])) { seenRecord = true; out.end = []; continue; }
    if (!isCompatOrComment(f[0]!)) continue;
    out.all.push(l);
    (seenRecord ? out.end : out.top).push(l);
  }
  return out;
}

/** 6: the admin's lines kept, and with mutableUsers the imperative users. */
function checkKept(c: Case, label: string, before: Record<FileKey, string | null>, after: Record<FileKey, string | null>, spec: Json): void {
  const fail = (k: string, what: string) => `seed ${c.seed} ${label}: /etc/${k} ${what}\nbefore: ${JSON.stringify(before[k as FileKey])}\nnow: ${JSON.stringify(after[k as FileKey])}${ctx(c)}`;
  for (const k of ["passwd", "group"] as const) {
    const was = placedLines(before[k]);
    const now = placedLines(after[k]);
    // Every line kept (records move with their IDs, the lines after them with them), the top and end ones there.
    assert.equal([...now.all].sort(), [...was.all].sort(), fail(k, "lost the admin's lines"));
    // (Lines whose records are all gone move to the top, after those that were there.)
    assert.equal(now.top.slice(0, was.top.length), was.top, fail(k, "moved the admin's lines at the top"));
    if (now.all.length > 0 && after[k]!.split("\n").some((l) => isRecord(l.split(":")[0]!, l.split(":")[2]))) assert.ok(inOrder(was.end, now.end), fail(k, "moved the admin's lines at the end"));
  }
  // /etc/shadow keeps each line in its place (users' lines are removed or appended).
  assert.ok(inOrder(verbatimLines(before.shadow), (after.shadow ?? "").split("\n")), fail("shadow", "lost or moved the admin's lines"));
  if (spec.mutableUsers !== true || before.passwd === null || before.passwd.startsWith("<")) return;
  const declaredBefore = parseNameList(before.declarativeUsers?.startsWith("<") ? null : before.declarativeUsers);
  const declared = new Set((spec.users as Json[]).map((u) => u.name as string));
  const names = new Set((after.passwd ?? "").split("\n").map((l) => l.slice(0, l.indexOf(":"))));
  for (const l of before.passwd.split("\n")) {
    const f = l.split(":");
    if (!isRecord(f[0]!, f[2]) || declared.has(f[0]!) || declaredBefore.has(f[0]!)) continue;
    assert.ok(names.has(f[0]!), `seed ${c.seed} ${label}: the imperative user ${f[0]} was not kept${ctx(c)}`);
  }
}

/** Each database's mode and owner (regular files only), by key. */
function modes(root: string): Partial<Record<FileKey, string>> {
  const out: Partial<Record<FileKey, string>> = {};
  for (const k of KEYS) {
    try {
      const st = lstatSync(resolveInRoot(root, `/${FILES[k]}`));
      if (st.isFile()) out[k] = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    } catch { /* missing or unreachable */ }
  }
  return out;
}

/**
 * After a run: /etc/shadow is 0640 root:shadow (0 without a shadow group); another file rewritten
 * keeps its mode and owner (a new one 0644 root:root); each home made or found a directory has
 * the planned owner and mode.
 */
function checkModes(c: Case, root: string, was: Partial<Record<FileKey, string>>, plan: UsersPlanData): void {
  const now = modes(root);
  const at = `seed ${c.seed} the run`;
  if (now.shadow !== undefined) assert.is(now.shadow, `640 0:${plan.shadowGid}`, `${at}: /etc/shadow's mode${ctx(c)}`);
  for (const k of plan.changed) if (k !== "shadow" && now[k] !== undefined) assert.is(now[k], was[k] ?? "644 0:0", `${at}: /${FILES[k]}'s mode${ctx(c)}`);
  // (Two users may share a home: the last one made it theirs.)
  const last = new Map(plan.homes.map((h) => [h.path, h]));
  for (const h of last.values()) {
    // An existing user whose ID field reads as 4294967295, (uid_t)-1, keeps it (as in the Perl
    // script), and chown(2) takes -1 as "leave it": such a home keeps its owner.
    if (h.uid === 0xffffffff || h.gid === 0xffffffff) continue;
    let st;
    try { st = lstatSync(resolveInRoot(root, h.path, false)); } catch { continue; }
    if (!st.isDirectory()) continue;
    assert.is(`${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`, `${h.mode.toString(8)} ${h.uid}:${h.gid}`, `${at}: home ${h.path}${ctx(c)}`);
  }
}

/** 4: planned again nothing changes (group may settle once), and applied again no file is replaced. */
async function checkConverged(c: Case, label: string, root: string, spec: string, mutable: boolean): Promise<void> {
  for (let round = 0; round < 2; round++) {
    const plan = planUsersStep(root, spec, false);
    const changed = plan.data.changed;
    const settles = round === 0 && mutable && changed.length > 0 && changed.every((k) => k === "group");
    if (!settles) assert.equal(changed, [], `seed ${c.seed} ${label}: not converged, would write ${changed.join(", ")}\n${changed.map((k) => `${k}: ${JSON.stringify(plan.data.current[k])} -> ${JSON.stringify(plan.data.next[k])}`).join("\n")}${ctx(c)}`);
    const before = identities(root);
    await runUsers(c, `${label}, again (${round + 1})`, root, spec);
    if (!settles) {
      assert.equal(identities(root), before, `seed ${c.seed} ${label}: a no-op run replaced a file${ctx(c)}`);
      return;
    }
  }
}

/** 7: at the kill, each file is the old or the new one (a declarative list also the union of both). */
function checkOldOrNew(c: Case, how: string, old: Record<FileKey, string | null>, now: Record<FileKey, string | null>, want: Record<FileKey, string | null>): void {
  const union = (a: string | null, b: string | null) => [...new Set([...parseNameList(a), ...parseNameList(b)])].sort().join(" ");
  for (const k of KEYS) {
    const n = now[k] === null ? null : normalHashes(now[k]!);
    const o = old[k] === null ? null : normalHashes(old[k]!);
    const w = want[k] === null ? null : normalHashes(want[k]!);
    const isUnion = k.startsWith("declarative") && n === union(old[k], want[k]);
    assert.ok(n === o || n === w || isUnion, `seed ${c.seed} twin ${how}: /${FILES[k]} is neither old nor new: ${JSON.stringify(n)}\nold: ${JSON.stringify(o)}\nnew: ${JSON.stringify(w)}${ctx(c)}`);
  }
}

// ---------------------------------------------------------------------------------------------

async function fuzzCase(seed: number): Promise<void> {
  const r = new Random(seed);
  const top = caseDir();
  const c: Case = { seed, log: [], top, host: join(top, "host") };
  const root = join(top, "root");
  const twin = join(top, "twin");
  mkdirSync(join(c.host, "d"), { recursive: true });
  writeFileSync(join(c.host, "f"), "host file\n", { mode: 0o640 });
  writeFileSync(join(c.host, "d/g"), "host dir file\n");
  for (const p of ["f", "d", "d/g"]) lchownSync(join(c.host, p), 4321, 4321);
  chmodSync(join(c.host, "d"), 0o750);
  mkdirSync(root);

  // Sometimes a real run of another spec first (a realistic state, then edited).
  if (r.chance(0.4)) {
    const first = join(top, "first.json");
    writeFileSync(first, JSON.stringify(randomSpec(r)));
    for (const d of ["etc", "home", "run"]) mkdirSync(join(root, d), { recursive: true });
    await runUsers(c, "a first spec", root, first);
  }
  const spec = extendSpec(r, randomSpec(r));
  const specPath = join(top, "spec.json");
  plant(r, c, root, spec);
  writeFileSync(specPath, JSON.stringify(spec));
  c.log.unshift(`spec: ${JSON.stringify(spec)}`);
  // The twin: the same root, where the run is killed.
  const cp = spawnSync("cp", ["-a", root, twin]);
  assert.is(cp.status, 0, `cp: ${cp.stderr}`);
  const hostBefore = snapshot(c.host, true);
  const before = files(root);
  const beforeModes = modes(root);
  const tempsBefore = stagedTemporaries(root).filter((t) => !ourTemps(root).includes(t));

  // The uninterrupted run.
  const out = await runUsers(c, "the run", root, specPath);
  // 1. Confined.
  assert.equal(snapshot(c.host, true), hostBefore, `seed ${seed}: the host directory changed${ctx(c)}`);
  const after = files(root);
  if (!out.error) {
    // 5. No temporary of ours; the etc step's kept.
    assert.equal(ourTemps(root), [], `seed ${seed}: temporaries left${ctx(c)}`);
    assert.equal(stagedTemporaries(root), tempsBefore, `seed ${seed}: other temporaries changed${ctx(c)}`);
    checkKept(c, "the run", before, after, spec);
    checkModes(c, root, beforeModes, out.plan!);
    await checkConverged(c, "the run", root, specPath, spec.mutableUsers === true);
    assert.equal(snapshot(c.host, true), hostBefore, `seed ${seed}: the host directory changed by a rerun${ctx(c)}`);
  } else {
    // Bad input changes nothing (but the sweep of our temporaries and the lock moved aside, under the lock).
    assert.equal(files(root), before, `seed ${seed}: a refused run changed a file${ctx(c)}`);
  }
  const settled = snapshot(root);

  // 7. The twin: killed mid-run, then run to completion; the same end.
  const how = await killedRun(r, c, twin, specPath);
  checkOldOrNew(c, how, before, files(twin), after);
  for (const t of ourTemps(twin)) {
    if (!t.startsWith("/etc/.shadow.")) continue;
    const st = lstatSync(resolveInRoot(twin, t, false));
    assert.ok(!st.isFile() || (st.mode & 0o007) === 0, `seed ${seed} twin ${how}: ${t} is world-readable${ctx(c)}`);
  }
  assert.equal(snapshot(c.host, true), hostBefore, `seed ${seed}: the host directory changed by the killed run${ctx(c)}`);
  const out2 = await runUsers(c, "the twin's rerun", twin, specPath);
  assert.equal(snapshot(c.host, true), hostBefore, `seed ${seed}: the host directory changed by the twin's rerun${ctx(c)}`);
  if (out.error) {
    assert.ok(out2.error !== undefined, `seed ${seed}: the root's run failed, the twin's did not${ctx(c)}`);
    return void rmSync(top, { recursive: true, force: true });
  }
  assert.equal(ourTemps(twin), [], `seed ${seed}: temporaries left on the twin${ctx(c)}`);
  if (JSON.stringify(snapshot(twin)) !== JSON.stringify(settled)) {
    // The twin may have settled a step earlier (the killed run recorded declarative-users first).
    await checkConverged(c, "the twin", twin, specPath, spec.mutableUsers === true);
    assert.equal(snapshot(twin), settled, `seed ${seed} twin ${how}: killed and run again, not as the uninterrupted root${ctx(c)}`);
  }
  rmSync(top, { recursive: true, force: true });
  made.delete(top);
}

test(`random specs over a hostile root: confined, typed, converging, kept, crash-safe (${CASES} seeds)`, async () => {
  assert.ok(existsSync(BIN), `${BIN} is missing: npm run build`);
  for (const seed of fuzzSeeds(CASES)) await fuzzCase(seed);
});

test.run();
