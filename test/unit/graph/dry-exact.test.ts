/**
 * Seeded property fuzzing of "dry-activate is exact" (README, docs/activation-graph.md): for random
 * generations over random starting states of a temporary root, what a dry run prints is what the
 * real run then does, and nothing else; the dry run itself changes nothing.
 *
 *  1. etc: random trees (links, copies with modes and owners, direct links, directory sources,
 *     kinds changing between generations, removals) over an /etc set up by a real run of another
 *     generation, then given admin files, stale links into /etc/static, directories of such links,
 *     links to store files and directories, and an edited `.clean`. The dry plan's lines
 *     (planEtcSetup(...).lines) against the real run (the `etc` builtin step's apply):
 *       a. the dry run changes nothing in the root (every node, with its mtime and ctime);
 *       b. each line's effect happened (table LINE_EFFECTS below), and every node of the root the
 *          real run changed is named by a line (or lies below a name a line replaces);
 *       c. the real run's messages are the dry lines that have one (setup-etc.pl's wording), in
 *          order; the only messages a dry plan cannot announce are "setting up /etc..." (printed by
 *          every real run, as NixOS's snippet does) and failures of the file system at apply time
 *          (none in these cases: any is a mismatch);
 *       d. the dry step fails exactly when the real run returns 1;
 *       e. a dry run after the real run plans nothing but the refusals and warnings that repeat at
 *          every run (setup-etc.pl's "directory contains user files" for a direct link to a
 *          directory, or an admin's directory at a declared name).
 *  2. users: random users-groups.json specs over passwd/group/shadow/subuid/state files set up by a
 *     real run of another spec, then edited by an admin. The users step prints only
 *     update-users-groups.pl's messages (removals, revivals, refused ID changes, warnings): a new
 *     user, a changed field, a home made are not announced, by design (docs/activation-graph.md).
 *     So the property is on both the printed lines and the plan they are printed from:
 *       a. the dry run writes nothing;
 *       b. the real run's messages are the dry lines in the real wording ("would remove" ->
 *          "removing"), and each line's effect happened;
 *       c. the dry plan's new files are the files the real run leaves (up to the salt of a hash of
 *          an `initialPassword`, made anew by each plan), its `changed` list is exactly the files
 *          that changed, and its homes are the ones made;
 *       d. a dry run after the real run changes no file and prints only warnings.
 *  3. the activation graph through executeGraph (what `stagehand activate [--dry]` runs) with the
 *     real builtins: random graphs of shell steps (which touch files and log their runs) and of
 *     etc and users steps, random dependencies, failures and dry support:
 *       a. a dry run runs no shell step that does not support dry activation, and those that do
 *          run with NIXOS_ACTION=dry-activate (as NixOS's dry-activate; the snippets here then
 *          write nothing but their log line, outside the root), and changes nothing in the root;
 *       b. the steps are reported, and the shell steps run, in the same order in both runs;
 *       c. a failing step's dependents run in both (NixOS's semantics: failure never skips a
 *          step); outcomes match step by step, except shell steps the dry run skips or runs in
 *          their dry form (a snippet's failure cannot be known without running it);
 *       d. with --root, shell steps are refused in both runs alike.
 *
 * Cases are built on /dev/shm when there is one (fsyncs cost nothing there). A failure names the
 * seed and prints the case; replay one with STAGEHAND_FUZZ_SEED=N bun test/unit/graph/dry-exact.test.ts
 * (the seed selects one case of each property).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { etcStep, planEtcSetup } from "../../../src/etc/step.ts";
import { ETC_LOCK } from "../../../src/etc/paths.ts";
import { resolveInRoot } from "../../../src/fs/root.ts";
import { isTempName } from "../../../src/fs/staged.ts";
import type { RunMode, StepContext, StepOutcome } from "../../../src/graph/step.ts";
import { executeGraph } from "../../../src/graph/executor.ts";
import { loadGraph } from "../../../src/graph/declarations.ts";
import { builtins } from "../../../src/cli/builtins.ts";
import { applyUsersPlan, planUsersStep } from "../../../src/users/step.ts";
import { FILES, type FileKey } from "../../../src/users/files.ts";
import { fuzzSeeds, Random } from "../../harness/random.ts";
import { buildGen, EtcGenerator, flatten, showGen } from "../../harness/random-etc.ts";
import { type Json, NAMES, randomSpec } from "../../harness/random-users.ts";
import { tempDir } from "../tmp.ts";

/** Where cases are built: a tmpfs when there is one, else the tmp dir. */
const BASE = existsSync("/dev/shm") ? "/dev/shm" : undefined;
const made = new Set<string>();
process.on("exit", () => { for (const d of made) rmSync(d, { recursive: true, force: true }); });
function caseDir(prefix: string): string {
  if (BASE === undefined) return tempDir(prefix);
  const d = mkdtempSync(join(BASE, prefix));
  made.add(d);
  return d;
}
function dropCase(d: string): void { rmSync(d, { recursive: true, force: true }); made.delete(d); }

/** Cases per property: bounded so the file runs in well under a minute on a slow disk too. */
const ETC_CASES = BASE === undefined ? 100 : 400;
const USERS_CASES = BASE === undefined ? 40 : 150;
const GRAPH_CASES = BASE === undefined ? 15 : 40;

// ---------------------------------------------------------------------------------------------
// Snapshots

/** One node: what it is (type, mode, owner, content or target), and when it last changed. */
interface NodePrint { what: string; times: string }

function printNode(p: string): NodePrint | undefined {
  let st;
  try { st = lstatSync(p); } catch { return undefined; }
  const own = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
  const times = `${st.mtimeMs} ${st.ctimeMs}`;
  if (st.isSymbolicLink()) return { what: `link ${readlinkSync(p)}`, times };
  if (st.isDirectory()) return { what: `dir ${own}`, times };
  if (st.isFile()) return { what: `file ${own} ${JSON.stringify(readFileSync(p, "latin1"))}`, times };
  return { what: st.isFIFO() ? `fifo ${own}` : `other ${own}`, times };
}

/** Every node under `root` by relative path, without the stores (never changed) and the lock files. */
function snapshot(root: string, skip: (rel: string) => boolean = () => false): Map<string, NodePrint> {
  const snap = new Map<string, NodePrint>();
  const walk = (rel: string) => {
    for (const n of readdirSync(join(root, rel)).sort()) {
      const name = rel === "" ? n : `${rel}/${n}`;
      if (skip(name)) continue;
      const p = printNode(join(root, name))!;
      snap.set(name, p);
      if (p.what.startsWith("dir")) walk(name);
    }
  };
  walk("");
  return snap;
}

/** The differences between two snapshots: `what` always, `times` too when asked (a dry run's). */
function diffSnaps(a: Map<string, NodePrint>, b: Map<string, NodePrint>, times: boolean): string[] {
  const out: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(k);
    const y = b.get(k);
    if (x?.what !== y?.what || (times && x?.times !== y?.times)) out.push(`${k}: ${x ? `${x.what} @${x.times}` : "missing"} -> ${y ? `${y.what} @${y.times}` : "missing"}`);
  }
  return out.sort();
}

const LOCKS = new Set([`etc/${ETC_LOCK}`, "etc/.pwd.lock"]);
const skipLocks = (rel: string) => LOCKS.has(rel) || rel === "nix";

// ---------------------------------------------------------------------------------------------
// 1. etc

const TOP = ["a", "b", "c.conf", "sp ace", "ünï", "d", "ssh", "NIXOS", "x"];
const SUB = ["x", "y", "z.conf"];

const generator = new EtcGenerator({
  top: TOP, sub: SUB, dirFiles: ["x", "y"],
  modes: ["0644", "0600", "0400", "4755", "0000", "1777"],
  users: ["etcsvc", "+0", "+4242", "root"], oddUser: "ghost", oddChance: 0.04,
  groups: ["etcsvc", "+0", "+4343", "root"],
  pTop: 0.45, pChild: 0.5, pCopyOfDir: 0.05, pBytes: 0, link: 0.4, direct: 0.6, texts: 3,
});
const randomGen = (r: Random) => generator.gen(r);

/** A root with passwd and group naming a user and group the host does not have. */
function makeEtcRoot(): string {
  const root = caseDir("dry-exact-etc-");
  mkdirSync(join(root, "etc"));
  mkdirSync(join(root, "persist/d"), { recursive: true });
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\netcsvc:x:4242:4343::/var/empty:/bin/false\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\netcsvc:x:4343:\n");
  return root;
}

/** Admin files and leftovers in /etc, through real directories only: what a machine in use has. */
function plant(r: Random, root: string, names: readonly string[], log: string[]): void {
  const etc = join(root, "etc");
  const store = readdirSync(join(root, "nix/store")).sort();
  for (let n = r.int(7); n > 0; n--) {
    const rel = r.chance(0.7) ? r.pick(names) : `${r.pick(TOP)}/${r.pick(SUB)}`;
    const parts = rel.split("/");
    let ok = true;
    for (let i = 1; i < parts.length && ok; i++) {
      const d = join(etc, ...parts.slice(0, i));
      const st = lstatSync(d, { throwIfNoEntry: false });
      if (st === undefined) mkdirSync(d);
      else if (!st.isDirectory()) ok = false;
    }
    if (!ok) continue;
    const p = join(etc, rel);
    rmSync(p, { recursive: true, force: true });
    switch (r.int(9)) {
      case 0: writeFileSync(p, `admin's ${rel}\n`, { mode: 0o640 }); lchownSync(p, 1234, 1234); break;
      case 1: mkdirSync(p); writeFileSync(join(p, "own"), "admin's own\n"); break;
      case 2: mkdirSync(p); break;
      case 3: mkdirSync(p); symlinkSync(`/etc/static/${rel}/x`, join(p, "x")); break; // only static links
      case 4: symlinkSync(`/etc/static/${r.chance(0.7) ? rel : r.pick(names)}`, p); break; // stale or foreign static link
      case 5: symlinkSync(`/nix/store/${r.pick(store)}`, p); break;
      case 6: symlinkSync("/persist/d", p); break; // a directory elsewhere in the root
      case 7: symlinkSync("/nonexistent", p); break;
      case 8: writeFileSync(p, "root's own\n", { mode: 0o600 }); break;
    }
    log.push(`planted ${JSON.stringify(rel)}: ${printNode(p)!.what}`);
  }
  if (r.chance(0.3)) {
    // An edited .clean: names of the trees (as a rollback leaves it), a missing one, a blank line.
    const lines: string[] = [];
    for (let n = r.int(5); n > 0; n--) lines.push(r.chance(0.8) ? r.pick(names) : "");
    const p = join(etc, ".clean");
    const keep = existsSync(p) && r.chance(0.5) ? readFileSync(p, "utf8") : "";
    rmSync(p, { recursive: true, force: true });
    writeFileSync(p, keep + lines.join("\n") + "\n");
    log.push(`.clean: ${JSON.stringify(readFileSync(p, "utf8"))}`);
  }
}

function ctxFor(root: string, mode: RunMode, out: string[], errs: string[] = out): StepContext {
  return { systemConfig: "/nix/store/x-system", root, mode, env: {}, stdout: (l) => out.push(l), stderr: (l) => errs.push(l) };
}

const Q = "‘/etc/(.*)’";
/**
 * Each dry line kind: its pattern, the real run's message for it (setup-etc.pl's, on stderr; none
 * for most), and the names it changes (relative to /etc) with a check of their state after the run.
 * "would replace directory ... with a link" is also printed for a copy replacing it (a file then).
 */
const LINE_EFFECTS: { re: RegExp; message?: (m: RegExpExecArray) => string; names: (m: RegExpExecArray) => string[]; after?: (m: RegExpExecArray, before: string | undefined, after: string | undefined) => boolean }[] = [
  { re: /^would link \/etc\/static to (.*)$/, names: () => ["static"], after: (m, _b, a) => a === `link ${m[1]}` },
  { re: new RegExp(`^would remove obsolete symlink ${Q}$`, "s"), message: (m) => `removing obsolete symlink ‘/etc/${m[1]}’...`, names: (m) => [m[1]!], after: (_m, b, a) => b?.startsWith("link /etc/static/") === true && (a === undefined || a.startsWith("dir")) },
  { re: new RegExp(`^would replace directory ${Q} \\(only links into /etc/static and files of this step's\\) with a (link|copy)$`, "s"), names: (m) => [m[1]!], after: (m, b, a) => b?.startsWith("dir") === true && a?.startsWith(m[2] === "copy" ? "file" : "link") === true },
  { re: new RegExp(`^would create directory ${Q}$`, "s"), names: (m) => [m[1]!], after: (_m, b, a) => !b?.startsWith("dir") && a?.startsWith("dir") === true },
  { re: new RegExp(`^would link ${Q} to (.*)$`, "s"), names: (m) => [m[1]!], after: (m, b, a) => b !== a && a === `link ${m[2]}` },
  { re: new RegExp(`^would (?:copy|update) ${Q} \\(mode (\\d+), owner .*:.* = (\\d+):(\\d+)\\)$`, "s"), names: (m) => [m[1]!], after: (m, b, a) => b !== a && a?.startsWith(`file ${parseInt(m[2]!, 8).toString(8)} ${m[3]}:${m[4]} `) === true },
  { re: new RegExp(`^would remove obsolete file ${Q}$`, "s"), message: (m) => `removing obsolete file ‘/etc/${m[1]}’...`, names: (m) => [m[1]!], after: (_m, b, a) => a === undefined || (b?.startsWith("dir") === true && a === b) },
  { re: new RegExp(`^would replace obsolete (file|symlink) ${Q} with a directory$`, "s"), message: (m) => `removing obsolete ${m[1]} ‘/etc/${m[2]}’...`, names: (m) => [m[2]!], after: (_m, b, a) => !b?.startsWith("dir") && a?.startsWith("dir") === true },
  { re: /^would update \/etc\/\.clean$/, names: () => [".clean"], after: (_m, b, a) => b !== a },
  { re: /^would create \/etc\/NIXOS$/, names: () => ["NIXOS"], after: (_m, _b, a) => a?.startsWith("file") === true }, // (also after its removal as obsolete: then as it was)
  { re: /^warning: (.*)$/s, message: (m) => m[1]!, names: () => [] },
  { re: /^(error: .*)$/s, message: (m) => m[1]!, names: () => [] },
];

/** The snapshot key of `/etc/NAME` (its parents resolved inside the root), or undefined. */
function keyOf(root: string, name: string): string | undefined {
  const slash = name.lastIndexOf("/");
  try {
    const parent = resolveInRoot(root, `/etc${slash < 0 ? "" : `/${name.slice(0, slash)}`}`);
    const p = `${parent}/${name.slice(slash + 1)}`;
    return p.startsWith(`${root}/`) ? p.slice(root.length + 1) : undefined;
  } catch {
    return undefined;
  }
}

async function etcCase(seed: number): Promise<void> {
  const r = new Random(seed);
  const A = randomGen(r);
  const B = r.chance(0.25) ? randomGen(r) : generator.mutate(r, A);
  const log = [`A:\n${showGen(A)}`, `B:\n${showGen(B)}`];
  const root = makeEtcRoot();
  const treeA = buildGen(root, `${seed}-A`, A);
  const treeB = buildGen(root, `${seed}-B`, B);
  const names = [...new Set([...flatten(A).keys(), ...flatten(B).keys(), ...TOP])];
  const at = (what: string) => `seed ${seed}: ${what}\n${log.join("\n")}`;
  // The starting state: A set up for real (or nothing), then an admin's changes.
  if (r.chance(0.8)) {
    const msgs: string[] = [];
    await etcStep.apply(ctxFor(root, "activate", msgs), planEtcSetup(root, treeA, {}, false));
    log.push(`A applied: ${msgs.join(" | ")}`);
  }
  if (r.chance(0.8)) plant(r, root, names, log);
  const diff = r.chance(0.3);

  // a. The dry run (as the step plans in a dry activation) changes nothing.
  const before = snapshot(root, (rel) => rel === "nix");
  const dryOut: string[] = [];
  const dryOutcome = await executeGraph(
    { steps: [{ name: "etc", kind: "builtin", builtin: "etc", after: [], before: [], supportsDryActivation: true, options: { etc: treeB, diff: String(diff) }, source: "t.toml" }], shell: { interpreter: "/bin/bash", path: [], preamble: "" } },
    ctxFor(root, "dry-activate", dryOut), builtins(),
  );
  assert.equal(diffSnaps(before, snapshot(root, (rel) => rel === "nix"), true), [], at("the dry run changed the root"));
  const dryPlan = planEtcSetup(root, treeB, {}, diff);
  const dryLines = dryPlan.lines;
  // (What the graph printed is the plan's lines, and its failure line.)
  assert.equal(dryOut.filter((l) => !l.startsWith("Activation script snippet")), dryLines, at("the dry activation printed other lines than the plan"));
  log.push(`dry lines:\n  ${dryLines.join("\n  ")}`);

  // What each line names, resolved before the run (a directory replaced by a link moves its names).
  const keysBefore = new Map<string, string | undefined>();
  for (const line of dryLines) for (const x of LINE_EFFECTS) { const m = x.re.exec(line); if (m) for (const n of x.names(m)) keysBefore.set(n, keyOf(root, n)); }
  const cleanBefore = new Set(existsSync(join(root, "etc/.clean")) ? readFileSync(join(root, "etc/.clean"), "utf8").split("\n").filter((l) => l !== "") : []);

  // The real run.
  const realMsgs: string[] = [];
  const beforeAll = snapshot(root, skipLocks);
  const status = await etcStep.apply(ctxFor(root, "activate", realMsgs), planEtcSetup(root, treeB, {}, false));
  const afterAll = snapshot(root, skipLocks);
  log.push(`real messages:\n  ${realMsgs.join("\n  ")}`);

  // d. The same verdict.
  assert.is(status === 0 ? "ok" : "failed", dryOutcome.outcomes[0]!.status, at("dry and real verdicts differ"));

  // c. Messages: the dry lines that have one, in order.
  const lines = dryLines.filter((l) => !l.startsWith(" ") && !l.startsWith("+") && !l.startsWith("-") && !l.startsWith("@@") && !l.startsWith("Binary files "));
  const expected: string[] = ["setting up /etc..."];
  const explained = new Set<string>();
  const changedNames: { line: string; name: string }[] = [];
  for (const line of lines) {
    const e = LINE_EFFECTS.map((x) => ({ x, m: x.re.exec(line) })).find(({ m }) => m !== null);
    assert.ok(e, at(`a dry line of no known kind: ${line}`));
    const { x, m } = e!;
    if (x.message) expected.push(x.message(m!));
    for (const name of x.names(m!)) changedNames.push({ line, name });
  }
  assert.equal(realMsgs, expected, at("the real run's messages are not the dry plan's"));

  // b. Every line's effect happened ...
  // (A name several lines change, as /etc/NIXOS removed as obsolete and made again, is judged by its last.)
  const last = new Map(changedNames.map(({ line, name }) => [name, line]));
  for (const [name, line] of last) {
    const kb = keysBefore.get(name);
    const b = kb === undefined ? undefined : beforeAll.get(kb)?.what;
    const ka = keyOf(root, name);
    const a = ka === undefined ? undefined : afterAll.get(ka)?.what;
    const effect = LINE_EFFECTS.find((x) => x.re.test(line))!;
    assert.ok(effect.after!(effect.re.exec(line)!, b, a), at(`‘${line}’ did not happen: /etc/${name} was ${b ?? "missing"}, is ${a ?? "missing"}`));
    if (ka !== undefined) explained.add(ka);
    if (kb !== undefined) explained.add(kb);
  }
  // ... and every node the real run changed is named by a line, or lies below one so named.
  const isExplained = (k: string) => {
    for (let p = k; p !== ""; p = p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "") if (explained.has(p)) return true;
    return false;
  };
  const unexplained = diffSnaps(beforeAll, afterAll, false).filter((d) => !isExplained(d.slice(0, d.indexOf(": "))));
  assert.equal(unexplained, [], at("the real run changed what the dry plan did not announce"));
  // What went with a directory a line replaces (or made obsolete) was ours: links into /etc/static,
  // directories of them, and names `.clean` listed (setup-etc.pl removes those whoever changed them).
  for (const [k, p] of beforeAll) {
    if (!k.startsWith("etc/") || afterAll.has(k) || explained.has(k) || !isExplained(k)) continue;
    const ours = p.what.startsWith("link /etc/static/") || p.what.startsWith("dir") || cleanBefore.has(k.slice(4));
    assert.ok(ours, at(`/etc/${k.slice(4)} (${p.what}) was removed with a directory the dry plan replaces, and was not ours`));
  }
  assert.equal([...afterAll.keys()].filter((k) => isTempName(k.slice(k.lastIndexOf("/") + 1))), [], at("temporaries left"));

  // e. Planned again: nothing but what repeats at every run.
  const again = planEtcSetup(root, treeB, {}, diff).lines.filter((l) => !l.startsWith("warning: ") && !l.startsWith("error: "));
  assert.equal(again, [], at("a dry run after the real run plans more"));
  dropCase(root);
}

test(`etc: the dry plan is what the real run does, and the dry run changes nothing (${ETC_CASES} seeds)`, async () => {
  for (const seed of fuzzSeeds(ETC_CASES)) await etcCase(seed);
});

// ---------------------------------------------------------------------------------------------
// 2. users

/** A spec from A: some users and groups dropped or changed. */
function mutateSpec(r: Random, a: Json): Json {
  const b = structuredClone(a) as { mutableUsers: boolean; users: Json[]; groups: Json[] };
  b.users = b.users.filter((u) => u.name === "root" || !r.chance(0.25));
  b.groups = b.groups.filter((g) => g.name === "root" || !r.chance(0.2));
  for (const u of b.users) {
    if (u.name === "root") continue;
    if (!b.groups.some((g) => g.name === u.group)) u.group = r.chance(0.9) ? "root" : "gone";
    if (r.chance(0.15)) u.uid = r.pick([null, 400, 1002, 1600]);
    if (r.chance(0.1)) u.description = "changed";
    if (r.chance(0.1)) u.createHome = true;
    if (r.chance(0.1)) u.hashedPassword = "$y$j9T$n$n";
  }
  for (const g of b.groups) if (g.name !== "root" && g.name !== "users" && r.chance(0.1)) g.gid = r.pick([null, 31, 600]);
  if (r.chance(0.2)) b.mutableUsers = !b.mutableUsers;
  const ids = new Set<unknown>();
  for (const u of b.users) { if (u.uid !== null && ids.has(u.uid)) u.uid = null; ids.add(u.uid); }
  ids.clear();
  for (const g of b.groups) { if (g.gid !== null && ids.has(g.gid)) g.gid = null; ids.add(g.gid); }
  if (r.chance(0.3)) b.users.push(...(randomSpec(r).users as Json[]).filter((u) => !b.users.some((x) => x.name === u.name) && !b.users.some((x) => x.uid !== null && x.uid === u.uid)));
  for (const u of b.users) if (u.group !== "gone" && !b.groups.some((g) => g.name === u.group)) u.group = "root";
  return b;
}

/** The files the users step writes, and their homes: what the dry run must leave alone. */
function usersRoot(): string {
  const root = caseDir("dry-exact-users-");
  mkdirSync(join(root, "etc"));
  mkdirSync(join(root, "home"));
  mkdirSync(join(root, "run"));
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0:System administrator:/root:/bin/sh\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\n");
  return root;
}

/** An admin's changes since the last run: an imperative user and group, an edited UID, a home, a shadow of the wrong mode. */
function adminEdits(r: Random, root: string, log: string[]): void {
  const p = (f: string) => join(root, "etc", f);
  const append = (f: string, line: string) => writeFileSync(p(f), (existsSync(p(f)) ? readFileSync(p(f), "utf8") : "") + line + "\n");
  if (r.chance(0.3)) { append("passwd", "imp:x:1100:100:imperative:/home/imp:/bin/sh"); append("shadow", "imp:!:19000::::::"); log.push("admin: user imp"); }
  if (r.chance(0.2)) { append("group", "impg:x:1200:alice,imp"); log.push("admin: group impg"); }
  if (r.chance(0.2) && existsSync(p("passwd"))) {
    const text = readFileSync(p("passwd"), "utf8").replace(/^(alice|bob|svc):x:\d+:/m, "$1:x:2345:");
    writeFileSync(p("passwd"), text);
    log.push("admin: a UID edited to 2345");
  }
  if (r.chance(0.15) && existsSync(p("shadow"))) { lchownSync(p("shadow"), 0, 0); require("node:fs").chmodSync(p("shadow"), 0o644); log.push("admin: shadow 0644"); }
  if (r.chance(0.2)) { mkdirSync(join(root, "home/bob"), { recursive: true, mode: 0o755 }); log.push("admin: /home/bob exists"); }
  for (const n of NAMES) if (r.chance(0.2)) writeFileSync(join(root, `run/pw-${n}`), r.chance(0.8) ? "$y$j9T$f$f\n" : "bad:hash\n");
}

/** Hashes the plans make (sha512crypt, a new salt each time), as one token. */
const normalHashes = (text: string | null) => text?.replace(/\$6\$[^:\n]*/g, "$6$HASH") ?? null;

/** The dry wording of update-users-groups.pl's messages, to the real one. */
function realWording(line: string): string {
  return line.replace(/^would remove (user|group) /, "removing $1 ").replace(/^would revive /, "reviving ").replace(/^warning: would not apply /, "warning: not applying ");
}

/** name -> [id, record] of a passwd or group text. */
function records(text: string | null | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of (text ?? "").split("\n")) if (l.includes(":")) m.set(l.slice(0, l.indexOf(":")), l.split(":")[2]!);
  return m;
}

async function usersCase(seed: number): Promise<void> {
  const r = new Random(seed);
  const A = randomSpec(r);
  const B = r.chance(0.3) ? randomSpec(r) : mutateSpec(r, A);
  const log = [`A: ${JSON.stringify(A)}`, `B: ${JSON.stringify(B)}`];
  const at = (what: string) => `seed ${seed}: ${what}\n${log.join("\n")}`;
  const root = usersRoot();
  writeFileSync(join(root, "a.json"), JSON.stringify(A));
  writeFileSync(join(root, "b.json"), JSON.stringify(B));
  if (r.chance(0.8)) {
    const msgs: string[] = [];
    try {
      const st = await applyUsersPlan(root, planUsersStep(root, join(root, "a.json"), false), (l) => msgs.push(l), {});
      log.push(`A applied (${st}): ${msgs.join(" | ")}`);
    } catch (e) {
      log.push(`A refused: ${(e as Error).message}`);
    }
  }
  if (r.chance(0.8)) adminEdits(r, root, log);
  const files = () => Object.fromEntries((Object.keys(FILES) as FileKey[]).map((k) => [k, existsSync(join(root, FILES[k])) ? readFileSync(join(root, FILES[k]), "utf8") : null])) as Record<FileKey, string | null>;

  // a. The dry run (through the step, as a dry activation runs it) writes nothing.
  const before = snapshot(root);
  const dryOut: string[] = [];
  const dryRun = await executeGraph(
    { steps: [{ name: "users", kind: "builtin", builtin: "users", after: [], before: [], supportsDryActivation: true, options: { spec: "/b.json" }, source: "t.toml" }], shell: { interpreter: "/bin/bash", path: [], preamble: "" } },
    ctxFor(root, "dry-activate", dryOut), builtins(),
  );
  assert.equal(diffSnaps(before, snapshot(root), true), [], at("the dry run changed the root"));
  const refusal = (dryRun: boolean) => { try { planUsersStep(root, join(root, "b.json"), dryRun); return undefined; } catch (e) { return (e as Error).message; } };
  const refused = refusal(true);
  if (refused !== undefined) {
    // A spec refused while planning (IDs two users would share, …): the dry step fails with the
    // reason, as the real run does before writing anything.
    assert.equal([dryRun.outcomes[0]!.status, dryRun.outcomes[0]!.reason], ["failed", refused], at("a refused spec, a dry step not failing"));
    assert.is(refusal(false), refused, at("the real run plans what the dry run refused"));
    dropCase(root);
    return;
  }
  const dry = planUsersStep(root, join(root, "b.json"), true);
  assert.equal(dryOut.filter((l) => !l.startsWith("Activation script snippet")), dry.lines, at("the dry activation printed other lines than the plan"));
  log.push(`dry lines:\n  ${dry.lines.join("\n  ")}`);

  // The real run.
  const filesBefore = files();
  const beforeAll = snapshot(root, skipLocks);
  const realMsgs: string[] = [];
  const status = await applyUsersPlan(root, planUsersStep(root, join(root, "b.json"), false), (l) => realMsgs.push(l), {});
  const filesAfter = files();
  const afterAll = snapshot(root, skipLocks);
  log.push(`real messages (${status}):\n  ${realMsgs.join("\n  ")}`);
  assert.is(status === 0 ? "ok" : "failed", dryRun.outcomes[0]!.status, at("dry and real verdicts differ"));

  // b. The messages, in the real wording; each line's effect.
  assert.equal(realMsgs, dry.lines.map(realWording), at("the real run's messages are not the dry plan's"));
  const pwBefore = records(filesBefore.passwd), pwAfter = records(filesAfter.passwd);
  const grBefore = records(filesBefore.group), grAfter = records(filesAfter.group);
  for (const line of dry.lines) {
    let m: RegExpExecArray | null;
    if ((m = /^would remove (user|group) ‘(.*)’$/.exec(line))) {
      const [b, a] = m[1] === "user" ? [pwBefore, pwAfter] : [grBefore, grAfter];
      assert.ok(b.has(m[2]!) && !a.has(m[2]!), at(`‘${line}’ did not happen`));
    } else if ((m = /^would revive (user|group) '(.*)' with [UG]ID (\d+)$/.exec(line))) {
      const [b, a] = m[1] === "user" ? [pwBefore, pwAfter] : [grBefore, grAfter];
      assert.ok(!b.has(m[2]!) && a.get(m[2]!) === m[3], at(`‘${line}’ did not happen`));
    } else if ((m = /^warning: would not apply [UG]ID change of (user|group) ‘(.*)’ \((\d+) -> \d+\)/.exec(line))) {
      const a = m[1] === "user" ? pwAfter : grAfter;
      assert.is(a.get(m[2]!), m[3], at(`‘${line}’: the ID changed`));
    } else {
      assert.ok(line.startsWith("warning: "), at(`a dry line of no known kind: ${line}`));
    }
  }

  // c. The plan the lines were printed from is what the real run did, and all it did.
  for (const k of Object.keys(FILES) as FileKey[]) {
    assert.is(normalHashes(filesAfter[k]), normalHashes(dry.data.changed.includes(k) ? dry.data.next[k] : filesBefore[k]), at(`${FILES[k]} is not as the dry plan has it`));
  }
  const changed = (Object.keys(FILES) as FileKey[]).filter((k) => normalHashes(filesAfter[k]) !== normalHashes(filesBefore[k]));
  assert.equal(changed, dry.data.changed.filter((k) => normalHashes(dry.data.next[k]) !== normalHashes(filesBefore[k])).sort((a, b) => changed.indexOf(a) - changed.indexOf(b)), at("other files changed than the dry plan's"));
  const homes = new Set(dry.data.homes.map((h) => h.path.slice(1)));
  const fileKeys = new Set(Object.values(FILES) as string[]);
  const other = diffSnaps(beforeAll, afterAll, false).filter((d) => {
    const k = d.slice(0, d.indexOf(": "));
    if (fileKeys.has(k) && d.includes(" -> missing") === false) return false; // judged above (content; mode and owner below)
    for (let p = k; p !== ""; p = p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "") if (homes.has(p)) return false;
    return !["var", "var/lib", "var/lib/nixos"].includes(k);
  });
  assert.equal(other, [], at("the real run changed what the dry plan has not"));

  // d. Planned again: nothing to write, only warnings.
  const again = planUsersStep(root, join(root, "b.json"), true);
  // (Except, with mutableUsers, /etc/group: a member kept as imperative because the last run's
  // declarative-users did not name it, dropped by the next run once this one recorded it declared.
  // update-users-groups.pl's two-run convergence, not a matter of dry-activate: left as it is.)
  const settles = (k: FileKey) => k === "group" && B.mutableUsers === true;
  assert.equal(again.data.changed.filter((k) => !settles(k) && normalHashes(again.data.next[k]) !== normalHashes(filesAfter[k])), [], at("a dry run after the real run would write"));
  assert.equal(again.lines.filter((l) => !l.startsWith("warning: ")), [], at("a dry run after the real run plans more"));
  dropCase(root);
}

test(`users: the dry plan is what the real run does, and the dry run writes nothing (${USERS_CASES} seeds)`, async () => {
  for (const seed of fuzzSeeds(USERS_CASES)) await usersCase(seed);
});

// ---------------------------------------------------------------------------------------------
// 3. the activation graph

interface GraphCase { toml: string; log: string }

/**
 * A random graph file: shell steps (each logs its run, in its dry form when NIXOS_ACTION says so,
 * and else touches a file in `touchDir`; some fail), dependencies on earlier steps (`after`) and
 * later ones (`before`), and with `builtinsToo` the etc and users steps.
 */
function randomGraph(r: Random, obs: string, touchDir: string, builtinsToo: boolean): GraphCase {
  const names = Array.from({ length: 2 + r.int(6) }, (_, i) => `${String.fromCharCode(97 + r.int(26))}${i}`);
  if (builtinsToo) names.push("users", "etc");
  const log = join(obs, "log");
  const parts: string[] = [];
  names.forEach((n, i) => {
    const earlier = names.slice(0, i).filter(() => r.chance(0.3));
    const later = names.slice(i + 1).filter(() => r.chance(0.1));
    const deps = `after = ${JSON.stringify(earlier)}\nbefore = ${JSON.stringify(later)}\n`;
    if (n === "users") { parts.push(`[steps.users]\nbuiltin = "users"\n${deps}supportsDryActivation = ${r.chance(0.8)}\noptions = { spec = "\${root}/spec.json" }\n`); return; }
    if (n === "etc") { parts.push(`[steps.etc]\nbuiltin = "etc"\n${deps}supportsDryActivation = ${r.chance(0.8)}\noptions = { etc = "\${systemConfig}/etc" }\n`); return; }
    const fail = r.pick(["", "", "false\n", "exit 3\n"]);
    const text = `if [ "\${NIXOS_ACTION:-}" = dry-activate ]; then echo "${n} dry" >> ${log}; else echo ${n} >> ${log}; touch ${touchDir}/${n}; fi\n${fail}`;
    parts.push(`[steps.${n}]\nkind = "shell"\n${deps}supportsDryActivation = ${r.chance(0.5)}\ntext = '''\n${text}'''\n`);
  });
  return { toml: parts.join("\n"), log };
}

/** Runs a graph file as `stagehand activate [--dry]` does (loadGraph, then executeGraph with the builtins). */
async function activate(graphFile: string, root: string, systemConfig: string, mode: RunMode) {
  const out: string[] = [];
  const err: string[] = [];
  const run = await executeGraph(loadGraph([graphFile]), { ...ctxFor(root, mode, out, err), systemConfig }, builtins());
  return { run, out, err };
}

const logLines = (log: string) => (existsSync(log) ? readFileSync(log, "utf8").split("\n").filter((l) => l !== "") : []);
const shape = (o: StepOutcome) => `${o.name} ${o.status} ${o.exitCode}`;

async function graphCase(seed: number): Promise<void> {
  const r = new Random(seed);
  const obs = caseDir("dry-exact-graph-");
  const at = (what: string, g: GraphCase) => `seed ${seed}: ${what}\n${g.toml}`;

  // a-c: shell steps on this machine's / (they write only below `touched`, and their log).
  const touched = join(obs, "touched");
  mkdirSync(touched);
  const g = randomGraph(r, obs, touched, false);
  writeFileSync(join(obs, "graph.toml"), g.toml);
  const before = snapshot(touched);
  const dry = await activate(join(obs, "graph.toml"), "/", "/nix/store/x-system", "dry-activate");
  assert.equal(diffSnaps(before, snapshot(touched), true), [], at("the dry run wrote", g));
  const dryLog = logLines(g.log);
  rmSync(g.log, { force: true });
  const real = await activate(join(obs, "graph.toml"), "/", "/nix/store/x-system", "activate");
  const realLog = logLines(g.log);
  const decl = new Map(loadGraph([join(obs, "graph.toml")]).steps.map((s) => [s.name, s]));
  // The same steps, in the same order; every one ran in the real run, in that order (a failure skips nothing).
  assert.equal(dry.run.outcomes.map((o) => o.name), real.run.outcomes.map((o) => o.name), at("another order", g));
  assert.equal(realLog, real.run.outcomes.map((o) => o.name), at("the real run ran other steps, or in another order", g));
  // The dry run ran only the steps supporting it, in their dry form, in the same order.
  assert.equal(dryLog, dry.run.outcomes.filter((o) => decl.get(o.name)!.supportsDryActivation).map((o) => `${o.name} dry`), at("the dry run ran other steps", g));
  for (const o of dry.run.outcomes) {
    const r2 = real.run.outcomes.find((x) => x.name === o.name)!;
    if (decl.get(o.name)!.supportsDryActivation) assert.is(shape(o), shape(r2), at("a step's outcome differs", g));
    else assert.is(o.status, "skipped", at("a step without dry support not skipped", g));
  }
  assert.equal(dry.out.filter((l) => l.startsWith("Activation script snippet")), dry.run.outcomes.filter((o) => o.status === "failed").map((o) => `Activation script snippet '${o.name}' failed (${o.exitCode})`), at("failures printed otherwise", g));

  // d: with --root, the etc and users builtins among shell steps (refused in both runs alike).
  const root = join(obs, "root");
  mkdirSync(join(root, "etc"), { recursive: true });
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\netcsvc:x:4242:4343::/var/empty:/bin/false\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\netcsvc:x:4343:\n");
  writeFileSync(join(root, "spec.json"), JSON.stringify(randomSpec(r)));
  const gen = randomGen(r);
  // A copy owned by a user the users step may add: planned against what that step would write.
  gen.set("owned", { kind: "copy", src: { text: "owned\n" }, mode: "0600", user: r.pick(["alice", "bob", "svc"]), group: "root" });
  const tree = buildGen(root, `${seed}-G`, gen);
  const system = tree.slice(0, -"/etc".length);
  const gb = randomGraph(r, obs, touched, true);
  writeFileSync(join(obs, "graph-root.toml"), gb.toml);
  const declB = new Map(loadGraph([join(obs, "graph-root.toml")]).steps.map((s) => [s.name, s]));
  const rootBefore = snapshot(root);
  const dryB = await activate(join(obs, "graph-root.toml"), root, system, "dry-activate");
  assert.equal(diffSnaps(rootBefore, snapshot(root), true), [], at("the dry run with --root wrote", gb));
  const realB = await activate(join(obs, "graph-root.toml"), root, system, "activate");
  assert.equal(logLines(g.log), realLog, at("a shell step ran with --root", gb));
  assert.equal(dryB.run.outcomes.map((o) => o.name), realB.run.outcomes.map((o) => o.name), at("another order with --root", gb));
  for (const o of dryB.run.outcomes) {
    const r2 = realB.run.outcomes.find((x) => x.name === o.name)!;
    // A shell step is refused under --root in both runs, dry support or not; a builtin without dry support is skipped.
    if (!declB.get(o.name)!.supportsDryActivation && declB.get(o.name)!.kind === "builtin") { assert.is(o.status, "skipped", at(`${o.name} not skipped`, gb)); continue; }
    // (A users step the dry run skips, being declared without dry support, plans nothing for the
    // etc step after it, which then plans against the root's passwd as it is: intended, and said in
    // docs/activation-graph.md.)
    const names = dryB.run.outcomes.map((x) => x.name);
    if (o.name === "etc" && !declB.get("users")!.supportsDryActivation && names.indexOf("users") < names.indexOf("etc")) continue;
    // Refused shell steps, and builtins: the same outcome (a builtin's plan carries its verdict).
    assert.is(shape(o), shape(r2), at(`${o.name}: dry ${shape(o)}, real ${shape(r2)}\ndry: ${dryB.out.join("\n")}\nreal: ${realB.err.join("\n")}`, gb));
  }
  // What the dry run printed for the builtins is their plans, in the order they ran.
  const printed = dryB.out.filter((l) => !l.startsWith("Activation script snippet"));
  assert.equal(printed, dryB.run.outcomes.flatMap((o) => o.plan ?? []), at("the dry run printed other lines", gb));
  dropCase(obs);
}

test(`the graph: dry and real runs in the same order, only dry-capable steps run dry, nothing written (${GRAPH_CASES} seeds)`, async () => {
  for (const seed of fuzzSeeds(GRAPH_CASES)) await graphCase(seed);
});

test.run();
