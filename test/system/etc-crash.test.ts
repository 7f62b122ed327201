/**
 * Kill loop for `stagehand etc` (issue 13 §3): a large switch of the etc tree (thousands of links
 * and copies, directories becoming links and back) is killed with SIGKILL at seeded random points,
 * each followed by a normal run. After every kill each entry of /etc is the old or the new
 * version (never a mix, never missing when both versions have it), a half-written copy is never
 * more readable than its final mode allows, and after the next run /etc is exactly the new
 * generation's with no temporary file of ours left anywhere.
 *
 * The kill points are system calls, not wall-clock moments: strace injects SIGKILL at the n-th
 * call of one of the calls that change /etc (rename, symlink, unlink, mkdir, rmdir, write, fsync,
 * syncfs), the call and n drawn from the seed among those an undisturbed switch makes. A tmpfs
 * holds the root, so the runs' syncfs do not wait on the machine's disk (about 45 s in all).
 * The behaviour does not depend on the Debian release (no rootfs is used):
 * @suites bookworm
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync, spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isTempName } from "../../src/fs/staged.ts";
import { fuzzSeeds, Random } from "../harness/random.ts";
import { buildEtcTree, type FixtureEntry, snapshot } from "../unit/etc/fixtures.ts";

const BIN = join(import.meta.dir, "../../dist/stagehand");
/** Kills per seed: each is a killed run plus a normal one. */
const KILLS = 24;
/** The calls at which a run is killed (Bun's names for them on x86_64 and aarch64 alike). */
const CALLS = ["rename", "renameat", "renameat2", "symlink", "symlinkat", "unlink", "unlinkat", "mkdir", "mkdirat", "rmdir",
  "write", "pwrite64", "fsync", "syncfs"];

const work = mkdtempSync("/tmp/etc-crash-");
const root = join(work, "root");
// On a tmpfs of its own: the many syncfs of the runs then wait for nothing else on the machine's disk.
execFileSync("mount", ["-t", "tmpfs", "-o", "size=512m,mode=0755", "etc-crash", work]);

/** Two generations that differ in every way /etc can change. */
function generations(): [Record<string, FixtureEntry>, Record<string, FixtureEntry>] {
  const a: Record<string, FixtureEntry> = {};
  const b: Record<string, FixtureEntry> = {};
  for (let d = 0; d < 30; d++) {
    for (let i = 0; i < 50; i++) {
      const name = `links${d}/l${i}`;
      if (i % 10 !== 0) a[name] = { text: `a ${name}\n` };          // kept (content changes with the tree)
      if (i % 10 !== 1) b[name] = { text: `b ${name}\n` };          // so: some removed, some added
    }
    for (let i = 0; i < 20; i++) {
      const name = `copies${d}/c${i}`;
      a[name] = { text: `old ${name}\n`.repeat(20), mode: i % 2 ? "0640" : "0600" };
      if (i !== 19) b[name] = { text: `new ${name}\n`.repeat(30), mode: i % 3 ? "0640" : "0400" };
    }
  }
  for (let j = 0; j < 30; j++) {
    a[`dir2link${j}/x`] = { text: "x\n" };                             // a directory of static links ...
    b[`dir2link${j}`] = { dir: { x: "x\n" } };                         // ... becomes a link
    a[`link2dir${j}`] = { dir: { y: "y\n" } };                         // a link to a directory ...
    b[`link2dir${j}/y`] = { text: "y\n" };                             // ... becomes a directory of links
    a[`copy2link${j}`] = { text: "c\n", mode: "0600" };
    b[`copy2link${j}`] = { text: "l\n" };
    a[`link2copy${j}`] = { text: "l\n" };
    b[`link2copy${j}`] = { text: "c\n", mode: "0640" };
  }
  return [a, b];
}

/** /etc without the bookkeeping that is allowed to be in between (.clean is checked apart). */
const etcSnapshot = () => snapshot(join(root, "etc"));

/** Temporary names anywhere under the root but the store (which no run writes). */
function temps(): string[] {
  const found: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (r === "nix") continue;
      if (d.name.includes(".stagehand-")) found.push(r);
      if (d.isDirectory()) walk(join(dir, d.name), r);
    }
  };
  walk(root, "");
  return found;
}

function run(tree: string, what: string) {
  const r = spawnSync(BIN, ["etc", "--root", root, tree], { encoding: "utf8" });
  assert.is(r.status, 0, `${what}: ${r.stderr}`);
}

/** How often an undisturbed switch makes each of CALLS, from strace's summary. */
function callCounts(tree: string): Map<string, number> {
  const out = join(work, "counts");
  const r = spawnSync("strace", ["-f", "--seccomp-bpf", "-qq", "-c", "-U", "name,calls", "-o", out, "-e", `trace=${CALLS.join(",")}`,
    BIN, "etc", "--root", root, tree], { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  const counts = new Map<string, number>();
  for (const line of readFileSync(out, "utf8").split("\n")) {
    const m = /^\s*(\w+)\s+(\d+)\s*$/.exec(line);
    if (m && CALLS.includes(m[1]!)) counts.set(m[1]!, Number(m[2]));
  }
  return counts;
}

/**
 * Checks /etc between a killed run and the next: every entry the old or the new version, our
 * temporary files only where and as they may be. Returns whether any entry was old and any new.
 */
function checkBetween(what: string, from: Record<string, string>, to: Record<string, string>, copies: Set<string>): { olds: number; news: number } {
  const now = etcSnapshot();
  let olds = 0;
  let news = 0;
  for (const key of new Set([...Object.keys(from), ...Object.keys(to)])) {
    if (key === ".clean") continue;
    const v = now[key];
    const ok = v === from[key] || v === to[key];
    assert.ok(ok, `${what}: /etc/${key} is neither old nor new: ${v ?? "(missing)"} | old ${from[key] ?? "(none)"} | new ${to[key] ?? "(none)"}`);
    // (/etc/static itself flips first, so it is not counted.)
    if (from[key] !== to[key] && key !== "static") { if (v === from[key]) olds++; else news++; }
  }
  for (const [key, v] of Object.entries(now)) {
    if (key in from || key in to) continue;
    const parts = key.split("/");
    assert.ok(parts.some(isTempName), `${what}: /etc/${key} is neither an entry nor one of our temporary files`);
    // A copy being written has at most its final mode: no world bits for any of these copies.
    if (v.startsWith("file ") && !parts.at(-1)!.startsWith("..clean.")) {
      assert.is(lstatSync(join(root, "etc", key)).mode & 0o007, 0, `${what}: temporary ${key} is world-accessible`);
    }
  }
  // Every copy on disk is listed in .clean (so a later run can remove it), whatever moment the kill hit.
  const clean = new Set(readFileSync(join(root, "etc/.clean"), "utf8").split("\n"));
  for (const [key, v] of Object.entries(now)) {
    if (!v.startsWith("file ") || !copies.has(key)) continue;
    assert.ok(clean.has(key), `${what}: the copy /etc/${key} is not tracked in /etc/.clean`);
  }
  return { olds, news };
}

test.after(() => {
  spawnSync("umount", ["-l", work]);
  rmSync(work, { recursive: true, force: true });
});

test("kill loop: SIGKILL at seeded points of a large switch, each followed by a normal run", () => {
  mkdirSync(join(root, "etc"), { recursive: true });
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\n");
  const [genA, genB] = generations();
  const copies = new Set(Object.entries({ ...genA, ...genB }).filter(([, e]) => e.mode && /^[0-7]+$/.test(e.mode)).map(([n]) => n));
  const trees = [buildEtcTree(root, genA), buildEtcTree(root, genB)] as const;
  // The reference /etc of each generation, and the calls each direction's switch makes.
  run(trees[0], "first run");
  const snaps: Record<string, string>[] = [etcSnapshot()];
  const counts = [new Map<string, number>(), callCounts(trees[1])];
  snaps[1] = etcSnapshot();
  counts[0] = callCounts(trees[0]);
  assert.equal(etcSnapshot(), snaps[0], "switching back gives the first generation's /etc exactly");
  for (const n of [0, 1]) assert.ok((counts[n]!.get("renameat2") ?? 0) + (counts[n]!.get("rename") ?? 0) + (counts[n]!.get("renameat") ?? 0) > 100, `${[...counts[n]!]}`);

  for (const seed of fuzzSeeds(1)) {
    const rnd = new Random(seed);
    let mixed = 0;
    // Starts at the first generation; kill i switches to generation (i+1) % 2, so each kill is mid-switch.
    for (let i = 0; i < KILLS; i++) {
      const to = (i + 1) % 2;
      const from = 1 - to;
      // The call first (rare ones such as syncfs or rmdir are hit as often as write), then which of its calls.
      const [call, count] = rnd.pick([...counts[to]!].filter(([, c]) => c > 0));
      const nth = 1 + rnd.int(count);
      const what = `seed ${seed}, kill ${i} at ${call} #${nth} of ${count}`;
      const r = spawnSync("strace", ["-f", "-qq", "-o", "/dev/null", "-e", `trace=${call}`, "-e", `inject=${call}:signal=SIGKILL:when=${nth}`,
        BIN, "etc", "--root", root, trees[to]], { encoding: "utf8" });
      assert.is.not(r.status, 0, `${what}: the run was killed`);
      const { olds, news } = checkBetween(what, snaps[from]!, snaps[to]!, copies);
      if (olds > 0 && news > 0) mixed++;
      run(trees[to], `${what}, the next run`);
      assert.equal(etcSnapshot(), snaps[to], `${what}: the next run gives the new generation's /etc exactly`);
      assert.equal(temps(), [], `${what}: no temporary file left after the next run`);
    }
    // Printed, not asserted: which entries a kill point leaves old depends on where it fell.
    console.log(`etc kill loop (seed ${seed}): ${KILLS} kills, ${mixed} with old and new entries side by side`);
  }
});

test.run();
