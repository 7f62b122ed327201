/**
 * Seeded property fuzzing of the etc step: random generations of an etc tree (links, copies with
 * random modes and owners, direct links, directory sources, nesting, odd but legal names, entries
 * changing kind between generations) applied A, B (and sometimes A again) to a root whose /etc a
 * hostile admin or attacker prepared (FIFOs, sockets, links out of the root, into /etc/static or the
 * store, loops, directories and files in each other's places, admin files at declared names, a
 * corrupt /etc/.clean, a killed run's temporaries). After each run:
 *
 *  1. confined: a sentinel directory beside the root, the store and an in-root victim file (only
 *     reachable through planted links) are unchanged;
 *  2. every run returns 0 or 1 (never throws) within a time bound; a watchdog kills a hung test;
 *  3. converged: the next plan of the same generation has nothing but refusals and warnings
 *     (setup-etc.pl warns at every run about a direct link to a directory; otherwise nothing), every declared entry not refused has its form, `.clean`
 *     lists the copies, and no link into /etc/static names an entry the tree no longer has;
 *  4. no temporary name of src/fs/staged.ts is left anywhere in the root;
 *  5. a planted node survives unless setup-etc.pl's semantics replace it (a declared non-directory
 *     name, or a name `.clean` listed before the run);
 *  6. the same case on a second root, killed (afterOp throws) after a random operation of one run
 *     and run again, ends exactly as the uninterrupted root; between operations, each declared name
 *     that exists before and after the run is the old or the new node.
 *
 * Cases are built on /dev/shm when there is one (300 cases, about 30 s), else in the tmp dir (60).
 * A failure names its seed and run; replay one case (printing the generations and what was
 * planted): STAGEHAND_FUZZ_SEED=N bun test/unit/etc/fuzz.test.ts
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, lchownSync, lstatSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applyEtc, isNoop } from "../../../src/etc/apply.ts";
import { parseClean } from "../../../src/etc/clean.ts";
import { idTables, resolveOwner } from "../../../src/etc/owners.ts";
import { ETC_LOCK, parentName } from "../../../src/etc/paths.ts";
import type { EtcOp, EtcPlan } from "../../../src/etc/plan.ts";
import { intoStatic } from "../../../src/etc/state.ts";
import { planEtcSetup } from "../../../src/etc/step.ts";
import { resolveInRoot } from "../../../src/fs/root.ts";
import { isTempName, tempPathFor } from "../../../src/fs/staged.ts";
import { sweepUsersTemps } from "../../../src/users/write.ts";
import { fuzzSeeds, Random } from "../../harness/random.ts";
import { buildGen, EtcGenerator, flatten, type Gen, type Node, showGen } from "../../harness/random-etc.ts";
import { stagedTemporaries } from "../../harness/temporaries.ts";
import { heartbeat } from "../../harness/watchdog.ts";
import { tempDir } from "../tmp.ts";

/** The longest a plan and apply of these small trees may take (a hang is caught by the watchdog). */
const RUN_MS = 10_000;

/** Where cases are built: a tmpfs when there is one (fsync costs nothing there), else the tmp dir. */
const BASE = existsSync("/dev/shm") ? "/dev/shm" : undefined;

/** Cases per run: each is a few dozen small runs; on a tmpfs about 30 ms, on a disk (fsyncs) ten times that. */
const CASES = BASE === undefined ? 60 : 300;

/** A fresh directory for a case, removed at exit (and at the end of its case). */
function caseDir(prefix: string): string {
  if (BASE === undefined) return tempDir(prefix);
  const d = mkdtempSync(join(BASE, prefix));
  made.add(d);
  return d;
}
const made = new Set<string>();
process.on("exit", () => { for (const d of made) rmSync(d, { recursive: true, force: true }); });

/** A root with passwd and group naming a user and group the host does not have (as fixtures.ts's makeUserRoot). */
function makeRoot(): string {
  const root = caseDir("etc-fuzz-");
  mkdirSync(join(root, "etc"));
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\netcsvc:x:4242:4343::/var/empty:/bin/false\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\netcsvc:x:4343:\n");
  return root;
}

// ---------------------------------------------------------------------------------------------
// Generations

/** Top-level names: odd but legal bytes, a long one, and names /etc has special rules for. */
const TOP = ["a", "b", "sp ace", "ünï", "tab\tx", "star*", "-dash", ".dot", "q'\"", "back\\sl", "a.conf", "L".repeat(200), "M".repeat(250), "nixos", "ssh", "d", "NIXOS"];
const SUB = ["x", "y", "ünï z", ".h", "c.conf", "N".repeat(240)];
/** The tree's own owner tables, when it declares them (then names resolve against those). */
const OWNER_TABLES = new Set(["passwd", "group"]);

const generator = new EtcGenerator({
  top: TOP, sub: SUB, dirFiles: ["x", "y", "z"],
  modes: ["0644", "0600", "0400", "4755", "0000", "00640", "1777"], oddMode: "0999",
  users: ["etcsvc", "+0", "+4242", "+77", "root", "0"], oddUser: "ghost", oddChance: 0.05,
  groups: ["etcsvc", "+0", "+4343", "+78", "root"],
  pTop: 0.4, pChild: 0.4, pCopyOfDir: 0.1, pBytes: 0.1, link: 0.45, direct: 0.65, texts: 4,
});

function randomGen(r: Random): Gen {
  const g = generator.gen(r);
  if (r.chance(0.15)) {
    g.set("passwd", { kind: "copy", src: { text: "root:x:0:0::/root:/bin/sh\netcsvc:x:5000:5001::/:/bin/false\n" }, mode: "0644", user: "+0", group: "+0" });
    g.set("group", { kind: "copy", src: { text: "root:x:0:\netcsvc:x:5001:\n" }, mode: "0644", user: "+0", group: "+0" });
  }
  if (r.chance(0.03)) g.set("new\nline", generator.leaf(r)); // refused: it would corrupt .clean
  return g;
}

/** B from A, the tree's own passwd and group kept as they are, or gone. */
function mutate(r: Random, g: Gen): Gen {
  const keepOwners = r.chance(0.7);
  const out = generator.mutate(r, g, 0, TOP, OWNER_TABLES);
  if (keepOwners) for (const n of OWNER_TABLES) if (g.has(n)) out.set(n, g.get(n)!);
  return out;
}

// ---------------------------------------------------------------------------------------------
// A hostile /etc

let mknod: ((path: string, mode: number) => number) | undefined;
/** A FIFO or a socket node (mknod(2), as mkfifo and bind would leave them). */
function makeNode(path: string, type: "fifo" | "socket"): void {
  if (!mknod) {
    const ffi = require("bun:ffi") as typeof import("bun:ffi");
    const lib = ffi.dlopen("libc.so.6", { mknod: { args: [ffi.FFIType.ptr, ffi.FFIType.u32, ffi.FFIType.u64], returns: ffi.FFIType.i32 } });
    mknod = (p, m) => lib.symbols.mknod(ffi.ptr(Buffer.from(`${p}\0`)), m, 0) as number;
  }
  if (mknod(path, (type === "fifo" ? 0o010000 : 0o140000) | 0o644) !== 0) throw new Error(`mknod ${path} failed`);
}

/** One case: its seed, the host directory beside its roots, and what it did (printed on a replay's failure). */
interface Case {
  seed: number;
  /** What was planted, and the generations (printed with a failure). */
  log: string[];
  /** A directory outside the root that links planted in /etc name (absolutely or by `..`). */
  host: string;
}

/** A planted node that is not ours: it must survive unless setup-etc.pl's semantics replace it. */
interface Planted { rel: string; print: string }

/** Whether every directory above `rel` in /etc is a real directory (made so when missing); false when something else is in the way. */
function realParents(etc: string, rel: string): boolean {
  let p = etc;
  for (const part of parentName(rel).split("/").filter(Boolean)) {
    p = join(p, part);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (st === undefined) mkdirSync(p);
    else if (!st.isDirectory()) return false;
  }
  return true;
}

/** A fingerprint of the node at a host path (undefined when missing). */
function print(p: string): string | undefined {
  let st;
  try { st = lstatSync(p); } catch { return undefined; }
  const own = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
  if (st.isSymbolicLink()) return `link ${readlinkSync(p)}`;
  if (st.isDirectory()) return `dir ${own}`;
  if (st.isFile()) return `file ${own} ${JSON.stringify(readFileSync(p, "latin1"))}`;
  return st.isFIFO() ? `fifo ${own}` : st.isSocket() ? `socket ${own}` : `other ${own}`;
}

/**
 * Plants hostile and admin nodes in `root`'s /etc (through real directories only), at names the
 * generations use and others; returns the nodes that are not ours (to be kept).
 */
function plant(r: Random, root: string, c: Case, names: readonly string[], planted: Planted[]): void {
  const etc = join(root, "etc");
  const store = readdirSync(join(root, "nix/store")).sort();
  const forget = (rel: string) => {
    for (let i = planted.length - 1; i >= 0; i--) if (planted[i]!.rel === rel || planted[i]!.rel.startsWith(`${rel}/`)) planted.splice(i, 1);
  };
  for (let n = r.int(9); n > 0; n--) {
    const rel = r.chance(0.7) ? r.pick(names) : `${r.pick(TOP)}/${r.pick(SUB)}`;
    if (rel.includes("\n") || rel === "passwd" || rel === "group" || rel.split("/")[0] === "nixos") continue;
    if (!realParents(etc, rel)) continue;
    const p = join(etc, rel);
    rmSync(p, { recursive: true, force: true });
    forget(rel);
    let ours = false;
    const what = r.int(16);
    switch (what) {
      case 0: writeFileSync(p, `admin's ${rel}\n`, { mode: 0o640 }); lchownSync(p, 1234, 1234); break;
      case 1: mkdirSync(p); writeFileSync(join(p, "x"), "admin's own\n"); planted.push({ rel: `${rel}/x`, print: print(join(p, "x"))! }); break;
      case 2: mkdirSync(p); break;
      case 3: mkdirSync(p); symlinkSync(`/etc/static/${rel}/x`, join(p, "x")); ours = true; break;
      case 4: makeNode(p, "fifo"); break;
      case 5: makeNode(p, "socket"); break;
      case 6: symlinkSync(r.chance(0.5) ? join(c.host, "f") : join(c.host, "d"), p); break;
      case 7: symlinkSync(`${"../".repeat(12)}${c.host.slice(1)}/${r.chance(0.5) ? "f" : "d"}`, p); break;
      case 8: symlinkSync(`/etc/static/${r.chance(0.7) ? rel : r.pick(names)}`, p); ours = true; break;
      case 9: symlinkSync(`/nix/store/${r.pick(store)}`, p); break;
      case 10: symlinkSync(r.chance(0.5) ? p.slice(p.lastIndexOf("/") + 1) : `/etc/${rel}`, p); break; // a loop
      case 11: symlinkSync(`/etc/${r.pick(names)}/loop`, p); break; // dangling or looping through another
      case 12: symlinkSync("/victim", p); break;
      case 13: symlinkSync("/persist", p); break;
      case 14: symlinkSync("/nonexistent", p); break;
      case 15: writeFileSync(p, "root's own, 0600\n", { mode: 0o600 }); break;
    }
    c.log.push(`planted ${JSON.stringify(rel)}: ${print(p)}`);
    if (!ours) planted.push({ rel, print: print(p)! });
  }
  // A corrupt .clean: odd names, escapes, absolute paths, a very long line, blank lines, admin files' names.
  if (r.chance(0.4)) {
    const lines: string[] = [];
    const odd = ["..", "../victim", "/victim", "a/../../victim", "x".repeat(5000), "", "a/./b", "\r", "nixos/x", "a/", "//", "sp ace", ".clean", "static"];
    for (let n = r.int(8); n > 0; n--) lines.push(r.chance(0.5) ? r.pick(names) : r.pick(odd));
    const keep = r.chance(0.5) ? (() => { try { return readFileSync(join(etc, ".clean"), "latin1"); } catch { return ""; } })() : "";
    rmSync(join(etc, ".clean"), { recursive: true, force: true });
    writeFileSync(join(etc, ".clean"), keep + lines.join("\n") + (r.chance(0.5) ? "\n" : ""));
    c.log.push(`.clean: ${JSON.stringify(readFileSync(join(etc, ".clean"), "latin1")).slice(0, 300)}`);
  }
  // A killed run's temporaries, in real directories of /etc.
  for (let n = r.chance(0.4) ? 1 + r.int(3) : 0; n > 0; n--) {
    const rel = r.pick(names);
    // (The users step's temporaries in /etc are left to it: docs/etc.md.)
    if (rel.includes("\n") || rel === "passwd" || rel === "group" || rel.split("/")[0] === "nixos" || !realParents(etc, rel)) continue;
    const tmp = tempPathFor(join(etc, rel), r.pick([undefined, "link", "new", "old", "dir"]));
    const k = r.int(3);
    if (k === 0) writeFileSync(tmp, "half", { mode: 0o600 });
    else if (k === 1) symlinkSync(`/etc/static/${rel}`, tmp);
    else { mkdirSync(tmp); symlinkSync("/etc/static/x", join(tmp, "x")); writeFileSync(join(tmp, "y"), "y"); }
  }
  // Rarely: /etc/static in the way, or pointing out of the root; the lock a FIFO.
  const rare = r.int(40);
  if (rare === 0) { rmSync(join(etc, "static"), { recursive: true, force: true }); mkdirSync(join(etc, "static")); }
  if (rare === 1) { rmSync(join(etc, "static"), { recursive: true, force: true }); symlinkSync(c.host, join(etc, "static")); }
  if (rare === 2) { rmSync(join(etc, ".setup-etc.lock"), { force: true }); makeNode(join(etc, ".setup-etc.lock"), "fifo"); }
  if (rare === 3) { rmSync(join(etc, ".clean"), { recursive: true, force: true }); makeNode(join(etc, ".clean"), "fifo"); }
}

// ---------------------------------------------------------------------------------------------
// Checks

/** The host path of `/etc/NAME`, its parents resolved inside the root (undefined: they cannot be). */
function hostOf(root: string, name: string): string | undefined {
  try {
    return `${resolveInRoot(root, `/etc/${parentName(name)}`)}/${name.slice(name.lastIndexOf("/") + 1)}`;
  } catch {
    return undefined;
  }
}

/**
 * What is under `dir`, by relative path (print of each node; FIFOs and sockets never opened).
 * Without the lock file, its moved-aside names (which carry the time) and temporaries (random names).
 */
function snapshot(dir: string): Record<string, string> {
  const snap: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const n of readdirSync(join(dir, rel)).sort()) {
      if (n === ETC_LOCK || n.startsWith(`${ETC_LOCK}.broken-`) || isTempName(n)) continue;
      const name = rel === "" ? n : `${rel}/${n}`;
      snap[name] = print(join(dir, name))!;
      if (snap[name].startsWith("dir")) walk(name);
    }
  };
  walk("");
  return snap;
}

interface RunOutcome { status: number; messages: string[]; plan: EtcPlan }

class Killed extends Error {}

/** Plans and applies `tree` to `root`; `afterOp` as ApplyOutput's. */
async function run(c: Case, label: string, root: string, tree: string, afterOp?: (op: EtcOp, i: number) => void): Promise<RunOutcome> {
  heartbeat("etc fuzz", `seed ${c.seed} ${label}`);
  const start = Date.now();
  const messages: string[] = [];
  let plan: EtcPlan;
  let status: number;
  let i = 0;
  try {
    plan = planEtcSetup(root, tree, {}, false).data;
    status = await applyEtc(root, plan, { stderr: (l) => messages.push(l), afterOp: afterOp && ((op) => afterOp(op, i++)) }, () => planEtcSetup(root, tree, {}, false).data);
  } catch (e) {
    if (e instanceof Killed) throw e;
    throw new Error(`seed ${c.seed} ${label}: the run threw ${(e as Error).stack}\nmessages: ${messages.join("\n")}`);
  }
  const ms = Date.now() - start;
  assert.ok(ms < RUN_MS, `seed ${c.seed} ${label}: took ${ms} ms`);
  assert.ok(status === 0 || status === 1, `seed ${c.seed} ${label}: status ${status}`);
  return { status, messages, plan: plan! };
}

/** The owner tables names resolve against after a run of `gen`: the tree's own passwd/group, or the root's. */
function ownerTables(root: string, gen: Map<string, Node>) {
  const text = (name: string) => {
    const n = gen.get(name);
    if (n && n.kind !== "dir" && "text" in n.src) return n.src.text;
    try { return readFileSync(resolveInRoot(root, `/etc/${name}`), "utf8"); } catch { return ""; }
  };
  return idTables(text("passwd"), text("group"));
}

/** The names a plan's refusals and warnings are about. */
function refusedNames(plan: EtcPlan): Set<string> {
  const names = new Set<string>();
  for (const op of plan.ops) {
    if (op.op === "error") names.add(op.name);
    if (op.op === "warn") {
      const m = /^(?:\/etc\/(.*) directory contains user files|could not create (?:symlink|target) \/etc\/(.*))/s.exec(op.message);
      if (m) names.add((m[1] ?? m[2])!);
    }
  }
  return names;
}

/** Invariants 3, 4 and 5 after a run of `gen` (tree at `tree`) on `root`. */
function checkAfter(c: Case, label: string, root: string, tree: string, gen: Gen, out: RunOutcome, cleanBefore: ReadonlySet<string>, planted: Planted[]): void {
  const at = `seed ${c.seed} ${label}`;
  const ctx = () => `\nmessages:\n${out.messages.join("\n")}\n${process.env.STAGEHAND_FUZZ_SEED ? c.log.join("\n") : ""}`;
  // 4. No temporary left (but where /etc/static in the way stopped the run before anything: docs/etc.md).
  if (!out.messages.some((m) => m.startsWith("error: /etc/static is"))) assert.equal(stagedTemporaries(root), [], `${at}: temporaries left${ctx()}`);
  // 3. The next plan has nothing to do but refuse and warn again.
  const again = planEtcSetup(root, tree, {}, false).data;
  const left = again.ops.filter((o) => !(o.op === "error" || o.op === "warn" || (o.op === "clean" && !o.changed)));
  assert.equal(left.map((o) => `${o.op} ${"name" in o ? o.name : ""}`), [], `${at}: not converged${ctx()}`);
  // (A refused entry's parent that is not a directory stays a directory "to sweep": no matter,
  // the run is not a no-op anyway.)
  if (!again.ops.some((o) => o.op === "error")) assert.equal(again.dirs, [], `${at}: directories to sweep again${ctx()}`);
  // setup-etc.pl warns at every run about a link of ours to a directory (a direct link to a
  // directory source, docs/etc.md): only a plan without refusals and warnings must be a no-op.
  if (!again.ops.some((o) => o.op === "error" || o.op === "warn")) assert.ok(isNoop(again), `${at}: a clean run is not a no-op the next time: ${JSON.stringify(again.ops.map((o) => ("message" in o ? o.message : o.op)))}${ctx()}`);
  // (Unless the run removed the tree's own passwd or group, which owner names were resolved in.)
  if (out.status === 0 && !out.messages.some((m) => /^removing obsolete file ‘\/etc\/(passwd|group)’/.test(m))) assert.equal(again.ops.filter((o) => o.op === "error").map((o) => (o as { message: string }).message), [], `${at}: a run with status 0, then refusals${ctx()}`);
  const refused = refusedNames(again);
  if (refused.has("static")) return; // /etc/static in the way: nothing is set up (reported)
  const isRefused = (name: string) => {
    for (let p = name; p !== ""; p = parentName(p)) if (refused.has(p)) return true;
    return false;
  };
  const flat = flatten(gen);
  const ids = ownerTables(root, flat);
  const clean = cleanNames(root);
  for (const [name, n] of flat) {
    // (A directory is made only as the parent of an entry, as setup-etc.pl does: its entries say.)
    if (isRefused(name) || name.includes("\n") || n.kind === "dir") continue;
    const p = hostOf(root, name);
    assert.ok(p !== undefined, `${at}: /etc/${JSON.stringify(name)} cannot be resolved${ctx()}`);
    const st = lstatSync(p!, { throwIfNoEntry: false });
    const what = `${at}: /etc/${JSON.stringify(name)} (${n.kind})`;
    assert.ok(st !== undefined, `${what} is missing${ctx()}`);
    if (n.kind === "link") {
      assert.is(st!.isSymbolicLink() ? readlinkSync(p!) : "(not a link)", `/etc/static/${name}`, what + ctx());
    } else if (n.kind === "direct") {
      assert.ok(st!.isSymbolicLink() && readlinkSync(p!).startsWith("/nix/store/"), what + ctx());
      assert.ok(clean.has(name), `${what} not in .clean`);
    } else {
      assert.ok(st!.isFile(), `${what} is not a file${ctx()}`);
      const text = "text" in n.src ? n.src.text : "";
      assert.is(readFileSync(p!, "latin1"), text, what);
      const uid = resolveOwner(n.user, ids.users);
      const gid = resolveOwner(n.group, ids.groups);
      assert.is(`${(st!.mode & 0o7777).toString(8)} ${st!.uid}:${st!.gid}`, `${parseInt(n.mode, 8).toString(8)} ${uid}:${gid}`, what + ctx());
      assert.ok(clean.has(name), `${what} not in .clean`);
    }
  }
  // .clean names only entries of the tree (refused ones stay tracked).
  for (const name of clean) assert.ok(flat.has(name), `${at}: .clean lists ${JSON.stringify(name)}, not in the tree`);
  // No link into /etc/static for a name the tree has no link at (never looked for under /etc/nixos).
  const treeLink = (name: string) => {
    try { return lstatSync(`${resolveInRoot(root, `${tree}/${parentName(name)}`)}/${name.slice(name.lastIndexOf("/") + 1)}`).isSymbolicLink(); } catch { return false; }
  };
  const walk = (rel: string) => {
    for (const d of readdirSync(join(root, "etc", rel), { withFileTypes: true })) {
      const name = rel === "" ? d.name : `${rel}/${d.name}`;
      if (name === "nixos") continue;
      if (d.isDirectory()) walk(name);
      else if (d.isSymbolicLink() && intoStatic(readlinkSync(join(root, "etc", name)))) assert.ok(treeLink(name), `${at}: obsolete link /etc/${JSON.stringify(name)} kept${ctx()}`);
    }
  };
  walk("");
  // 5. Planted nodes survive, unless at a declared name, or one .clean listed before the run.
  const declared = new Set([...flat].filter(([, n]) => n.kind !== "dir").map(([k]) => k));
  for (let i = planted.length - 1; i >= 0; i--) {
    const { rel, print: before } = planted[i]!;
    const now = print(join(root, "etc", rel));
    if (now === before) continue;
    // setup-etc.pl's is_static: an empty directory counts as static, so a directory holding only
    // such (and static links) is replaced by the link or copy declared at its name.
    const inStaticDir = before.startsWith("dir") && [...declared].some((n) => rel.startsWith(`${n}/`));
    const allowed = declared.has(rel) || cleanBefore.has(rel) || inStaticDir;
    assert.ok(allowed, `${at}: the planted /etc/${JSON.stringify(rel)} (${before}) is now ${now ?? "gone"}${ctx()}`);
    planted.splice(i, 1);
  }
}

/** The names .clean lists now (as the run will read it). */
function cleanNames(root: string): Set<string> {
  // Never opened unless a regular file (a planted FIFO there would block the read).
  const p = join(root, "etc/.clean");
  if (!lstatSync(p, { throwIfNoEntry: false })?.isFile()) return new Set();
  return new Set(parseClean(readFileSync(p, "utf8")).names);
}

// ---------------------------------------------------------------------------------------------

/** One case: generations, a hostile /etc, runs on two roots (the second killed once, mid-run). */
async function fuzzCase(seed: number): Promise<void> {
  const r = new Random(seed);
  const A = randomGen(r);
  const B = r.chance(0.2) ? randomGen(r) : mutate(r, A);
  const back = r.chance(0.5);
  const gens = back ? [A, B, A] : [A, B];
  const labels = back ? ["A", "B", "A again"] : ["A", "B"];
  const names = [...new Set([...flatten(A).keys(), ...flatten(B).keys(), ...TOP])];
  const host = caseDir("etc-fuzz-host-");
  writeFileSync(join(host, "f"), "host file\n");
  mkdirSync(join(host, "d"));
  writeFileSync(join(host, "d/g"), "host dir file\n");
  const c: Case = { seed, host, log: [] };
  c.log.push(`A:\n${showGen(A)}`, `B:\n${showGen(B)}`);
  const hostBefore = snapshot(host);
  const crashRun = r.int(gens.length);
  const crashAt = r.next();
  const plantSeeds = [r.int(1 << 30), r.chance(0.5) ? r.int(1 << 30) : undefined];

  const roots = [makeRoot(), makeRoot()];
  const trees: string[] = [];
  const planted: Planted[][] = [[], []];
  for (const root of roots) {
    mkdirSync(join(root, "persist/x"), { recursive: true });
    writeFileSync(join(root, "victim"), "victim\n");
    trees.length = 0;
    trees.push(buildGen(root, `${seed}-A`, A), buildGen(root, `${seed}-B`, B));
  }
  const treeOf = (i: number) => trees[gens[i] === A ? 0 : 1]!;
  const stores = roots.map((root) => snapshot(join(root, "nix/store")));
  for (let k = 0; k < 2; k++) plant(new Random(plantSeeds[0]!), roots[k]!, c, names, planted[k]!);

  for (let i = 0; i < gens.length; i++) {
    if (i === 1 && plantSeeds[1] !== undefined) for (let k = 0; k < 2; k++) plant(new Random(plantSeeds[1]), roots[k]!, c, names, planted[k]!);
    const label = `${labels[i]} (run ${i + 1})`;
    const [r1, r2] = roots as [string, string];
    assert.equal(snapshot(r2), snapshot(r1), `seed ${seed} ${label}: the roots differ before the run`);
    const clean1 = cleanNames(r1);
    // The uninterrupted root, with what each declared name is before and after.
    const flat = [...flatten(gens[i]!).keys()].filter((n) => !n.includes("\n"));
    const before = new Map(flat.map((n) => [n, valueOf(r1, n)]));
    const out1 = await run(c, label, r1, treeOf(i));
    const after = new Map(flat.map((n) => [n, valueOf(r1, n)]));
    // 1. Confined.
    assert.equal(snapshot(host), hostBefore, `seed ${seed} ${label}: the host directory changed`);
    assert.equal(snapshot(join(r1, "nix/store")), stores[0], `seed ${seed} ${label}: the store changed`);
    assert.is(readFileSync(join(r1, "victim"), "utf8"), "victim\n", `seed ${seed} ${label}: written through a link`);
    checkAfter(c, label, r1, treeOf(i), gens[i]!, out1, clean1, planted[0]!);

    // 6. The second root: killed after a random operation of this run (or not), then run again.
    const clean2 = cleanNames(r2);
    if (i === crashRun) {
      const kill = Math.floor(crashAt * out1.plan.ops.length);
      const mixed: string[] = [];
      try {
        await run(c, `${label}, killed after op ${kill}`, r2, treeOf(i), (op, n) => {
          for (const name of flat) {
            const o = before.get(name);
            const nw = after.get(name);
            if (o === undefined || nw === undefined) continue;
            const v = valueOf(r2, name);
            if (v !== o && v !== nw) mixed.push(`${JSON.stringify(name)} after op ${n} (${op.op}): ${v ?? "missing"}, neither ${o} nor ${nw}`);
          }
          if (n === kill) throw new Killed("killed");
        });
      } catch (e) {
        if (!(e instanceof Killed)) throw e;
      }
      assert.equal(mixed, [], `seed ${seed} ${label}: a declared name neither old nor new between operations`);
      // The next activation runs the users step first, which sweeps the temporaries of its files
      // in /etc (the etc step leaves those to it, docs/etc.md; a tree may declare passwd itself).
      sweepUsersTemps(r2);
      for (const n of cleanNames(r2)) clean2.add(n);
    }
    const out2 = await run(c, `${label} on the second root`, r2, treeOf(i));
    assert.equal(snapshot(r2), snapshot(r1), `seed ${seed} ${label}${i === crashRun ? ", killed and run again," : ""}: the roots differ\nmessages:\n${out2.messages.join("\n")}`);
    assert.equal(snapshot(join(r2, "nix/store")), stores[1], `seed ${seed} ${label}: the store changed`);
    checkAfter(c, `${label} on the second root`, r2, treeOf(i), gens[i]!, out2, clean2, planted[1]!);
    if (i !== crashRun) assert.is(out2.status, out1.status, `seed ${seed} ${label}: the same run, another status`);
  }
  for (const d of [...roots, host]) { rmSync(d, { recursive: true, force: true }); made.delete(d); }
}

/**
 * What `/etc/NAME` is, for comparing old and new; undefined when missing or when a directory above
 * it is not a real one (what a link there leads to changes with /etc/static, not per entry).
 */
function valueOf(root: string, name: string): string | undefined {
  let p = join(root, "etc");
  for (const part of parentName(name).split("/").filter(Boolean)) {
    p = join(p, part);
    if (!lstatSync(p, { throwIfNoEntry: false })?.isDirectory()) return undefined;
  }
  return print(join(p, name.slice(name.lastIndexOf("/") + 1)));
}

test(`random generations over a hostile /etc: confined, converging, crash-safe (${CASES} seeds)`, async () => {
  for (const seed of fuzzSeeds(CASES)) await fuzzCase(seed);
});

test.run();
