/**
 * Shared method of the Perl-vs-stagehand benchmarks: two private overlay copies of the cached Debian
 * rootfs (one for the Perl original, one for the compiled binary), each tool run by `chroot` so both
 * pay the same process start-up, timed by hyperfine in turn, round after round, so the ratio holds on a noisy
 * machine, with `--prepare` restoring a saved state where a first run is measured.
 */
import { copyFileSync, mkdirSync, statSync } from "node:fs";
import { execFileSync, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { overlayRoot, type RootCopy, type Suite } from "../test/harness/rootfs.ts";
import { hyperfine, peakRssKiB, readFromDisk } from "./binary.ts";

export const ROOT = join(import.meta.dir, "..");
/**
 * The binary measured: dist/stagehand, or STAGEHAND_BENCH_BINARY (a build of a fixed commit, so that
 * a rebuild of dist/ by other work during a long run does not change what is measured midway).
 */
export const BINARY = process.env.STAGEHAND_BENCH_BINARY ?? join(ROOT, "dist/stagehand");

/** One program's time on a scenario: mean and standard deviation (ms), and its peak RSS. */
export interface Timing { ms: number; sd: number; rssKiB: number }

/** One row of a comparison table: the tools on the same scenario, in the same run. */
export interface ComparisonRow {
  scenario: string;
  perlMs: number; perlSd: number;
  oursMs: number; oursSd: number;
  perlRssKiB: number; oursRssKiB: number;
  /** More programs on the same scenario (the etc step's floors, or userborn), in the order given to compare. */
  others: Timing[];
}

/** A further program of a comparison: its command and the state its runs start from. */
export interface OtherProgram { argv: string[]; prep?: string }

/**
 * Where the roots' /etc lives: "disk" is a plain directory on the host's filesystem (what a machine
 * pays, kernel and storage included); "tmpfs" takes the storage out (symlink and fsync cost next to
 * nothing), leaving mostly each tool's own work.
 */
export type EtcFs = "disk" | "tmpfs";

/**
 * Two overlay roots of `suite`'s rootfs (three with `thirdBinary`, copied in as /third): `perl` gets
 * the script at /SCRIPT, `ours` gets /stagehand and a /proc. Their
 * /etc is a plain copy on the host's filesystem bind-mounted in: on overlayfs every new symlink or
 * file costs a copy-up and a whiteout dance (about 0.7 ms per symlink here), a cost no real /etc pays
 * and that would hide both tools' own work.
 */
export function comparisonRoots(prefix: string, perlScript: string, scriptName: string, etcFs: EtcFs = "disk", thirdBinary?: string, suite: Suite = "bookworm"): { perl: RootCopy; ours: RootCopy; third?: RootCopy; dispose(): void } {
  const perl = overlayRoot(`${prefix}-perl-`, suite);
  const ours = overlayRoot(`${prefix}-ours-`, suite);
  // A third program (a static binary, or one built for `suite`) gets its own root, copied in as /third.
  const third = thirdBinary === undefined ? undefined : overlayRoot(`${prefix}-third-`, suite);
  for (const r of [perl, ours, ...(third ? [third] : [])]) {
    const etc = join(dirname(r.dir), "plain-etc");
    mkdirSync(etc);
    if (etcFs === "tmpfs") execFileSync("mount", ["-t", "tmpfs", "-o", "mode=0755", "tmpfs", etc]);
    execFileSync("cp", ["-a", `${join(r.dir, "etc")}/.`, etc]);
    execFileSync("mount", ["--bind", etc, join(r.dir, "etc")]);
    if (etcFs === "tmpfs") execFileSync("umount", ["-l", etc]); // stays mounted through the bind
  }
  copyFileSync(perlScript, join(perl.dir, scriptName));
  copyFileSync(BINARY, join(ours.dir, "stagehand"));
  if (third) copyFileSync(thirdBinary!, join(third.dir, "third"));
  for (const copy of [join(perl.dir, scriptName), join(ours.dir, "stagehand"), ...(third ? [join(third.dir, "third")] : [])]) readFromDisk(copy);
  // A compiled Bun binary reads its own code through /proc/self/exe.
  execFileSync("mount", ["-t", "proc", "proc", join(ours.dir, "proc")]);
  return { perl, ours, third, dispose() { perl.dispose(); ours.dispose(); third?.dispose(); } };
}

/** A shell command line quoting each word, for hyperfine's command and --prepare strings. */
export function shellLine(argv: string[]): string {
  return argv.map((a) => /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
}

/** Saves DIR's listed subpaths (cp -a) under DIR/SAVE, and returns a shell command restoring them. */
export function saveState(dir: string, subpaths: string[], save: string): string {
  mkdirSync(join(dir, save), { recursive: true });
  const parts: string[] = [];
  for (const p of subpaths) {
    const to = join(dir, save, p.replace(/\//g, "_"));
    execFileSync("rm", ["-rf", to]);
    execFileSync("cp", ["-a", join(dir, p), to]);
    // Directories are emptied and refilled in place: they may be mount points (/etc).
    parts.push(statSync(join(dir, p)).isDirectory()
      ? `find ${shellLine([join(dir, p)])} -mindepth 1 -delete && cp -a ${shellLine([`${to}/.`, join(dir, p)])}`
      : `cp -a ${shellLine([to, join(dir, p)])}`);
  }
  return `sh -c ${shellLine([parts.join(" && ")])}`;
}

/** Runs a command once, failing loudly (the bench must not time a broken run). */
export function must(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} exited ${r.status}:\n${(r.stderr ?? "").slice(-2000)}`);
  return r.stdout;
}

/** Mean and standard deviation (sample) of times in ms. */
function meanSd(xs: number[]): { meanMs: number; stddevMs: number } {
  const meanMs = xs.reduce((a, b) => a + b, 0) / xs.length;
  const stddevMs = xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, b) => a + (b - meanMs) ** 2, 0) / (xs.length - 1));
  return { meanMs, stddevMs };
}

/**
 * Times the commands in turn, round after round (hyperfine, one timed run of each per round, the warm-ups
 * in the first), so each program meets the same state of the machine and of its file system: run back to
 * back, a first-run row on a journal-less ext4 timed whichever program came last in its inode allocator's
 * "recently deleted" window (the bench deletes and restores /etc before each run). Then measures each
 * one's peak RSS after its `prepare`.
 */
export function compare(scenario: string, perl: string[], ours: string[], opts: { prepPerl?: string; prepOurs?: string; runs?: number; others?: OtherProgram[] }): ComparisonRow {
  const runs = opts.runs ?? 10;
  const programs = [{ argv: perl, prep: opts.prepPerl }, { argv: ours, prep: opts.prepOurs }, ...(opts.others ?? [])]
    .map((p) => ({ ...p, line: shellLine(p.argv), times: [] as number[] }));
  for (let round = 0; round < runs; round++) {
    for (const prog of programs) prog.times.push(...hyperfine(prog.line, 1, prog.prep, false, round === 0 ? 3 : 0).timesMs);
  }
  const timings: Timing[] = programs.map((prog) => {
    const { meanMs, stddevMs } = meanSd(prog.times);
    if (prog.prep) must(["sh", "-c", prog.prep]);
    return { ms: meanMs, sd: stddevMs, rssKiB: peakRssKiB(prog.argv) };
  });
  const [p, o, ...others] = timings as [Timing, Timing, ...Timing[]];
  return { scenario, perlMs: p.ms, perlSd: p.sd, oursMs: o.ms, oursSd: o.sd, perlRssKiB: p.rssKiB, oursRssKiB: o.rssKiB, others };
}

/**
 * The Markdown table for comparison rows; `others` names the further programs' columns (as given
 * to compare) and how each one's ratio reads ("floor": stagehand ÷ it, how far above that floor;
 * "peer": it ÷ stagehand, like Perl's).
 */
export function comparisonTable(title: string, intro: string, perlName: string, rows: ComparisonRow[], others: { name: string; kind: "floor" | "peer" }[] = []): string[] {
  const mib = (k: number) => (k / 1024).toFixed(1);
  const ms = (m: number, sd: number) => `${m.toFixed(1)} ± ${sd.toFixed(1)}`;
  const ratio = (r: ComparisonRow, i: number) => {
    const t = r.others[i];
    if (!t) return "–";
    return others[i]!.kind === "floor" ? `${(r.oursMs / t.ms).toFixed(2)}×` : `${(t.ms / r.oursMs).toFixed(2)}×`;
  };
  const ratioHead = (o: { name: string; kind: "floor" | "peer" }) => o.kind === "floor" ? `stagehand ÷ ${o.name}` : `${o.name} ÷ stagehand`;
  const speedUp = others.length === 0 ? "speed-up" : `${perlName} ÷ stagehand`;
  return [
    title, "", intro, "",
    `| scenario | ${perlName} (ms) | ${others.map((o) => `${o.name} (ms) | `).join("")}stagehand (ms) | ${speedUp} | ` +
      `${others.map((o) => `${ratioHead(o)} | `).join("")}peak RSS perl / ${others.map((o) => `${o.name} / `).join("")}stagehand (MiB) |`,
    `| --- | ---: | ${others.map(() => "---: | ").join("")}---: | ---: | ${others.map(() => "---: | ").join("")}---: |`,
    ...rows.map((r) =>
      `| ${r.scenario} | ${ms(r.perlMs, r.perlSd)} | ${others.map((_, i) => `${r.others[i] ? ms(r.others[i]!.ms, r.others[i]!.sd) : "–"} | `).join("")}` +
      `${ms(r.oursMs, r.oursSd)} | ${(r.perlMs / r.oursMs).toFixed(1)}× | ${others.map((_, i) => `${ratio(r, i)} | `).join("")}` +
      `${mib(r.perlRssKiB)} / ${others.map((_, i) => `${r.others[i] ? mib(r.others[i]!.rssKiB) : "–"} / `).join("")}${mib(r.oursRssKiB)} |`),
    "",
  ];
}
