/**
 * switch-to-configuration in the real-systemd container: stagehand against the Perl
 * switch-to-configuration.pl on generations of N units (services running `sleep`, a quarter with
 * drop-ins; sockets; timers; targets; template instances), `dry-activate` and a no-op `switch`.
 * Both tools get a generation with the same units (only the switch program differs), are run with
 * hyperfine through nsenter, and systemd's share of a no-op switch (its daemon-reload, which both
 * tools request) is measured on its own so the engine's share can be read off.
 */
import { join } from "node:path";
import { Container } from "../test/harness/container.ts";
import { buildGeneration, prepareBooted, type UnitEntry } from "../test/harness/generation.ts";
import { hyperfine } from "./binary.ts";
import { shellLine } from "./chroot.ts";

/** N units a container can run cheaply, and the targets that pull them in. */
export function containerUnits(n: number): { units: Record<string, UnitEntry>; wantedBy: Record<string, string[]> } {
  const units: Record<string, UnitEntry> = {};
  const wantedBy: Record<string, string[]> = {};
  const svc = (i: number) => `[Unit]\nDescription=Bench service ${i}\n\n[Service]\nExecStart=/bin/sleep infinity\nX-Reload-Triggers=/nix/store/conf-${i}\n`;
  let count = 0;
  for (let i = 0; count < n; i++) {
    const kind = i % 10;
    if (kind < 6) {
      units[`bench-svc-${i}.service`] = svc(i); wantedBy[`bench-svc-${i}.service`] = ["multi-user.target"]; count++;
      if (kind % 4 === 0) units[`bench-svc-${i}.service.d/overrides.conf`] = `[Service]\nEnvironment=EXTRA=${i}\n`;
    } else if (kind === 6) {
      units[`bench-sock-${i}.socket`] = `[Socket]\nListenStream=/run/bench-sock-${i}.sock\n`;
      units[`bench-sock-${i}.service`] = svc(i);
      wantedBy[`bench-sock-${i}.socket`] = ["sockets.target"]; count += 2;
    } else if (kind === 7) {
      units[`bench-job-${i}.timer`] = "[Timer]\nOnCalendar=yearly\n";
      units[`bench-job-${i}.service`] = `[Service]\nType=oneshot\nExecStart=/bin/true\n`;
      wantedBy[`bench-job-${i}.timer`] = ["timers.target"]; count += 2;
    } else if (kind === 8) {
      units[`bench-group-${i}.target`] = `[Unit]\nDescription=Bench target ${i}\n`; wantedBy[`bench-group-${i}.target`] = ["multi-user.target"]; count++;
    } else {
      units[`bench-tmpl-${i}@.service`] = svc(i).replace("service", "template %i of");
      for (let k = 0; k < 3; k++) units[`multi-user.target.wants/bench-tmpl-${i}@${k}.service`] = { symlink: `../bench-tmpl-${i}@.service` };
      count += 3;
    }
  }
  return { units, wantedBy };
}

/**
 * stagehand's own account of a no-op switch (`--json` phase timings, median of 3): the phases spent
 * waiting on systemd (daemon-reload, jobs, settling) against the total, so the engine's share shows.
 */
function phaseRows(c: Container, top: string, n: number): string[] {
  const samples: Record<string, number>[] = [];
  for (let i = 0; i < 3; i++) {
    const out = c.must([join(top, "bin/switch-to-configuration"), "switch", "--json"]);
    const summary = JSON.parse(out.trim().split("\n").at(-1)!) as { phases: { phase: string; durationMs: number }[]; durationMs: number };
    samples.push({ ...Object.fromEntries(summary.phases.map((p) => [p.phase, p.durationMs])), total: summary.durationMs });
  }
  const med = (k: string) => samples.map((s) => s[k] ?? 0).sort((a, b) => a - b)[1]!;
  const phases = Object.keys(samples[0]!).filter((k) => k !== "total");
  return [`| ${n} | stagehand's no-op switch by phase (\`--json\`, median of 3) | | ${phases.map((p) => `${p} ${med(p).toFixed(0)}`).join(", ")}; total ${med("total").toFixed(0)} | |`];
}

/** One size: boots a container on generation A, then times both tools switching to A's twins. */
async function measureSize(n: number, runs: number): Promise<string[]> {
  const { units, wantedBy } = containerUnits(n);
  let ours = "";
  let perl = "";
  const c = await Container.boot({
    name: "bench-switch", bootTimeoutMs: 300_000,
    prepare: (root) => {
      const a = buildGeneration(root, { name: "bench-a", units, wantedBy });
      ours = buildGeneration(root, { name: "bench-b-stagehand", units, wantedBy }).toplevel;
      perl = buildGeneration(root, { name: "bench-b-perl", units, wantedBy, switchBinary: "perl" }).toplevel;
      prepareBooted(root, a);
    },
  });
  try {
    c.installStagehand();
    const inside = (argv: string[]) => shellLine(["nsenter", "-t", String(c.leaderPid), "-a", "--", "env", "-i",
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", ...argv]);
    const active = c.must("systemctl list-units --no-legend --state=active 'bench-*' | wc -l").trim();
    // Failures are timed too (a run of either tool may exit non-zero, e.g. 4 when a unit failed); the
    // statuses of one more run of each are shown beside the times.
    const status = (argv: string[]) => { const s = c.exec(argv).status; return s === 0 ? "" : ` (exit ${s})`; };
    const row = (what: string, cmd: (top: string) => string[]) => {
      const p = hyperfine(inside(cmd(perl)), runs, undefined, true);
      const o = hyperfine(inside(cmd(ours)), runs, undefined, true);
      return `| ${n} (${active} bench units active) | ${what} | ${p.meanMs.toFixed(0)} ± ${p.stddevMs.toFixed(0)}${status(cmd(perl))} | ` +
        `${o.meanMs.toFixed(0)} ± ${o.stddevMs.toFixed(0)}${status(cmd(ours))} | ${(p.meanMs / o.meanMs).toFixed(1)}× |`;
    };
    const rows = [
      row("dry-activate", (top) => [join(top, "bin/switch-to-configuration"), "dry-activate"]),
      row("no-op switch", (top) => [join(top, "bin/switch-to-configuration"), "switch"]),
    ];
    const reload = hyperfine(inside(["systemctl", "daemon-reload"]), runs);
    rows.push(`| ${n} | systemd's share: one \`systemctl daemon-reload\` | ${reload.meanMs.toFixed(0)} ± ${reload.stddevMs.toFixed(0)} | | |`);
    return [...rows, ...phaseRows(c, ours, n)];
  } finally {
    await c.halt();
  }
}

/** Runs the switch comparison; returns its Markdown section. */
export async function benchSwitch(sizes = [100, 1000], runs = 5): Promise<string[]> {
  const rows: string[] = [];
  for (const n of sizes) rows.push(...(await measureSize(n, runs)));
  return [
    "## switch-to-configuration: stagehand vs switch-to-configuration.pl (container, real systemd)",
    "",
    "Generations of N units (services running `sleep infinity`, a sixth with drop-ins; sockets; timers with oneshots; " +
      "targets; template instances) booted in systemd-nspawn; the new generation has the same units, so `switch` is a " +
      `no-op. hyperfine through nsenter, ${runs} runs after 3 warm-ups, mean ± σ (ms). A no-op switch includes systemd's ` +
      "daemon-reload, shown on its own row: the engine's share is roughly the switch time minus it.",
    "",
    "| units | what | switch-to-configuration.pl (ms) | stagehand (ms) | speed-up |",
    "| --- | --- | ---: | ---: | ---: |",
    ...rows,
    "",
  ];
}

if (import.meta.main) {
  const sizes = process.argv.slice(2).map(Number);
  console.log((await benchSwitch(sizes.length ? sizes : undefined, 5)).join("\n"));
}
