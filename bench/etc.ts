/**
 * setup-etc: `stagehand etc` against NixOS's setup-etc.pl on 2,000 `environment.etc` entries (links,
 * copies with modes and owners, direct-symlinks, directory sources, nested directories): first run on a
 * Debian /etc, a no-op rerun, and a switch where 10% of the entries change; beside them the floor
 * (bench/floor/etc-floor.c: the same /etc with the fewest system calls), with each run's system calls.
 * Each program runs in a chroot on its own overlay copy of the cached rootfs (setup-etc.pl writes the
 * real /etc).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildEtcTree, snapshot, type FixtureEntry } from "../test/unit/etc/fixtures.ts";
import { compare, comparisonRoots, comparisonTable, must, saveState, type ComparisonRow, type EtcFs } from "./chroot.ts";
import { reference } from "../test/harness/shared.ts";
import { buildLike, readFromDisk } from "./binary.ts";

const PERL_SCRIPT = reference("nixos/modules/system/etc/setup-etc.pl");

/** A realistic mix of N entries; `variant` changes the content (and some kinds) of every 10th one. */
export function etcEntries(n: number, variant = 0): Record<string, FixtureEntry> {
  const entries: Record<string, FixtureEntry> = {};
  for (let i = 0; i < n; i++) {
    const changed = variant > 0 && i % 10 === 3;
    const text = `entry ${i}${changed ? ` v${variant}` : ""}\n${"x".repeat(200 + (i % 7) * 50)}\n`;
    const path = i % 5 === 0 ? `top-${i}.conf` : `d${i % 40}/sub${i % 6}/${i % 3 === 0 ? "deeper/" : ""}file-${i}.conf`;
    const kind = i % 10;
    if (kind < 6) entries[path] = { text };                                            // 60% plain links
    else if (kind < 8) entries[path] = { text, mode: ["0644", "0600", "0640", "0444"][i % 4]!, user: `+${i % 3 === 0 ? 0 : 1000 + (i % 50)}`, group: `+${i % 2 ? 0 : 100}` }; // 20% copies
    else if (kind < 9) entries[path] = { text, mode: "direct-symlink" };              // 10% direct symlinks
    else entries[`dirs/${i}`] = { dir: { "a.conf": text, "b.conf": `b ${i}\n`, "c.conf": `c ${i}\n` } }; // 10% directory sources
  }
  // A removed and an added tenth of the kinds in the changed variant, so the change is not only content.
  if (variant > 0) {
    for (let i = 7; i < n; i += 50) delete entries[Object.keys(entries)[i]!];
    for (let i = 0; i < n / 50; i++) entries[`added-${variant}/new-${i}.conf`] = { text: `new ${i}\n` };
  }
  return entries;
}

/** The two floors' binaries. */
export interface Floors { c: string; bun: string }

/**
 * Compiles bench/floor/etc-floor.c (static, so it runs in any root) and bench/floor/etc-floor.ts (with
 * stagehand's build line: the same runtime and flags); returns the binaries' paths.
 */
export function buildFloors(dir: string): Floors {
  const c = join(dir, "etc-floor");
  execFileSync("gcc", ["-O2", "-static", "-o", c, join(import.meta.dir, "floor/etc-floor.c")], { stdio: "inherit" });
  const bun = join(dir, "etc-floor-bun");
  buildLike(join(import.meta.dir, ".."), join(import.meta.dir, "floor/etc-floor.ts"), bun);
  return { c, bun };
}

/** System calls of one run (`strace -f -c`): the total and the counts by name. */
export function syscallCounts(argv: string[], prepare?: string): { total: number; byName: Map<string, number> } {
  if (prepare) must(["sh", "-c", prepare]);
  const dir = mkdtempSync(join(tmpdir(), "bench-strace-"));
  try {
    const out = join(dir, "c.txt");
    spawnSync("strace", ["-f", "-c", "-U", "name,calls", "-o", out, ...argv], { stdio: "ignore" });
    const byName = new Map<string, number>();
    for (const line of readFileSync(out, "utf8").split("\n")) {
      const m = /^\s*([a-z_0-9]+)\s+(\d+)\s*$/.exec(line);
      if (m && m[1] !== "total") byName.set(m[1]!, Number(m[2]));
    }
    return { total: [...byName.values()].reduce((a, b) => a + b, 0), byName };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Per scenario: system calls of the floor and of stagehand, and the calls stagehand makes most beyond the floor's. */
export interface SyscallRow { scenario: string; floor: number; ours: number; extra: string }

function syscallRow(scenario: string, floor: ReturnType<typeof syscallCounts>, ours: ReturnType<typeof syscallCounts>): SyscallRow {
  const extra = [...ours.byName].map(([k, v]) => [k, v - (floor.byName.get(k) ?? 0)] as const)
    .filter(([, d]) => d > 0).sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, d]) => `${k} +${d}`).join(", ");
  return { scenario, floor: floor.total, ours: ours.total, extra };
}

/** Runs the etc comparison; returns its Markdown section. */
export function benchEtc(n = 2000, runs = 10, filesystems: EtcFs[] = ["disk", "tmpfs"]): string[] {
  const dir = mkdtempSync(join(tmpdir(), "bench-floor-"));
  const floors = buildFloors(dir);
  const sys: SyscallRow[] = [];
  const notes: string[] = [];
  let rows: ComparisonRow[];
  try {
    rows = filesystems.flatMap((fs) => etcRows(n, runs, fs, floors, sys, notes));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return [...comparisonTable("## setup-etc: `stagehand etc` vs setup-etc.pl and the floor",
    `${n} entries (60% links, 20% copies with modes and numeric owners, 10% direct symlinks, 10% directory sources; ` +
    "nested up to 4 levels). Each tool runs by `chroot` in its own overlay copy of a Debian rootfs, whose /etc is a plain " +
    "directory on the host's disk (ext4) or on a tmpfs (storage cost taken out: the tools' own work); hyperfine, " +
    `the four programs in turn, ${runs} rounds after 3 warm-ups, mean ± σ; first-run and change rows restore /etc before each run (\`--prepare\`, not timed). ` +
    "setup-etc.pl's no-op rerun removes and re-creates every link (a bug stagehand does not reproduce); stagehand " +
    "makes each file it writes durable before renaming it into place and each changed directory after (crash safety: " +
    "fsync of each, or one syncfs per file system from 16 on), setup-etc.pl syncs nothing; a no-op writes and syncs nothing. " +
    "**The floor** (`bench/floor/etc-floor.c`, static C, run by chroot the same way) makes the same /etc with the fewest " +
    "system calls: one listing per directory of the tree and of /etc, a `readlink` per link, open+fstat+read per copy, " +
    "writes only where something differs, the same durability (fsync or one syncfs, changed directories fsync'd); no " +
    "lock, no validation, no confinement, no reporting. **The Bun floor** (`bench/floor/etc-floor.ts`) is the same " +
    "algorithm call for call through node:fs, compiled with stagehand's build line, in the C floor's root: what any " +
    "program on this runtime pays for the same calls (start-up and node:fs's cost per call), so stagehand ÷ it is " +
    "stagehand's own work above that. Both floors' results are compared with stagehand's after each first run " +
    "and change (a difference is noted below the table).",
    "setup-etc.pl", rows, [{ name: "floor (C)", kind: "floor" }, { name: "floor (Bun)", kind: "floor" }]),
    "System calls of one run (`strace -f -c`; stagehand's include the runtime's start, about 150 calls for `--version`):",
    "",
    "| scenario | floor | stagehand | most of the difference |",
    "| --- | ---: | ---: | --- |",
    ...sys.map((r) => `| ${r.scenario} | ${r.floor} | ${r.ours} | ${r.extra} |`),
    "",
    ...(notes.length ? [...notes, ""] : []),
  ];
}

function etcRows(n: number, runs: number, fs: EtcFs, floors: Floors, sys: SyscallRow[], notes: string[]): ComparisonRow[] {
  const roots = comparisonRoots("bench-etc", PERL_SCRIPT, "setup-etc.pl", fs, floors.c);
  const third = roots.third!;
  // The Bun floor shares the C floor's root (both make the same /etc); a compiled Bun binary reads
  // its own code through /proc/self/exe.
  copyFileSync(floors.bun, join(third.dir, "third-bun"));
  readFromDisk(join(third.dir, "third-bun"));
  execFileSync("mount", ["-t", "proc", "proc", join(third.dir, "proc")]);
  try {
    const genA = etcEntries(n);
    const genB = etcEntries(n, 1);
    const [pA, oA, fA] = [roots.perl, roots.ours, third].map((r) => buildEtcTree(r.dir, genA));
    const [pB, oB, fB] = [roots.perl, roots.ours, third].map((r) => buildEtcTree(r.dir, genB));
    const perl = (etc: string) => ["chroot", roots.perl.dir, "perl", "/setup-etc.pl", etc!];
    const ours = (etc: string) => ["chroot", roots.ours.dir, "/stagehand", "etc", etc!];
    const floor = (etc: string) => ["chroot", third.dir, "/third", etc!];
    const bunFloor = (etc: string) => ["chroot", third.dir, "/third-bun", etc!];
    const rows: ComparisonRow[] = [];
    /** A floor must make the /etc stagehand makes (else its time means nothing): compared, noted if not. */
    const sameResult = (what: string, who: string) => {
      const skip = (name: string) => name === ".clean" || name.startsWith(".bench") || name.endsWith(".floor-tmp");
      const a = snapshot(join(roots.ours.dir, "etc"), skip);
      const b = snapshot(join(third.dir, "etc"), skip);
      const diff = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]);
      if (diff.length) notes.push(`${fs}, ${what}: the ${who}'s /etc differs from stagehand's at ${diff.length} paths (e.g. ${diff.slice(0, 3).map((d) => `\`${d}\`: ${a[d] ?? "absent"} vs ${b[d] ?? "absent"}`).join("; ")}).`);
    };
    // Debian's /etc as debootstrap left it: the first-run starting point.
    const freshPerl = saveState(roots.perl.dir, ["etc"], ".bench-fresh");
    const freshOurs = saveState(roots.ours.dir, ["etc"], ".bench-fresh");
    const freshFloor = saveState(third.dir, ["etc"], ".bench-fresh");
    rows.push(compare(`${fs}: first run, ${n} entries`, perl(pA!), ours(oA!), { prepPerl: freshPerl, prepOurs: freshOurs, runs, others: [{ argv: floor(fA!), prep: freshFloor }, { argv: bunFloor(fA!), prep: freshFloor }] }));
    sys.push(syscallRow(`${fs}: first run`, syscallCounts(floor(fA!), freshFloor), syscallCounts(ours(oA!), freshOurs)));
    must(["sh", "-c", freshPerl]); must(perl(pA!));
    must(["sh", "-c", freshOurs]); must(ours(oA!));
    must(["sh", "-c", freshFloor]); must(bunFloor(fA!));
    sameResult("first run", "Bun floor");
    must(["sh", "-c", freshFloor]); must(floor(fA!));
    sameResult("first run", "C floor");
    rows.push(compare(`${fs}: no-op rerun`, perl(pA!), ours(oA!), { runs, others: [{ argv: floor(fA!) }, { argv: bunFloor(fA!) }] }));
    sys.push(syscallRow(`${fs}: no-op`, syscallCounts(floor(fA!)), syscallCounts(ours(oA!))));
    const afterPerl = saveState(roots.perl.dir, ["etc"], ".bench-after-a");
    const afterOurs = saveState(roots.ours.dir, ["etc"], ".bench-after-a");
    const afterFloor = saveState(third.dir, ["etc"], ".bench-after-a");
    rows.push(compare(`${fs}: 10% of entries changed, added or removed`, perl(pB!), ours(oB!), { prepPerl: afterPerl, prepOurs: afterOurs, runs, others: [{ argv: floor(fB!), prep: afterFloor }, { argv: bunFloor(fB!), prep: afterFloor }] }));
    sys.push(syscallRow(`${fs}: 10% changed`, syscallCounts(floor(fB!), afterFloor), syscallCounts(ours(oB!), afterOurs)));
    must(["sh", "-c", afterOurs]); must(ours(oB!));
    must(["sh", "-c", afterFloor]); must(bunFloor(fB!));
    sameResult("10% changed", "Bun floor");
    must(["sh", "-c", afterFloor]); must(floor(fB!));
    sameResult("10% changed", "C floor");
    return rows;
  } finally {
    roots.dispose();
  }
}

if (import.meta.main) {
  const fs = process.argv[4] ? [process.argv[4] as EtcFs] : undefined;
  console.log(benchEtc(Number(process.argv[2] ?? 2000), Number(process.argv[3] ?? 10), fs).join("\n"));
}
