/**
 * `npm run bench`: measures stagehand (and, where one exists, the Perl original in the same run, as a
 * ratio) and writes bench/results.md. Not a test: nothing here asserts a time.
 *
 * `bun bench/run.ts [SECTION...]` (binary, etc, users, planner, switch; default all) runs a subset and
 * replaces only those sections in the existing bench/results.md, keeping the others as they were.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { measureBinary } from "./binary.ts";
import { BINARY } from "./chroot.ts";
import { benchEtc } from "./etc.ts";
import { benchPlanner } from "./planner.ts";
import { benchSwitch } from "./switch.ts";
import { benchUsers } from "./users.ts";

const ROOT = join(import.meta.dir, "..");
const mib = (b: number) => (b / 1024 / 1024).toFixed(1);

const header = [
  "# Benchmark results",
  "",
  `Measured ${new Date().toISOString().slice(0, 10)} on ${execFileSync("uname", ["-srm"], { encoding: "utf8" }).trim()}, ` +
    `${execFileSync("nproc", { encoding: "utf8" }).trim()} cores; regenerate with \`npm run bench\`.` +
    (process.env.STAGEHAND_BENCH_COMMIT ? ` stagehand built from commit ${process.env.STAGEHAND_BENCH_COMMIT}.` : ""),
  "",
];

const runs = Number(process.env.STAGEHAND_BENCH_RUNS ?? 5);

/** The 1-minute load average above which a section waits (STAGEHAND_BENCH_MAX_LOAD, default 1.5). */
const MAX_LOAD = Number(process.env.STAGEHAND_BENCH_MAX_LOAD ?? 1.5);
/** How long a section waits for the machine to get quiet before it runs anyway (minutes; default 30). */
const QUIET_WAIT_MIN = Number(process.env.STAGEHAND_BENCH_QUIET_WAIT ?? 30);
const loadAverage = () => Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);

/**
 * Waits (polling every 15 s) until the 1-minute load average is below MAX_LOAD, at most
 * QUIET_WAIT_MIN minutes; returns the line that says under which conditions the section ran.
 */
async function waitForQuiet(key: string): Promise<string> {
  const start = Date.now();
  let load = loadAverage();
  while (load >= MAX_LOAD && Date.now() - start < QUIET_WAIT_MIN * 60_000) {
    console.error(`bench ${key}: load average ${load.toFixed(2)} >= ${MAX_LOAD}; waiting for a quiet machine`);
    await new Promise((r) => setTimeout(r, 15_000));
    load = loadAverage();
  }
  const waited = ((Date.now() - start) / 60_000).toFixed(1);
  const when = new Date().toISOString().slice(0, 16).replace("T", " ");
  return load < MAX_LOAD
    ? `Conditions: started ${when} UTC at a 1-minute load average of ${load.toFixed(2)} (< ${MAX_LOAD}; waited ${waited} min).`
    : `Conditions: **the machine was not quiet**: started ${when} UTC at a 1-minute load average of ${load.toFixed(2)} after waiting ${waited} min (other work on the machine); ratios within a row hold better than absolute times.`;
}

/** Runs one section after waiting for a quiet machine; its conditions line goes under its title. */
async function runSection(s: { key: string; run: (progress: (partial: string) => void) => Promise<string> }, save: (text: string) => void): Promise<string> {
  const conditions = await waitForQuiet(s.key);
  const withConditions = (text: string) => {
    const [title, ...rest] = text.split("\n");
    return [title, "", conditions, ...rest].join("\n");
  };
  return withConditions(await s.run((partial) => save(withConditions(partial))));
}

/** The sections, in table order; `heading` finds a section in an existing results.md. */
const SECTIONS: { key: string; heading: string; run: (progress: (partial: string) => void) => Promise<string> }[] = [
  {
    key: "binary", heading: "## The binary", run: async () => {
      const b = measureBinary(BINARY);
      return [
        "## The binary",
        "",
        "| what | value |",
        "| --- | --- |",
        `| size on disk | ${mib(b.sizeBytes)} MiB |`,
        `| size with \`zstd -19\` (what it would add to an initrd) | ${mib(b.zstdBytes)} MiB |`,
        `| start-up, \`stagehand --version\` (hyperfine, mean ± σ of 30) | ${b.versionMeanMs.toFixed(1)} ± ${b.versionStddevMs.toFixed(1)} ms |`,
        `| CPU time of \`--version\` (user + system) | ${b.versionCpuMs.toFixed(1)} ms |`,
        `| peak RSS of \`--version\` | ${(b.peakRssKiB / 1024).toFixed(1)} MiB |`,
        `| Bun's own start: a compiled \`console.log\` built with the same flags (${mib(b.hello.sizeBytes)} MiB), wall / CPU / peak RSS | ` +
          `${b.hello.meanMs.toFixed(1)} ± ${b.hello.stddevMs.toFixed(1)} ms / ${b.hello.cpuMs.toFixed(1)} ms / ${(b.hello.peakRssKiB / 1024).toFixed(1)} MiB |`,
        "",
      ].join("\n");
    },
  },
  // Each comparison runs the tools in turn, round after round, so its ratios hold on a noisy machine.
  { key: "etc", heading: "## setup-etc", run: async () => benchEtc(2000, runs).join("\n") },
  { key: "users", heading: "## users", run: async () => benchUsers(500, 300, runs).join("\n") },
  { key: "planner", heading: "## Planner", run: async () => benchPlanner().join("\n") },
  {
    key: "switch", heading: "## switch-to-configuration", run: async (progress) => {
      // STAGEHAND_BENCH_SWITCH_SIZES (comma-separated) measures other sizes than 100, 1,000 and 5,000.
      const sizes = process.env.STAGEHAND_BENCH_SWITCH_SIZES ? process.env.STAGEHAND_BENCH_SWITCH_SIZES.split(",").map(Number) : [100, 1000, 5000];
      try {
        return (await benchSwitch(sizes, runs, (partial) => progress(partial.join("\n")))).join("\n");
      } catch (e) {
        // The container comparison needs a working executor and harness; the other tables stand without it.
        return ["## switch-to-configuration", "", `Not measured in this run: ${(e as Error).message.split("\n")[0]}`, ""].join("\n");
      }
    },
  },
];

const wanted = process.argv.slice(2);
for (const w of wanted) {
  if (!SECTIONS.some((s) => s.key === w)) {
    console.error(`unknown section '${w}' (one of: ${SECTIONS.map((s) => s.key).join(", ")})`);
    process.exit(1);
  }
}
const subset = wanted.length > 0;
const RESULTS = join(ROOT, "bench/results.md");

/** An existing results.md split into its header and its "## " sections. */
function existingSections(): { header: string[]; sections: string[] } {
  const lines = existsSync(RESULTS) ? readFileSync(RESULTS, "utf8").split("\n") : [];
  const starts = lines.flatMap((l, i) => (l.startsWith("## ") ? [i] : []));
  if (starts.length === 0) return { header: header, sections: [] };
  const sections = starts.map((s, k) => lines.slice(s, starts[k + 1] ?? lines.length).join("\n"));
  return { header: lines.slice(0, starts[0]), sections };
}

// Each section is written to results.md as soon as it is done (a long run that fails late keeps what
// it measured); sections not (yet) run are kept from the existing file.
const old = existingSections();
const today = new Date().toISOString().slice(0, 10);
const fresh = new Map<string, string>();
const keyOf = (section: string) => SECTIONS.find((s) => section.startsWith(s.heading))?.key;
let text = "";
/** Writes results.md with `key`'s section as given and every other section as known so far. */
const save = (key: string, body: string) => {
  const [title, ...rest] = body.split("\n");
  // A section refreshed alone says so (the header's date is the last full run's).
  fresh.set(key, subset ? [title, "", `Refreshed ${today} alone (\`bun bench/run.ts ${key}\`).`, ...rest].join("\n") : [title, ...rest].join("\n"));
  const sections = SECTIONS.map((x) => fresh.get(x.key) ?? old.sections.find((o) => keyOf(o) === x.key)).filter((x): x is string => x !== undefined);
  // Sections this script does not know (added by hand or by another tool) are kept, at the end.
  sections.push(...old.sections.filter((o) => keyOf(o) === undefined));
  text = [...(subset ? old.header : header), ...sections.map((x) => x.replace(/\n*$/, "\n"))].join("\n");
  writeFileSync(RESULTS, text);
};
for (const s of SECTIONS.filter((s) => !subset || wanted.includes(s.key))) {
  save(s.key, await runSection(s, (partial) => save(s.key, partial)));
}
console.log(text);
