/**
 * Seeded fuzzing of `stagehand plan OLD NEW` on generated generation directories (issue 14 §5):
 * random unit files and drop-ins (plausible, mangled, binary junk, overlong lines), FIFOs, devices,
 * directories, dangling links, symlink loops, masks, looping unit and drop-in directories, odd
 * fstabs. Each pair of generations ends in a plan or a typed error (UnitParseError,
 * UnitDirectoryError, InputFileError) naming a path inside one of them; never another exception,
 * never a hang. A FIFO read would block the whole process, so a watchdog child kills this test
 * if it ever stops making progress, printing the seed it was on (a hang guard, not a timing
 * assertion). Replay one case: STAGEHAND_FUZZ_SEED=N bun test/unit/switch/plan-fuzz.test.ts
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { InputFileError } from "../../../../src/fs/read.ts";
import { loadGenerationsInput } from "../../../../src/switch/load.ts";
import { type ActiveUnit, type PlanInput, planSwitch, planSwitchReadingFragments, type UnitPlan } from "../../../../src/switch/plan/index.ts";
import { dryActivateLines, planToJson } from "../../../../src/switch/plan/print.ts";
import { UnitDirectoryError } from "../../../../src/units/dir.ts";
import { LONG_LINE_MAX, UnitParseError } from "../../../../src/units/parse.ts";
import { fuzzSeeds, Random } from "../../../harness/random.ts";
import { tempDir } from "../../tmp.ts";

const NAMES = ["a.service", "b.service", "a.socket", "t.target", "m.mount", "p.path", "s.slice", "inst@.service", "inst@x.service",
  "__proto__.service", "constructor.service", "x\\x2dy.service", "-.service", "multi-user.target"];
const KEYS = ["Description", "ExecStart", "ExecReload", "X-Reload-Triggers", "X-StopIfChanged", "X-ReloadIfChanged", "X-RestartIfChanged",
  "RefuseManualStop", "X-StopOnRemoval", "Sockets", "Options", "__proto__"];
const VALUES = ["true", "false", "/bin/true", "/bin/false x", "", "a.socket", "\\x2d", "yes"];

function unitText(r: Random): string {
  let s = "";
  for (let i = r.int(12); i > 0; i--) {
    if (r.chance(0.25)) s += `[${r.pick(["Unit", "Service", "Socket", "Mount", "Install", "X-A", "__proto__"])}]`;
    else s += `${r.pick(KEYS)}=${r.pick(VALUES)}`;
    if (r.chance(0.03)) s += r.pick(["\r", "\0", "\\", "[", "\xff"]);
    s += r.pick(["\n", "\n", "\r\n", "\r", "\0", "\\\n"]);
  }
  return s;
}

const mkfifo = (p: string) => {
  const res = spawnSync("mkfifo", [p]);
  if (res.status !== 0) throw new Error(`mkfifo ${p} failed`);
};

/** Writes one unit-directory entry of a random kind at `p` (relative `rel`). */
function entry(r: Random, dir: string, rel: string): void {
  const p = join(dir, rel);
  mkdirSync(dirname(p), { recursive: true });
  try { lstatSync(p); return; } catch { /* not there yet */ }
  // Mostly unit text, so plans happen too; each hazard now and then.
  const kind = r.int(60);
  if (kind < 40) writeFileSync(p, unitText(r));
  else if (kind < 42) writeFileSync(p, r.bytes(r.int(3000)));
  else if (kind === 42) mkfifo(p);
  else if (kind === 43) symlinkSync(rel.split("/").pop()!, p); // a link to itself: ELOOP
  else if (kind === 44) symlinkSync("/nonexistent/unit", p);
  else if (kind === 45) symlinkSync("/dev/null", p);
  else if (kind === 46) symlinkSync("/dev/zero", p);
  else if (kind === 47) mkdirSync(p);
  else if (kind === 48 && r.chance(0.3)) writeFileSync(p, `[Unit]\n${r.chance(0.5) ? "#" : "A="}${"x".repeat(LONG_LINE_MAX + r.int(3) - 1)}\n`);
  else if (kind === 49) writeFileSync(p, "");
  // else: absent
}

/** A generation toplevel with random units, drop-ins and fstab, sometimes broken as a whole. */
function generation(r: Random, root: string, name: string): string {
  const top = join(root, name);
  const dir = join(top, "etc/systemd/system");
  mkdirSync(dirname(dir), { recursive: true });
  const whole = r.int(60);
  if (whole === 0) { symlinkSync("system", dir); return top; } // the unit directory loops
  if (whole === 1) return top; // no unit directory
  if (whole === 2) { writeFileSync(dir, "not a directory"); return top; }
  mkdirSync(dir);
  for (const n of NAMES) {
    if (r.chance(0.5)) entry(r, dir, n);
    if (r.chance(0.2)) {
      if (r.chance(0.05)) symlinkSync(`${n}.d`, join(dir, `${n}.d`)); // a looping drop-in folder
      else for (let i = r.int(3); i > 0; i--) entry(r, dir, `${n}.d/${r.int(3)}-${r.pick(["o", "p"])}.conf`);
    }
  }
  const fstab = join(top, "etc/fstab");
  const f = r.int(30);
  if (f === 0) mkfifo(fstab);
  else if (f === 1) writeFileSync(fstab, r.bytes(r.int(500)));
  else if (f < 8) writeFileSync(fstab, r.pick(["tmpfs /a tmpfs defaults 0 0\n", "tmpfs /a tmpfs x-test 0 0\n", "/dev/sdz /b ext4 noauto 0 0\n/swap none swap sw 0 0\n", "ramfs /a tmpfs defaults 0 0\n"]).repeat(1 + r.int(2)));
  return top;
}

/** A watchdog that kills this process (printing the seed) if `beat` is not called for a while. */
function watchdog(file: string): { beat(seed: number): void; stop(): void } {
  const child = spawn("sh", ["-c", `while sleep 60; do if [ -e "$1.beat" ]; then rm -f "$1.beat"; else echo "plan fuzz: no progress for 60 s, at seed $(cat "$1")" >&2; kill -9 ${process.pid}; exit 1; fi; done`, "sh", file], { stdio: ["ignore", "ignore", "inherit"], detached: true });
  return {
    beat(seed) { writeFileSync(file, String(seed)); writeFileSync(`${file}.beat`, ""); },
    // The shell and its sleep, as one process group.
    stop() { try { process.kill(-child.pid!, "SIGKILL"); } catch { /* gone */ } },
  };
}

test("plan OLD NEW on generated generations: a plan or a typed error naming the input, no hang", () => {
  const root = tempDir("plan-fuzz-");
  const dog = watchdog(join(root, "seed"));
  const outcomes = { plan: 0, error: 0 };
  try {
    for (const seed of fuzzSeeds(120)) {
      dog.beat(seed);
      const r = new Random(seed);
      const caseDir = join(root, String(seed));
      const old = generation(r, caseDir, "old");
      const next = generation(r, caseDir, "new");
      try {
        const input = loadGenerationsInput(old, next);
        const plan = planSwitch(input);
        dryActivateLines(plan, { explain: true, diff: { old: input.old, new: input.new } });
        JSON.stringify(planToJson(plan, { old, new: next }));
        outcomes.plan++;
      } catch (e) {
        const typed = e instanceof UnitParseError || e instanceof UnitDirectoryError || e instanceof InputFileError;
        assert.ok(typed, `seed ${seed}: untyped ${(e as Error)?.name}: ${(e as Error)?.message}\n${(e as Error)?.stack}`);
        const msg = (e as Error).message;
        assert.ok(msg.includes(old) || msg.includes(next), `seed ${seed}: the error names a path in the input: ${msg}`);
        outcomes.error++;
      }
      rmSync(caseDir, { recursive: true, force: true });
    }
  } finally {
    dog.stop();
  }
  // Both outcomes occur, or the generator has gone stale.
  if (fuzzSeeds(2).length === 2) assert.ok(outcomes.plan > 10 && outcomes.error > 10, JSON.stringify(outcomes));
});

test("reading FragmentPaths only where the probe says plans as reading them all (or fails alike)", async () => {
  const root = tempDir("plan-fuzz-probe-");
  const outcome = (f: () => UnitPlan) => { try { return f(); } catch (e) { return `${(e as Error).name}: ${(e as Error).message}`; } };
  for (const seed of fuzzSeeds(60)) {
    const r = new Random(seed * 104729);
    const caseDir = join(root, String(seed));
    const old = generation(r, caseDir, "old");
    const next = generation(r, caseDir, "new");
    let input: PlanInput;
    try { input = loadGenerationsInput(old, next); } catch { continue; }
    // What systemd would report: most units ours, some generated, some vanished ("").
    const full: Record<string, ActiveUnit> = {};
    const bare: Record<string, ActiveUnit> = {};
    for (const [u, s] of Object.entries(input.active)) {
      const k = r.int(10);
      full[u] = { ...s, fragmentPath: k === 0 ? `/run/systemd/generator/${u}` : k === 1 ? "" : `/etc/systemd/system/${u}` };
      bare[u] = { activeState: s.activeState, subState: s.subState };
    }
    const expected = outcome(() => planSwitch({ ...input, active: full }));
    let got: UnitPlan | string;
    try {
      got = (await planSwitchReadingFragments(input, bare, async (a, units) =>
        Object.fromEntries(Object.entries(a).map(([u, s]) => [u, units.has(u) ? full[u]! : s])))).plan;
    } catch (e) { got = `${(e as Error).name}: ${(e as Error).message}`; }
    assert.equal(got, expected, `seed ${seed}`);
    rmSync(caseDir, { recursive: true, force: true });
  }
});

test("the CLI on a few generated pairs: exit 0, or exit 1 with one error line naming the input", () => {
  const root = tempDir("plan-fuzz-cli-");
  const main = join(import.meta.dir, "../../../../src/main.ts");
  for (const seed of fuzzSeeds(6)) {
    const r = new Random(seed * 7919);
    const old = generation(r, join(root, String(seed)), "old");
    const next = generation(r, join(root, String(seed)), "new");
    const res = spawnSync(process.execPath, [main, "plan", old, next], { encoding: "utf8", timeout: 60_000, killSignal: "SIGKILL" });
    assert.is.not(res.status, null, `seed ${seed}: plan hung`);
    assert.ok(res.status === 0 || res.status === 1, `seed ${seed}: exit ${res.status}\n${res.stderr}`);
    if (res.status === 1) {
      const errors = res.stderr.split("\n").filter((l) => l.startsWith("error: "));
      assert.is(errors.length, 1, `seed ${seed}: ${res.stderr}`);
      assert.ok(errors[0]!.includes(old) || errors[0]!.includes(next), `seed ${seed}: ${errors[0]}`);
    }
  }
});

test.run();
