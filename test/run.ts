/**
 * Runs every test file under test/ (each an uvu suite, in its own Bun process) and prints one
 * closing line, `N passed, N failed`, counting tests across all files.
 *
 *   bun test/run.ts [SUBSTRING...]   only files whose path contains one of the substrings
 *
 * Unit tests (test/unit) run two at a time; system tests (test/system, real systemd in
 * containers) run one at a time. A file that crashes before uvu's summary counts as one failure.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

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

interface FileResult { file: string; passed: number; failed: number; output: string; ms: number }

function runFile(file: string): Promise<FileResult> {
  const start = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--preload", HOOK_ERRORS, file], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\n[test/run.ts] ${relative(ROOT, file)} timed out after ${FILE_TIMEOUT_MS} ms\n`;
      try { process.kill(-child.pid!, "SIGKILL"); } catch { /* gone */ }
    }, FILE_TIMEOUT_MS);
    child.on("close", (code) => {
      clearTimeout(timer);
      // eslint-disable-next-line no-control-regex
      const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
      const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
      const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
      const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
      let failed: number;
      let ok: number;
      if (Number.isNaN(total) || Number.isNaN(passed)) {
        ok = 0;
        failed = 1;
      } else {
        ok = passed;
        // A skipped test is not a pass: count it as a failure so nothing silently skips in CI.
        failed = total - passed;
        if (code !== 0 && failed === 0) failed = 1;
        void skipped;
      }
      resolve({ file, passed: ok, failed, output: plain, ms: Date.now() - start });
    });
  });
}

async function runPool(files: string[], width: number, done: (r: FileResult) => void): Promise<void> {
  const queue = [...files];
  const worker = async () => {
    for (let f = queue.shift(); f !== undefined; f = queue.shift()) done(await runFile(f));
  };
  await Promise.all(Array.from({ length: Math.min(width, files.length) }, worker));
}

const filters = process.argv.slice(2);
const pick = (files: string[]) => files.filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
const unit = pick(findTests(join(ROOT, "test/unit")));
const system = pick(findTests(join(ROOT, "test/system")));

let passed = 0;
let failed = 0;
const report = (r: FileResult) => {
  passed += r.passed;
  failed += r.failed;
  const mark = r.failed === 0 ? "ok  " : "FAIL";
  console.log(`${mark} ${relative(ROOT, r.file)}  (${r.passed} passed, ${r.failed} failed, ${(r.ms / 1000).toFixed(1)} s)`);
  if (r.failed > 0 || process.env.STAGEHAND_TEST_VERBOSE) console.log(r.output.replace(/^/gm, "    | "));
};

await runPool(unit, 2, report);
await runPool(system, 1, report);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
