/**
 * The binary's own costs: size on disk, size compressed with `zstd -19` (what it would add to an
 * initrd), and start-up time of `--version`, measured with hyperfine, beside a compiled hello-world
 * built with the same flags (Bun's own start-up: what no change to stagehand's code can remove).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface BinaryCosts {
  sizeBytes: number;
  zstdBytes: number;
  versionMeanMs: number;
  versionStddevMs: number;
  /** CPU time of `--version` (user + system, hyperfine's means): what start-up costs without waiting for a CPU. */
  versionCpuMs: number;
  peakRssKiB: number;
  /** The same for a compiled Bun program that only prints a line, built with the same flags: Bun's own start. */
  hello: { meanMs: number; stddevMs: number; cpuMs: number; peakRssKiB: number; sizeBytes: number };
}

/**
 * Runs hyperfine on one command and returns its mean and standard deviation in milliseconds;
 * `prepare` (a command line) runs before each timed run, outside the timing (for first-run state);
 * `ignoreFailure` keeps timing when the command exits non-zero (the caller reports exit statuses);
 * `warmup` untimed runs come first (fewer where one run takes seconds).
 */
export function hyperfine(command: string, runs = 20, prepare?: string, ignoreFailure = false, warmup = 3): { meanMs: number; stddevMs: number; userMs: number; systemMs: number; timesMs: number[] } {
  const dir = mkdtempSync(join(tmpdir(), "bench-"));
  try {
    const json = join(dir, "h.json");
    const prep = prepare === undefined ? [] : ["--prepare", prepare];
    execFileSync("hyperfine", ["--warmup", String(warmup), "--runs", String(runs), "--export-json", json, "-N", ...prep, ...(ignoreFailure ? ["-i"] : []), command], { stdio: "ignore" });
    const r = JSON.parse(readFileSync(json, "utf8")).results[0];
    return { meanMs: r.mean * 1000, stddevMs: (r.stddev ?? 0) * 1000, userMs: r.user * 1000, systemMs: r.system * 1000, timesMs: (r.times as number[]).map((t) => t * 1000) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Peak resident set size of one run, from GNU time. */
export function peakRssKiB(argv: string[]): number {
  const r = spawnSync("/usr/bin/time", ["-f", "%M", ...argv], { encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] });
  return Number(r.stderr.trim().split("\n").at(-1));
}

/**
 * Drops `path`'s pages from the page cache, so that its next run reads it back from the disk, as a
 * binary in the Nix store is read after a boot. A file just written (a build, a copy) stays cached in
 * large folios, which a page fault maps many pages of at once: a compiled Bun binary then starts with
 * about 5% fewer faults and 5 MiB more RSS than the same file read back. Every program compared is
 * put in this state before its warm-up runs, so none is measured from a fresher cache than another.
 */
export function readFromDisk(path: string): void {
  execFileSync("dd", [`if=${path}`, "iflag=nocache", "count=0", "status=none"]);
}

/** Builds `entry` into `out` with the build line of package.json's `build` script (stagehand's own flags). */
export function buildLike(root: string, entry: string, out: string): void {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: { build: string } };
  const words = pkg.scripts.build.split(/\s+/);
  if (words[0] !== "bun" || words[1] !== "build") throw new Error(`unexpected build script: ${pkg.scripts.build}`);
  const args = words.slice(2).map((w) => (w === "src/main.ts" ? entry : w === "dist/stagehand" ? out : w));
  execFileSync(process.execPath, ["build", ...args], { cwd: root, stdio: "ignore" });
}

/** Measures dist/stagehand, and a compiled hello-world built the same way (Bun's own start-up). */
export function measureBinary(binary: string, root = join(import.meta.dir, "..")): BinaryCosts {
  const dir = mkdtempSync(join(tmpdir(), "bench-"));
  try {
    const zst = join(dir, "stagehand.zst");
    execFileSync("zstd", ["-19", "-q", "-T0", binary, "-o", zst]);
    const zstdBytes = statSync(zst).size;
    writeFileSync(join(dir, "hello.ts"), 'console.log("hello");\n');
    const hello = join(dir, "hello");
    buildLike(root, join(dir, "hello.ts"), hello);
    readFromDisk(binary);
    readFromDisk(hello);
    // One after the other, more runs than the other rows: start-up is short and the machine shared.
    const v = hyperfine(`${binary} --version`, 30, undefined, false, 5);
    const h = hyperfine(hello, 30, undefined, false, 5);
    return {
      sizeBytes: statSync(binary).size, zstdBytes,
      versionMeanMs: v.meanMs, versionStddevMs: v.stddevMs, versionCpuMs: v.userMs + v.systemMs,
      peakRssKiB: peakRssKiB([binary, "--version"]),
      hello: { meanMs: h.meanMs, stddevMs: h.stddevMs, cpuMs: h.userMs + h.systemMs, peakRssKiB: peakRssKiB([hello]), sizeBytes: statSync(hello).size },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
