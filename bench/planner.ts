/**
 * Planner scaling: the pure switch planner (`planSwitch`) on synthetic generations of 100 to 5,000
 * units where 10% change, timed in-process over many iterations with `performance.now()` (median);
 * once over in-memory unit directories (the planning alone) and once over the generations written
 * to disk (what `stagehand plan OLD NEW` and the switch pay: reading and parsing every unit file).
 * Writes bench/planner-scaling.svg.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { planSwitch } from "../src/switch/plan/index.ts";
import { loadGenerationsInput } from "../src/switch/load.ts";
import type { UnitDirectory } from "../src/units/dir.ts";
import { syntheticGeneration, writeGeneration } from "./generation.ts";
import { scalingChart } from "./svg.ts";

export const PLANNER_SIZES = [100, 500, 1000, 2000, 5000];

/** One measured size. */
export interface PlannerPoint { units: number; memoryMs: number; diskMs: number; decisions: number }

/**
 * An in-memory unit directory indexed by unit, so the measurement is the planner's own cost
 * (src/units/dir.ts's memoryUnitDirectory scans every file per drop-in lookup: fine for tests,
 * quadratic at thousands of units).
 */
export function indexedUnitDirectory(path: string, files: Record<string, string>): UnitDirectory {
  const dropins = new Map<string, string[]>();
  for (const k of Object.keys(files).sort()) {
    const m = /^([^/]+)\.d\/([^/]+\.conf)$/.exec(k);
    if (m) dropins.set(m[1]!, [...(dropins.get(m[1]!) ?? []), k]);
  }
  const map = new Map(Object.entries(files));
  const names = [...map.keys()].filter((k) => !k.includes("/")).sort();
  return {
    path,
    exists: (n) => map.has(n),
    fileState: (n) => (map.has(n) ? "present" : "missing"),
    read: (n) => map.get(n),
    names: () => names,
    dropins: (n) => (dropins.get(n) ?? []).map((k) => ({ path: `${path}/${k}`, state: "present" as const, text: map.get(k)! })),
  };
}

/** Median wall time of `fn` over at least `minRuns` runs and about `budgetMs` of running. */
function medianMs(fn: () => void, budgetMs = 1500, minRuns = 7): number {
  fn(); // warm-up: JIT and page cache
  const times: number[] = [];
  const until = performance.now() + budgetMs;
  while (times.length < minRuns || performance.now() < until) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
    if (times.length >= 500) break;
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

/** Measures one size. */
export function measurePlanner(n: number): PlannerPoint {
  const old = syntheticGeneration(n);
  const next = syntheticGeneration(n, true);
  let decisions = 0;
  const memoryMs = medianMs(() => {
    const plan = planSwitch({
      old: indexedUnitDirectory("/etc/systemd/system", old.files),
      new: indexedUnitDirectory("/nix/store/new/etc/systemd/system", next.files),
      active: old.active,
    });
    decisions = Object.keys(plan.stop).length + Object.keys(plan.start).length + Object.keys(plan.restart).length + Object.keys(plan.reload).length;
  });
  const dir = mkdtempSync(join(tmpdir(), "bench-planner-"));
  try {
    const oldTop = writeGeneration(join(dir, "old"), old);
    const newTop = writeGeneration(join(dir, "new"), next);
    const diskMs = medianMs(() => { planSwitch(loadGenerationsInput(oldTop, newTop, old.active)); });
    return { units: n, memoryMs, diskMs, decisions };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs all sizes, writes the chart, returns the Markdown section. */
export function benchPlanner(sizes = PLANNER_SIZES, svgPath = join(import.meta.dir, "planner-scaling.svg")): string[] {
  const points = sizes.map(measurePlanner);
  writeFileSync(svgPath, scalingChart(points.map((p) => ({ x: p.units, series: { "in memory": p.memoryMs, "from disk (read + parse)": p.diskMs } })), {
    title: "stagehand planner: time per plan vs unit count (10% of units changed)", xLabel: "units", yLabel: "ms (median)", goalMs: 100,
  }));
  const last = points.at(-1)!;
  return [
    "## Planner scaling (pure `planSwitch`, in-process)",
    "",
    "Synthetic generations (services, a quarter with drop-ins; sockets and timers with their services; targets; mounts; " +
      "templates with 3 active instances each; oneshots) where 10% of the units change (new ExecStart, reload trigger, " +
      "removed, added); every unit active. Median of many iterations (`performance.now()`, ≥ 1.5 s per size). " +
      "\"from disk\" includes reading and parsing both generations' unit files (page cache warm), as `stagehand plan` and the switch do.",
    "",
    "| units | decisions | in memory (ms) | per unit (µs) | from disk (ms) | per unit (µs) |",
    "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ...points.map((p) => `| ${p.units} | ${p.decisions} | ${p.memoryMs.toFixed(2)} | ${(p.memoryMs * 1000 / p.units).toFixed(1)} | ` +
      `${p.diskMs.toFixed(2)} | ${(p.diskMs * 1000 / p.units).toFixed(1)} |`),
    "",
    `Goal: ${last.units} units under 100 ms: planning ${last.memoryMs < 100 ? "meets it" : "misses it"} (${last.memoryMs.toFixed(1)} ms in memory); ` +
      `with reading the unit files from disk it ${last.diskMs < 100 ? "meets it" : "misses it"} (${last.diskMs.toFixed(1)} ms). ` +
      "Chart: [planner-scaling.svg](planner-scaling.svg).",
    "",
    "![planner scaling](planner-scaling.svg)",
    "",
  ];
}

if (import.meta.main) {
  const sizes = process.argv.slice(2).map(Number);
  console.log(benchPlanner(sizes.length ? sizes : PLANNER_SIZES).join("\n"));
}
