/**
 * switch-to-configuration in the real-systemd container: stagehand against the Perl
 * switch-to-configuration.pl on generations of N units (services running `sleep`, a quarter with
 * drop-ins; sockets; timers; targets; template instances), `dry-activate`, a no-op `switch`, and a
 * `switch` where 10% of the units change (restart, reload, stop, start), each run of the latter
 * starting from the base generation again (hyperfine --prepare, not timed).
 * Both tools get a generation with the same units (only the switch program differs), are run with
 * hyperfine through nsenter, and, in extra runs, their time waiting on systemd is measured (the Perl
 * script's systemctl calls through a timing wrapper; stagehand's `--json` phases), so that the
 * engine's share (wall time less waiting) can be compared. Peak RSS comes from
 * GNU time on the host around nsenter: ru_maxrss of the largest process in the run's tree (the tool
 * itself; its helpers, systemctl and the activate script, are smaller).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
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
 * The base units with 10% of them changed, in four equal parts taken from the plain services:
 * a new ExecStart (restart), a changed unit marked X-ReloadIfChanged with an ExecReload (reload),
 * removed (stop), and new services wanted by multi-user.target (start).
 */
export function changedUnits(n: number): { units: Record<string, UnitEntry>; wantedBy: Record<string, string[]>; counts: Record<string, number> } {
  const base = containerUnits(n);
  const units = { ...base.units };
  const wantedBy = { ...base.wantedBy };
  const services = Object.keys(units).filter((u) => /^bench-svc-\d+\.service$/.test(u));
  const quarter = Math.max(1, Math.round(n / 40));
  const counts = { restart: 0, reload: 0, stop: 0, start: 0 };
  for (const [k, name] of services.slice(0, 3 * quarter).entries()) {
    const text = units[name] as string;
    if (k < quarter) {
      units[name] = text.replace("ExecStart=/bin/sleep infinity", "ExecStart=/bin/sleep 31536000"); counts.restart++;
    } else if (k < 2 * quarter) {
      units[name] = `${text}X-ReloadIfChanged=true\nExecReload=/bin/true\nEnvironment=GENERATION=changed\n`; counts.reload++;
    } else {
      delete units[name]; delete units[`${name}.d/overrides.conf`]; delete wantedBy[name]; counts.stop++;
    }
  }
  for (let j = 0; j < quarter; j++) {
    units[`bench-new-${j}.service`] = `[Unit]\nDescription=Bench new service ${j}\n\n[Service]\nExecStart=/bin/sleep infinity\n`;
    wantedBy[`bench-new-${j}.service`] = ["multi-user.target"]; counts.start++;
  }
  return { units, wantedBy, counts };
}

/** How much of a size to measure: fewer runs at large sizes, where one switch takes many seconds. */
export interface SizePlan {
  runs: number;
  warmup: number;
  /** Also time the 10% change switch (each run is preceded by an untimed switch back). */
  change: boolean;
  /** Extra runs of each switch that measure its engine's share (median taken). */
  waitSamples: number;
}

/** Phases of stagehand's `--json` summary that wait on systemd (the rest is the engine and activate). */
const WAIT_PHASES = new Set(["stop", "reexecute", "daemon-reload", "sysinit-reactivation", "reload", "restart", "start", "settle"]);

/**
 * The systemctl verbs switch-to-configuration.pl waits on systemd with. Its copy `-timed` calls a
 * systemctl wrapper that appends "VERB MICROSECONDS" to /run/bench-waits for each.
 */
const PERL_WAIT_VERBS = "daemon-reload|daemon-reexec|reset-failed|start|stop|restart|reload";
const TIMED = "/opt/bench-timed";

/**
 * Writes the timing systemctl wrapper (a systemd package look-alike at /opt/bench-timed: bin/ with
 * the wrapper and links to /usr/bin, lib/ from the real one) and `bin/switch-to-configuration-timed`
 * beside a Perl generation's script, pointing both of its systemd paths at the wrapper. Host paths.
 */
function addTimedPerl(root: string, toplevel: string, systemd: string): void {
  const bin = join(root, TIMED, "bin");
  if (!existsSync(join(bin, "systemctl"))) {
    rmSync(join(root, TIMED), { recursive: true, force: true });
    mkdirSync(bin, { recursive: true });
    symlinkSync(join(systemd, "lib"), join(root, TIMED, "lib"));
    for (const f of readdirSync(join(root, "usr/bin"))) if (f !== "systemctl") symlinkSync(join("/usr/bin", f), join(bin, f));
  }
  writeFileSync(join(bin, "systemctl"), [
    "#!/bin/sh",
    "# Most of the wrapper's own time (its two date calls) counts as waiting: in the Perl script's favour.",
    "start=$(date +%s%N)",
    '/usr/bin/systemctl "$@"',
    "rc=$?",
    `case "$1" in ${PERL_WAIT_VERBS}) echo "$1 $(( ($(date +%s%N) - start) / 1000 ))" >> /run/bench-waits ;; esac`,
    "exit $rc",
    "",
  ].join("\n"), { mode: 0o755 });
  const script = readFileSync(join(root, toplevel, "bin/switch-to-configuration"), "utf8")
    .replace(/^my \$new_systemd = ".*";$/m, `my $new_systemd = "${TIMED}";`)
    .replace('abs_path("/run/current-system/sw/bin")', `"${TIMED}/bin"`);
  if (!script.includes(`"${TIMED}/bin"`) || !script.includes(`$new_systemd = "${TIMED}"`)) throw new Error("switch-to-configuration.pl changed: cannot time its systemctl calls");
  writeFileSync(join(root, toplevel, "bin/switch-to-configuration-timed"), script, { mode: 0o555 });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * The engine's share of a switch, median of `count` runs, each run's own wall time less its own time
 * waiting on systemd (systemd's reload time varies by seconds between runs at thousands of units, so
 * only a difference taken within one run means anything): for stagehand the wait phases of its
 * `--json` summary (also returned, for the by-phase row); for the Perl script the systemctl calls its
 * timed copy logged, the wrapper's own time included. `prepare` (untimed) runs before each.
 */
function engineShare(c: Container, tool: "perl" | "ours", top: string, count: number, prepare?: string): { engineMs: number; waitsMs: number; phases: Record<string, number> } {
  const engine: number[] = [];
  const waits: number[] = [];
  const phaseSamples: Record<string, number[]> = {};
  for (let i = 0; i < count; i++) {
    if (prepare) execFileSync("sh", ["-c", prepare]);
    if (tool === "perl") c.must("rm -f /run/bench-waits");
    const t0 = performance.now();
    const r = tool === "ours"
      ? c.exec([join(top, "bin/switch-to-configuration"), "switch", "--json"], { timeoutMs: 600_000 })
      : c.exec([join(top, "bin/switch-to-configuration-timed"), "switch"], { timeoutMs: 600_000 });
    const wall = performance.now() - t0;
    let waited: number;
    if (tool === "ours") {
      const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { phases: { phase: string; durationMs: number }[] };
      waited = summary.phases.filter((p) => WAIT_PHASES.has(p.phase)).reduce((t, p) => t + p.durationMs, 0);
      for (const p of summary.phases) (phaseSamples[p.phase] ??= []).push(p.durationMs);
    } else {
      const lines = c.must("cat /run/bench-waits 2>/dev/null || true").trim().split("\n").filter((l) => l !== "");
      waited = lines.reduce((t, l) => t + Number(l.split(" ")[1]) / 1000, 0);
    }
    engine.push(wall - waited);
    waits.push(waited);
  }
  return { engineMs: median(engine), waitsMs: median(waits), phases: Object.fromEntries(Object.entries(phaseSamples).map(([k, v]) => [k, median(v)])) };
}

/** One size: boots a container on generation A, then times both tools switching to A's twins. */
async function measureSize(n: number, plan: SizePlan): Promise<string[]> {
  const { units, wantedBy } = containerUnits(n);
  const changed = plan.change ? changedUnits(n) : undefined;
  let ours = "";
  let perl = "";
  let oursChanged = "";
  let perlChanged = "";
  const c = await Container.boot({
    name: "bench-switch", bootTimeoutMs: 600_000,
    prepare: (root) => {
      const a = buildGeneration(root, { name: "bench-a", units, wantedBy });
      ours = buildGeneration(root, { name: "bench-b-stagehand", units, wantedBy }).toplevel;
      const p = buildGeneration(root, { name: "bench-b-perl", units, wantedBy, switchBinary: "perl" });
      perl = p.toplevel;
      addTimedPerl(root, perl, p.systemd);
      if (changed) {
        oursChanged = buildGeneration(root, { name: "bench-c-stagehand", units: changed.units, wantedBy: changed.wantedBy }).toplevel;
        perlChanged = buildGeneration(root, { name: "bench-c-perl", units: changed.units, wantedBy: changed.wantedBy, switchBinary: "perl" }).toplevel;
        addTimedPerl(root, perlChanged, p.systemd);
      }
      prepareBooted(root, a);
    },
  });
  try {
    c.installStagehand();
    const inside = (argv: string[]) => ["nsenter", "-t", String(c.leaderPid), "-a", "--", "env", "-i",
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", ...argv];
    const active = c.must("systemctl list-units --no-legend --state=active 'bench-*' | wc -l").trim();
    const switchOf = (top: string, action: string) => [join(top, "bin/switch-to-configuration"), action];
    // Back to the base generation (stagehand's twin of A), untimed; its status is not the measurement.
    const toBase = shellLine(["sh", "-c", `${shellLine(inside(switchOf(ours, "switch")))} >/dev/null 2>&1; true`]);
    const mib = (k: number) => (k / 1024).toFixed(1);
    const runsNote = plan.runs === 5 && plan.warmup === 3 ? "" : `; ${plan.runs} runs, ${plan.warmup} warm-up`;
    const label = `${n} (${active} bench units active)`;
    // Failures are timed too (a run of either tool may exit non-zero, e.g. 4 when a unit failed); the
    // statuses of one more run of each (under GNU time, for the peak RSS) are shown beside the times.
    const once = (argv: string[], prepare?: string) => {
      if (prepare) execFileSync("sh", ["-c", prepare]);
      const r = spawnSync("/usr/bin/time", ["-f", "%M", ...inside(argv)], { encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] });
      const lines = r.stderr.trim().split("\n");
      return { status: r.status === 0 ? "" : ` (exit ${r.status})`, rssKiB: Number(lines.at(-1)) };
    };
    const row = (what: string, cmd: (top: string) => string[], tops: [string, string], prepare?: string) => {
      const p = hyperfine(shellLine(inside(cmd(tops[0]))), plan.runs, prepare, true, plan.warmup);
      const o = hyperfine(shellLine(inside(cmd(tops[1]))), plan.runs, prepare, true, plan.warmup);
      const pOnce = once(cmd(tops[0]), prepare);
      const oOnce = once(cmd(tops[1]), prepare);
      return `| ${label} | ${what}${runsNote} | ${p.meanMs.toFixed(0)} ± ${p.stddevMs.toFixed(0)}${pOnce.status} | ` +
        `${o.meanMs.toFixed(0)} ± ${o.stddevMs.toFixed(0)}${oOnce.status} | ${(p.meanMs / o.meanMs).toFixed(1)}× | ${mib(pOnce.rssKiB)} / ${mib(oOnce.rssKiB)} |`;
    };
    /** The engine's share of a switch (its own runs), and stagehand's phases. */
    const engineRows = (what: string, tops: [string, string], prepare?: string) => {
      const p = engineShare(c, "perl", tops[0], plan.waitSamples, prepare);
      const o = engineShare(c, "ours", tops[1], plan.waitSamples, prepare);
      return [
        `| ${n} | ${what}: **engine's share** (wall − waiting on systemd; waits ${p.waitsMs.toFixed(0)} / ${o.waitsMs.toFixed(0)} ms; median of ${plan.waitSamples}) | ` +
          `${p.engineMs.toFixed(0)} | ${o.engineMs.toFixed(0)} | **${(p.engineMs / o.engineMs).toFixed(1)}×** | |`,
        `| ${n} | ${what}: stagehand by phase (\`--json\`, median of ${plan.waitSamples}) | | ${Object.entries(o.phases).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", ")} | | |`,
      ];
    };
    const rows: string[] = [];
    rows.push(row("dry-activate", (top) => switchOf(top, "dry-activate"), [perl, ours]));
    rows.push(row("no-op switch", (top) => switchOf(top, "switch"), [perl, ours]), ...engineRows("no-op switch", [perl, ours]));
    if (changed) {
      const k = changed.counts;
      const what = `switch, 10% changed (${k.restart} restart, ${k.reload} reload, ${k.stop} stop, ${k.start} start)`;
      rows.push(row(what, (top) => switchOf(top, "switch"), [perlChanged, oursChanged], toBase), ...engineRows("10% changed", [perlChanged, oursChanged], toBase));
      execFileSync("sh", ["-c", toBase]);
    }
    return rows;
  } finally {
    await c.halt();
  }
}

/** The default plan per size: the full treatment up to 1,000 units, fewer runs above. */
export function defaultPlan(n: number, runs = 5): SizePlan {
  return n > 1000 ? { runs: Math.min(runs, 2), warmup: 1, change: true, waitSamples: 2 } : { runs, warmup: n > 100 ? 1 : 3, change: true, waitSamples: 3 };
}

/** Runs the switch comparison; returns its Markdown section. */
export async function benchSwitch(sizes = [100, 1000, 5000], runs = 5): Promise<string[]> {
  const rows: string[] = [];
  for (const n of sizes) rows.push(...(await measureSize(n, defaultPlan(n, runs))));
  return [
    "## switch-to-configuration: stagehand vs switch-to-configuration.pl (container, real systemd)",
    "",
    "Generations of N units (services running `sleep infinity`, a sixth with drop-ins; sockets; timers with oneshots; " +
      "targets; template instances) booted in systemd-nspawn. `dry-activate` and `switch` to a generation with the same " +
      "units (a no-op), then a `switch` to one where 10% of the units change (a quarter each: new ExecStart, a reload " +
      "with X-ReloadIfChanged, removed, added), every run of it starting from the base generation (hyperfine " +
      "`--prepare` switches back, untimed). hyperfine through nsenter, mean ± σ (ms) of " +
      `${runs} runs after 3 warm-ups at 100 units, 1 warm-up at 1,000; at 5,000 units fewer runs (noted in the row). ` +
      "**Engine's share**: in extra runs (3, or 2 at 5,000 units; median), each run's wall time less that run's time " +
      "waiting on systemd (systemd's reload time varies by seconds between runs at thousands of units): for switch-to-configuration.pl the `systemctl` calls that wait (daemon-reload, " +
      "reset-failed, stop, reload, restart, start; a copy of the script calls a timing wrapper), for stagehand the " +
      "waiting phases of its `--json` summary (daemon-reload, jobs, and the 250 ms settle that ng, and so stagehand, " +
      "waits for systemd's signals to stop before reporting failed units; the Perl script has no such wait). Both " +
      "shares include the generation's activate script. The by-phase row shows stagehand's phases (ms). Peak RSS: GNU " +
      "time (`%M`) on the host around nsenter, one extra run: the largest process of the run (the tool; systemctl " +
      "and activate are smaller).",
    "",
    "| units | what | switch-to-configuration.pl (ms) | stagehand (ms) | speed-up | peak RSS perl / stagehand (MiB) |",
    "| --- | --- | ---: | ---: | ---: | ---: |",
    ...rows,
    "",
  ];
}

if (import.meta.main) {
  const sizes = process.argv.slice(2).map(Number);
  console.log((await benchSwitch(sizes.length ? sizes : undefined, Number(process.env.STAGEHAND_BENCH_RUNS ?? 5))).join("\n"));
}
