/**
 * The binary's own costs: size on disk, size compressed with `zstd -19` (what it would add to an
 * initrd), and start-up time of `--version`, measured with hyperfine.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface BinaryCosts {
  sizeBytes: number;
  zstdBytes: number;
  versionMeanMs: number;
  versionStddevMs: number;
  peakRssKiB: number;
}

/**
 * Runs hyperfine on one command and returns its mean and standard deviation in milliseconds;
 * `prepare` (a command line) runs before each timed run, outside the timing (for first-run state);
 * `ignoreFailure` keeps timing when the command exits non-zero (the caller reports exit statuses);
 * `warmup` untimed runs come first (fewer where one run takes seconds).
 */
export function hyperfine(command: string, runs = 20, prepare?: string, ignoreFailure = false, warmup = 3): { meanMs: number; stddevMs: number } {
  const dir = mkdtempSync(join(tmpdir(), "bench-"));
  try {
    const json = join(dir, "h.json");
    const prep = prepare === undefined ? [] : ["--prepare", prepare];
    execFileSync("hyperfine", ["--warmup", String(warmup), "--runs", String(runs), "--export-json", json, "-N", ...prep, ...(ignoreFailure ? ["-i"] : []), command], { stdio: "ignore" });
    const r = JSON.parse(readFileSync(json, "utf8")).results[0];
    return { meanMs: r.mean * 1000, stddevMs: r.stddev * 1000 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Peak resident set size of one run, from GNU time. */
export function peakRssKiB(argv: string[]): number {
  const r = spawnSync("/usr/bin/time", ["-f", "%M", ...argv], { encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] });
  return Number(r.stderr.trim().split("\n").at(-1));
}

/** Measures dist/stagehand. */
export function measureBinary(binary: string): BinaryCosts {
  const dir = mkdtempSync(join(tmpdir(), "bench-"));
  const zst = join(dir, "stagehand.zst");
  execFileSync("zstd", ["-19", "-q", "-T0", binary, "-o", zst]);
  const zstdBytes = statSync(zst).size;
  rmSync(dir, { recursive: true, force: true });
  const v = hyperfine(`${binary} --version`);
  return {
    sizeBytes: statSync(binary).size, zstdBytes,
    versionMeanMs: v.meanMs, versionStddevMs: v.stddevMs,
    peakRssKiB: peakRssKiB([binary, "--version"]),
  };
}
