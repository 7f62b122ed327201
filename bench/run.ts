/**
 * `npm run bench`: measures stagehand (and, where one exists, the Perl original in the same run, as a
 * ratio) and writes bench/results.md. Not a test: nothing here asserts a time.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { measureBinary } from "./binary.ts";
import { benchEtc } from "./etc.ts";
import { benchPlanner } from "./planner.ts";
import { benchSwitch } from "./switch.ts";
import { benchUsers } from "./users.ts";

const ROOT = join(import.meta.dir, "..");
const BINARY = join(ROOT, "dist/stagehand");
const mib = (b: number) => (b / 1024 / 1024).toFixed(1);

const sections: string[] = [];

const header = [
  "# Benchmark results",
  "",
  `Measured ${new Date().toISOString().slice(0, 10)} on ${execFileSync("uname", ["-srm"], { encoding: "utf8" }).trim()}, ` +
    `${execFileSync("nproc", { encoding: "utf8" }).trim()} cores; regenerate with \`npm run bench\`.`,
  "",
];

const b = measureBinary(BINARY);
sections.push([
  "## The binary",
  "",
  "| what | value |",
  "| --- | --- |",
  `| size on disk | ${mib(b.sizeBytes)} MiB |`,
  `| size with \`zstd -19\` (what it would add to an initrd) | ${mib(b.zstdBytes)} MiB |`,
  `| start-up, \`stagehand --version\` (hyperfine, mean ± σ) | ${b.versionMeanMs.toFixed(1)} ± ${b.versionStddevMs.toFixed(1)} ms |`,
  `| peak RSS of \`--version\` | ${(b.peakRssKiB / 1024).toFixed(1)} MiB |`,
  "",
].join("\n"));

// Each comparison runs both tools back to back in one session, so its ratios hold on a noisy machine.
const runs = Number(process.env.STAGEHAND_BENCH_RUNS ?? 5);
sections.push(benchEtc(2000, runs).join("\n"));
sections.push(benchUsers(500, 300, runs).join("\n"));
sections.push(benchPlanner().join("\n"));
try {
  sections.push((await benchSwitch([100, 1000], runs)).join("\n"));
} catch (e) {
  // The container comparison needs a working executor and harness; the other tables stand without it.
  sections.push(["## switch-to-configuration", "", `Not measured in this run: ${(e as Error).message.split("\n")[0]}`, ""].join("\n"));
}

const text = [...header, ...sections].join("\n");
writeFileSync(join(ROOT, "bench/results.md"), text);
console.log(text);
