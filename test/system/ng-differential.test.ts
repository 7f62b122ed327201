/**
 * NixOS's Rust switch-to-configuration-ng as the oracle: on seeded random pairs of generations
 * (test/harness/random-generation.ts), `dry-activate` with ng and with stagehand print the same
 * bytes and exit the same, and on a seeded sample real switches leave the same unit states and
 * exit codes. One trixie container (ng needs glibc >= 2.39) serves all pairs: a random "running"
 * system is entered without a reboot (back to an empty generation, stop every `r-*` unit, then
 * point /etc at the system, daemon-reload, start `r-all.target`), and several next generations
 * are planned against it.
 *
 * @suites trixie
 *
 * Replay: STAGEHAND_NG_SEED=S runs state S only (all its pairs), S/P only its pair P;
 * STAGEHAND_NG_SWITCH_SEED=S one real-switch case (either alone runs nothing else); STAGEHAND_NG_BASE_SEED=N explores other
 * seeds (a replay then names it too). STAGEHAND_NG_STATES and
 * STAGEHAND_NG_PAIRS set how many states and pairs per state (default 30 x 10).
 * The deliberate differences from ng (docs/differences.md) are in ng-differences.test.ts.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import { buildGeneration, type Generation, type GenerationSpec, prepareBooted } from "../harness/generation.ts";
import { describeSystem, mutate, type PairExtras, randomExtras, type RandomSystem, randomSystem, subSeed, toSpec } from "../harness/random-generation.ts";
import { bootNgMachine, q, reloadOfUnloadedUnit, restartRequestWithoutFile, type Run, runProgram, sameRun, showRun, swapsSorted, switchPrograms, unitStates as statesOf } from "./ng-helpers.ts";

const STATES = Number(process.env.STAGEHAND_NG_STATES ?? 30);
const PAIRS = Number(process.env.STAGEHAND_NG_PAIRS ?? 10);
const SWITCHES = Number(process.env.STAGEHAND_NG_SWITCHES ?? 6);
/** Seeds of the whole file's cases; STAGEHAND_NG_BASE_SEED=N explores other ones (and is then part of a replay). */
const BASE = process.env.STAGEHAND_NG_BASE_SEED ? Number(process.env.STAGEHAND_NG_BASE_SEED) : undefined;
const DRY_BASE = BASE ?? 0x6e67;
const SWITCH_BASE = BASE !== undefined ? BASE + 1 : 0x5717;
const REPLAY_BASE = BASE !== undefined ? ` STAGEHAND_NG_BASE_SEED=${BASE}` : "";

/** The state and pair seeds to run (a replay narrows them). */
function dryCases(): { state: number; pairs: number[] }[] {
  const one = process.env.STAGEHAND_NG_SEED;
  if (!one && process.env.STAGEHAND_NG_SWITCH_SEED) return []; // replaying a real switch only
  if (one) {
    const [s, p] = one.split("/").map(Number);
    return [{ state: s!, pairs: p === undefined ? Array.from({ length: PAIRS }, (_, i) => i) : [p] }];
  }
  return Array.from({ length: STATES }, (_, i) => ({ state: i + 1, pairs: Array.from({ length: PAIRS }, (_, j) => j) }));
}

let c: Container;
let empty: Generation;
/** A generation without any random unit: the way out of every state. */
const EMPTY: GenerationSpec = { name: "ng-diff-empty", units: { "r-all.target": "[Unit]\nDescription=the units this random system runs\n" } };

test.before(async () => {
  ({ c, base: empty } = await bootNgMachine("ng-diff", EMPTY, { storeOnTmpfs: true }));
});
test.after(async () => {
  const t = Date.now();
  await c?.halt();
  console.log(`halt: ${Date.now() - t} ms`);
});

const UNITS = "'r-*' 'mnt-r*' sysinit-reactivation.target";
const unitStates = () => statesOf(c, UNITS);

/** Runs one program on a pair: the pair's list files and STC_DISPLAY_ALL_UNITS, plus `env`. */
function run(wrapper: string, action: string, x: PairExtras, env: Record<string, string>): Run {
  return runProgram(c, wrapper, action, { env: { ...env, ...(x.displayAll ? { STC_DISPLAY_ALL_UNITS: "1" } : {}) }, lists: x.lists });
}

/** Units whose start job never ends while a state is entered (a oneshot sleeping 600 s). */
function slowUnits(s: RandomSystem): string[] {
  return Object.entries(s.units).filter(([name, u]) => {
    const shape = u.noFile ? s.units["r-tpl@.service"]?.knobs.shape : u.knobs.shape;
    return shape === 3 && !name.endsWith("@.service");
  }).map(([n]) => n);
}

/**
 * Makes `s` the running system: every random unit stopped under the empty generation (where no
 * RefuseManualStop= holds), then /etc and /run/current-system point at `s`, and `r-all.target`
 * starts what it wants. Waits (bounded) until only the slow units' start jobs and what waits on
 * them remain. Returns the generation and the unit states it reached.
 */
function enterState(s: RandomSystem, name: string): { gen: Generation; states: string } {
  prepareBooted(c.root, empty);
  c.must(`set -e
rm -f /run/nixos/*-list /run/nixos/restart-debt.json
ln -sfn ${q(empty.toplevel)} /run/current-system
systemctl daemon-reload
systemctl stop ${UNITS} || true
systemctl reset-failed ${UNITS} 2>/dev/null || true`, { timeoutMs: 180_000 });
  const gen = buildGeneration(c.root, toSpec(s, name));
  prepareBooted(c.root, gen);
  const slow = slowUnits(s);
  c.must(`set -e
ln -sfn ${q(gen.toplevel)} /run/current-system
systemctl daemon-reload
systemctl start --no-block r-all.target
# settle: no job running except the slow units' own starts, and none waiting unless a slow unit's
# start runs (they may wait behind it); jobs just queued all wait until systemd dispatches them,
# so "nothing running" alone can be seen before anything ran (bounded: 60 s)
for i in $(seq 240); do
  jobs=$(systemctl list-jobs --no-legend --plain 2>/dev/null || true)
  running=$(echo "$jobs" | awk '$4 == "running" {print $2}')
  busy=$(echo "$running" | grep -vxF -e _none_ -e '' ${slow.map((u) => `-e ${q(u)}`).join(" ")} || true)
  slowRunning=$(echo "$running" | grep -xF -e _none_ ${slow.map((u) => `-e ${q(u)}`).join(" ")} || true)
  waiting=$(echo "$jobs" | awk '$4 == "waiting" {print $2}')
  [ -z "$busy" ] && { [ -z "$waiting" ] || [ -n "$slowRunning" ]; } && break
  sleep 0.25
done`, { timeoutMs: 180_000 });
  return { gen, states: unitStates() };
}

/** The lines of a dry-activate, counted to show which of the planner's outcomes the pairs reach. */
const COVERAGE = [
  "would stop swap device", "would stop the following units", "would NOT stop the following changed units",
  "would restart systemd", "would reload the following units", "would restart the following units",
  "would start the following units", "WARN: restarting or reloading", "Warning: the new NixOS configuration has an ‘init’",
];

test("dry-activate: ng and stagehand print the same on seeded random generation pairs", () => {
  const failures: string[] = [];
  /** Pairs where the named difference restartRequestWithoutFile decided. */
  const named: string[] = [];
  let pairs = 0;
  /** How many pairs printed each kind of line: the rules the pairs reached. */
  const coverage = new Map<string, number>();
  let stateMs = 0;
  let pairMs = 0;
  let buildMs = 0;
  let ngMs = 0;
  let shMs = 0;
  for (const { state, pairs: which } of dryCases()) {
    const sys = randomSystem(subSeed(DRY_BASE, state));
    let t = Date.now();
    // The pairs' generations stay in the container's store: removing each through the overlay
    // cost more than building it; the overlay goes as a whole at the end.
    const { states } = enterState(sys, `ng-diff-s${state}`);
    stateMs += Date.now() - t;
    t = Date.now();
    for (const p of which) {
      const t0 = Date.now();
      const { next, changes } = mutate(sys, subSeed(DRY_BASE, state, p));
      const extras = randomExtras(subSeed(DRY_BASE, state, p, 1), false);
      const gen = buildGeneration(c.root, toSpec(next, `ng-diff-s${state}-p${p}`, extras));
      const programs = switchPrograms(c, gen);
      const env = { NIXOS_NO_SYNC: "1" };
      let t1 = Date.now();
      buildMs += t1 - t0;
      const ng = run(programs.ng, "dry-activate", extras, env);
      ngMs += Date.now() - t1;
      t1 = Date.now();
      const sh = run(programs.stagehand, "dry-activate", extras, env);
      shMs += Date.now() - t1;
      pairs++;
      for (const l of sh.stderr.split("\n")) {
        const kind = COVERAGE.find((k) => l.startsWith(k));
        if (kind) coverage.set(kind, (coverage.get(kind) ?? 0) + 1);
      }
      if (sh.status !== 0) coverage.set(`exit ${sh.status}`, (coverage.get(`exit ${sh.status}`) ?? 0) + 1);
      const noFile = restartRequestWithoutFile(ng, sh, gen.toplevel, extras.dryRestart, "would restart the following units: ", [0]);
      if (noFile !== undefined) {
        named.push(`${state}/${p}: ${noFile}`);
      } else if (!sameRun(ng, sh) || !swapsSorted(sh)) {
        failures.push([
          `=== seed ${state}/${p} (replay:${REPLAY_BASE} STAGEHAND_NG_SEED=${state}/${p}); changes: ${changes.join("; ")}`,
          `running: ${describeSystem(sys)}`, `next: ${describeSystem(next)}`,
          `extras: ${JSON.stringify(extras)}`, `unit states:\n${states}`,
          showRun("ng", ng), showRun("stagehand", sh),
        ].join("\n"));
        if (failures.length <= 3) console.error(failures.at(-1));
      }
    }
    pairMs += Date.now() - t;
  }
  console.log(`pairs printing each kind of line: ${[...coverage].map(([k, n]) => `${n} '${k}'`).join(", ")}`);
  console.log(`ng differential: ${pairs} dry-activate pairs, ${failures.length} different; ` +
    `difference "activation restart of a unit without a file" (ng exits 1, stagehand restarts it) in ${named.length}: ${named.join(" ")}; ` +
    `time: entering states ${Math.round(stateMs / 1000)} s, pairs ${Math.round(pairMs / 1000)} s (building ${Math.round(buildMs / 1000)} s, ng ${Math.round(ngMs / 1000)} s, stagehand ${Math.round(shMs / 1000)} s)`);
  assert.is(failures.length, 0, `${failures.length} of ${pairs} pairs differ; first:\n${failures[0]}`);
});

/** The real-switch cases to run. */
function switchSeeds(): number[] {
  const one = process.env.STAGEHAND_NG_SWITCH_SEED;
  if (one) return [Number(one)];
  if (process.env.STAGEHAND_NG_SEED) return []; // replaying a dry-activate pair only
  return Array.from({ length: SWITCHES }, (_, i) => i + 1);
}

test("switch: ng and stagehand leave the same unit states and exit codes", () => {
  const started = Date.now();
  const failures: string[] = [];
  for (const seed of switchSeeds()) {
    const sys = randomSystem(subSeed(SWITCH_BASE, seed), true);
    const { next, changes } = mutate(sys, subSeed(SWITCH_BASE, seed, 0));
    const extras = randomExtras(subSeed(SWITCH_BASE, seed, 1), true);
    const action = seed % 2 ? "switch" : "test";
    const results: { run: Run; before: string; after: string; toplevel: string }[] = [];
    for (const which of ["ng", "stagehand"] as const) {
      const { states: before } = enterState(sys, `ng-switch-${seed}`);
      const gen = buildGeneration(c.root, toSpec(next, `ng-switch-${seed}-next`, extras));
      const wrapper = switchPrograms(c, gen)[which];
      const t = Date.now();
      const r = run(wrapper, action, extras, {});
      console.log(`switch seed ${seed}: ${which} ${action} exit ${r.status} in ${Date.now() - t} ms`);
      // Jobs the switch left queued (none expected) settle before the states are read.
      c.sh("for i in $(seq 120); do [ -z \"$(systemctl list-jobs --no-legend)\" ] && break; sleep 0.25; done", { timeoutMs: 60_000 });
      results.push({ run: r, before, after: unitStates(), toplevel: gen.toplevel });
    }
    const [ng, sh] = results as [typeof results[0], typeof results[0]];
    const head = `=== switch seed ${seed} (replay:${REPLAY_BASE} STAGEHAND_NG_SWITCH_SEED=${seed}), ${action}; changes: ${changes.join("; ")}\nrunning: ${describeSystem(sys)}\nnext: ${describeSystem(next)}\nextras: ${JSON.stringify(extras)}`;
    if (ng.before !== sh.before) {
      failures.push(`${head}\nthe two runs did not start from the same states:\n--- ng\n${ng.before}--- stagehand\n${sh.before}`);
      continue;
    }
    // The named difference: ng stops mid-switch, so the states after it are not comparable.
    const noFile = restartRequestWithoutFile(ng.run, sh.run, ng.toplevel, extras.restart, "restarting the following units: ", [0, 4]);
    if (noFile !== undefined) {
      console.log(`switch seed ${seed}: difference "activation restart of a unit without a file" (${noFile}): ng exits 1, stagehand restarts it`);
      continue;
    }
    const unloaded = reloadOfUnloadedUnit(ng.run, sh.run);
    if (unloaded !== undefined) {
      console.log(`switch seed ${seed}: difference "a unit on the reload list that systemd has not loaded" (${unloaded}): ng exits 1, stagehand goes on`);
      continue;
    }
    if (!sameRun(ng.run, sh.run) || ng.after !== sh.after) {
      failures.push(`${head}\nbefore:\n${ng.before}--- states after ng\n${ng.after}--- states after stagehand\n${sh.after}${showRun("ng", ng.run)}\n${showRun("stagehand", sh.run)}`);
      console.error(failures.at(-1));
    }
  }
  console.log(`real switches: ${switchSeeds().length} cases in ${Math.round((Date.now() - started) / 1000)} s`);
  assert.is(failures.length, 0, `${failures.length} switch cases differ; first:\n${failures[0]}`);
});

test.run();
