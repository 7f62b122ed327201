/**
 * `npm run bench`: measures stagehand (and, where one exists, the Perl original in the same run, as a
 * ratio) and writes bench/results.md. Not a test: nothing here asserts a time.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { measureBinary } from "./binary.ts";

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

const text = [...header, ...sections].join("\n");
writeFileSync(join(ROOT, "bench/results.md"), text);
console.log(text);
