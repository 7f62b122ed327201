/**
 * Runs every test file under test/ (each an uvu suite, in its own Bun process) and prints one
 * closing line, `N passed, N failed`, counting tests across all files.
 *
 *   bun test/run.ts [SUBSTRING...]   only files whose path contains one of the substrings
 *
 * Unit tests (test/unit) run two at a time; system tests (test/system, real systemd in
 * containers) run one at a time, once per Debian suite (SUITES in test/harness/rootfs.ts: bookworm
 * with systemd 252, trixie with systemd 257), the child told which by env STAGEHAND_SUITE and
 * reported as `file [suite]`. STAGEHAND_SUITE set for this runner restricts the system tests to
 * that one suite. A system test that can only run on some suites (e.g. one needing trixie's glibc)
 * says so in a comment line `@suites trixie` near its top; it then runs once per named suite.
 * A file that crashes before uvu's summary counts as one failure.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { defaultSuite, SUITES } from "./harness/rootfs.ts";
import type { Suite } from "./harness/rootfs.ts";

const ROOT = join(import.meta.dir, "..");
const FILE_TIMEOUT_MS = Number(process.env.STAGEHAND_TEST_TIMEOUT_MS ?? 25 * 60_000);
/** Prints errors of `test.before` hooks, which uvu would drop (see the file). */
const HOOK_ERRORS = join(ROOT, "test/harness/hook-errors.ts");

function findTests(dir: string): string[] {
  const found: string[] = [];
  if (!existsSync(dir)) return found;
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) found.push(...findTests(p));
    else if (name.endsWith(".test.ts")) found.push(p);
  }
  return found;
}

/** One run of a test file; system tests carry the suite they boot. */
interface Task { file: string; suite?: Suite }
interface FileResult extends Task { passed: number; failed: number; output: string; ms: number }

function runFile({ file, suite }: Task): Promise<FileResult> {
  const start = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--preload", HOOK_ERRORS, file], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", ...(suite ? { STAGEHAND_SUITE: suite } : {}) },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\n[test/run.ts] ${label({ file, suite })} timed out after ${FILE_TIMEOUT_MS} ms\n`;
      try { process.kill(-child.pid!, "SIGKILL"); } catch { /* gone */ }
    }, FILE_TIMEOUT_MS);
    child.on("close", (code) => {
      clearTimeout(timer);
      // eslint-disable-next-line no-control-regex
      const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
      const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
      const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
      let failed: number;
      let ok: number;
      if (Number.isNaN(total) || Number.isNaN(passed)) {
        ok = 0;
        failed = 1;
      } else {
        ok = passed;
        // A skipped test is not a pass: total less passed counts it as a failure, so nothing
        // silently skips in CI.
        failed = total - passed;
        if (code !== 0 && failed === 0) failed = 1;
      }
      resolve({ file, suite, passed: ok, failed, output: plain, ms: Date.now() - start });
    });
  });
}

/** `test/system/x.test.ts [trixie]`, or just the path for unit tests. */
function label({ file, suite }: Task): string {
  return suite ? `${relative(ROOT, file)} [${suite}]` : relative(ROOT, file);
}

async function runPool(tasks: Task[], width: number, done: (r: FileResult) => void): Promise<void> {
  const queue = [...tasks];
  const worker = async () => {
    for (let t = queue.shift(); t !== undefined; t = queue.shift()) done(await runFile(t));
  };
  await Promise.all(Array.from({ length: Math.min(width, tasks.length) }, worker));
}

const filters = process.argv.slice(2);
const pick = (files: string[]) => files.filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
const unit = pick(findTests(join(ROOT, "test/unit")));
/** The suites a system test file declares with `@suites a b` in its first lines, else all. */
function fileSuites(file: string): readonly Suite[] {
  const m = /^\s*(?:\/\/|\*)\s*@suites\s+(.+?)\s*$/m.exec(readFileSync(file, "utf8").slice(0, 4096));
  if (!m) return SUITES;
  const named = m[1]!.split(/[\s,]+/);
  for (const n of named) if (!(SUITES as readonly string[]).includes(n)) throw new Error(`${relative(ROOT, file)}: @suites names unknown suite ${n}`);
  return named as Suite[];
}
const suites: readonly Suite[] = process.env.STAGEHAND_SUITE ? [defaultSuite()] : SUITES;
// Suite-major: all files on one release, then the next (each rootfs is built once, on first use).
const systemFiles = pick(findTests(join(ROOT, "test/system")));
const system = suites.flatMap((suite) => systemFiles.filter((f) => fileSuites(f).includes(suite)).map((file) => ({ file, suite })));

let passed = 0;
let failed = 0;
const report = (r: FileResult) => {
  passed += r.passed;
  failed += r.failed;
  const mark = r.failed === 0 ? "ok  " : "FAIL";
  console.log(`${mark} ${label(r)}  (${r.passed} passed, ${r.failed} failed, ${(r.ms / 1000).toFixed(1)} s)`);
  if (r.failed > 0 || process.env.STAGEHAND_TEST_VERBOSE) console.log(r.output.replace(/^/gm, "    | "));
};

await runPool(unit.map((file) => ({ file })), 2, report);
await runPool(system, 1, report);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
