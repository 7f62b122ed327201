/**
 * switch-to-configuration in a real-systemd container (Debian trixie, systemd 257): stagehand against
 * NixOS's Rust switch-to-configuration-ng (what NixOS runs today) and the Perl
 * switch-to-configuration.pl (what it ran until 2025) on generations of N units (services running
 * `sleep`, a quarter with drop-ins; sockets; timers; targets; template instances): `dry-activate`, a
 * no-op `switch`, and a `switch` where 10% of the units change (restart, reload, stop, start), each run
 * of the latter starting from the base generation again (an untimed switch back).
 * All three get a generation with the same units (only the switch program differs) and are run in
 * turn, round after round, through nsenter, so each ratio comes from one stretch of time. Their time
 * waiting on systemd is measured so that the engine's share (wall time less waiting) can be compared:
 * stagehand's `--json` phases, ng's poll time under strace, the Perl script's systemctl calls through a
 * timing wrapper. Peak RSS comes from GNU time on the host around nsenter: ru_maxrss of the largest
 * process in the run's tree (the tool itself; its helpers, systemctl and the activate script, are
 * smaller).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Container } from "../test/harness/container.ts";
import { buildGeneration, prepareBooted, type UnitEntry } from "../test/harness/generation.ts";
import { installNg, ngWrapper } from "../test/harness/ng.ts";
import { readFromDisk } from "./binary.ts";
import { BINARY, shellLine } from "./chroot.ts";

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
      units[name] = text.replace("ExecStart=/bin/sleep infinity", "ExecStart=/bin/sleep inf"); counts.restart++;
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

/** The median (the mean of the middle two for an even count). */
export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const h = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
};
const mean = (xs: number[]) => xs.reduce((t, x) => t + x, 0) / xs.length;
const stddev = (xs: number[]) => {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((t, x) => t + (x - m) ** 2, 0) / (xs.length - 1));
};

/** The three switch programs, in table order. */
export type Tool = "perl" | "ng" | "ours";
const TOOLS: Tool[] = ["perl", "ng", "ours"];

/** What one strace of a switch says about the switch program's own process. */
export interface StraceWaits {
  /** From the program's execve to its exit (strace's timestamps): its own wall time, wrappers excluded. */
  lifeMs: number;
  /**
   * Time its main thread spent blocked in poll/ppoll/epoll_wait (waiting for systemd's replies and
   * signals), less any part of it while one of its child processes ran (activate, the pre-switch
   * check and the bootloader installer are the engine's, as in the other measurements).
   */
  waitMs: number;
  /** The part of waitMs in polls with a 250 ms timeout: ng's settle loop after the jobs (0 for stagehand). */
  settleMs: number;
  /** How many of the program's own calls stopped it under strace (its waits and execve). */
  calls: number;
}

/**
 * What a traced call costs under strace here, measured on a C loop of zero-timeout polls traced as a
 * switch is (bench/floor/poll-loop.c): `outsideUs` is the time per call outside the `-T` duration (it
 * would count as the program's own work), `insideUs` the time added inside it (it would count as
 * waiting). A program that waits often (stagehand's event loop) is stopped more often than one that
 * waits seldom (ng), so both are corrected by their own number of calls.
 */
export interface TraceCost { outsideUs: number; insideUs: number }

/** Measures TraceCost (compiles the loop into `dir`). */
export function traceCost(dir: string, n = 20000): TraceCost {
  const bin = join(dir, "poll-loop");
  execFileSync("gcc", ["-O2", "-o", bin, join(import.meta.dir, "floor/poll-loop.c")]);
  const time = (argv: string[]) => {
    const t0 = performance.now();
    execFileSync(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "ignore"] });
    return performance.now() - t0;
  };
  const plain = median([0, 1, 2].map(() => time([bin, String(n)])));
  const trace = join(dir, "calibrate.strace");
  const samples = [0, 1, 2].map(() => {
    const wall = time(["strace", "-f", "--seccomp-bpf", "-q", "-ttt", "-T", "-e", "trace=execve,poll,ppoll,epoll_wait,epoll_pwait,epoll_pwait2", "-o", trace, bin, String(n)]);
    const inside = [...readFileSync(trace, "utf8").matchAll(/<(\d+\.\d+)>$/gm)].reduce((t, m) => t + Number(m[1]) * 1000, 0);
    return { wall, inside };
  });
  const wall = median(samples.map((x) => x.wall));
  const inside = median(samples.map((x) => x.inside));
  return { outsideUs: Math.max(0, (wall - inside) / n * 1000), insideUs: Math.max(0, (inside - plain) / n * 1000) };
}

/** A strace measurement with the tracing's own cost taken out (see TraceCost). */
export function corrected(w: StraceWaits, cost: TraceCost): StraceWaits {
  const perCall = (cost.outsideUs + cost.insideUs) / 1000;
  return { ...w, lifeMs: w.lifeMs - w.calls * perCall, waitMs: Math.max(0, w.waitMs - w.calls * cost.insideUs / 1000) };
}

/**
 * Reads `strace -f -ttt -T -e trace=execve,poll,ppoll,epoll_wait,epoll_pwait,epoll_pwait2` output of
 * one switch and measures the process that executed `binary`. ng talks to systemd through libdbus,
 * whose blocking calls (method replies, `process()` for job and reload signals, the settle loop) all
 * wait in poll on the bus socket, and waits for its children in wait4 (not traced); stagehand waits for
 * everything in its event loop's epoll, children included, so the time a child was alive is taken
 * out of its waits. One definition for both programs.
 */
export function waitsFromStrace(text: string, binary: string): StraceWaits {
  let main: string | undefined;
  let t0 = 0;
  let t1 = 0;
  const waits: { start: number; dur: number; settle: boolean }[] = [];
  const childStart = new Map<string, number>();
  const children: [number, number][] = [];
  const pending = new Map<string, { start: number; settle: boolean }>();
  let calls = 1; // the execve that started it
  const isSettle = (args: string) => /, 250$/.test(args) || /tv_sec=0, tv_nsec=250000000\}/.test(args);
  const WAIT = "(?:poll|ppoll|epoll_wait|epoll_pwait|epoll_pwait2)";
  for (const line of text.split("\n")) {
    const m = /^(\d+) +(\d+\.\d+) (.*)$/.exec(line);
    if (!m) continue;
    const p = m[1]!;
    const ts = Number(m[2]);
    const rest = m[3]!;
    if (main === undefined) {
      if (rest.startsWith(`execve("${binary}"`)) { main = p; t0 = ts; }
      continue;
    }
    if (p !== main) {
      if (rest.startsWith("execve(") && !childStart.has(p)) childStart.set(p, ts);
      else if (rest.startsWith("+++ ") && childStart.has(p)) { children.push([childStart.get(p)!, ts]); childStart.delete(p); }
      continue;
    }
    if (rest.startsWith("+++ ")) { t1 = ts; break; }
    if (rest.startsWith("execve(") || rest.startsWith("<... execve")) calls++;
    const full = new RegExp(`^${WAIT}\\((.*)\\) += .*<(\\d+\\.\\d+)>$`).exec(rest);
    if (full) { calls++; waits.push({ start: ts, dur: Number(full[2]), settle: isSettle(full[1]!) }); continue; }
    const unfinished = new RegExp(`^${WAIT}\\((.*) <unfinished \\.\\.\\.>$`).exec(rest);
    if (unfinished) { calls++; pending.set(p, { start: ts, settle: isSettle(unfinished[1]!) }); continue; }
    const resumed = new RegExp(`^<\\.\\.\\. ${WAIT} resumed>.*<(\\d+\\.\\d+)>$`).exec(rest);
    if (resumed && pending.has(p)) { waits.push({ ...pending.get(p)!, dur: Number(resumed[1]) }); pending.delete(p); }
  }
  if (main === undefined || t1 === 0) throw new Error(`strace: no complete run of ${binary} found`);
  // A child still running at the end counts as running until then.
  for (const start of childStart.values()) children.push([start, t1]);
  const overlap = (a: number, b: number) => children.reduce((t, [c, d]) => t + Math.max(0, Math.min(b, d) - Math.max(a, c)), 0);
  let waitS = 0;
  let settleS = 0;
  for (const w of waits) {
    const own = Math.max(0, w.dur - overlap(w.start, w.start + w.dur));
    waitS += own;
    if (w.settle) settleS += own;
  }
  return { lifeMs: (t1 - t0) * 1000, waitMs: waitS * 1000, settleMs: settleS * 1000, calls };
}

/** One tool's samples of a timed row. */
interface Timed { wall: number[]; cpuMs: number[]; rssKiB: number[]; statuses: Set<number>; ourEngine: number[]; ourWaits: number[]; phases: Record<string, number[]>; settledBy: Record<string, number> }

/** One size: boots a trixie container on generation A, then times the three tools switching to A's twins. */
async function measureSize(n: number, plan: SizePlan): Promise<string[]> {
  const { units, wantedBy } = containerUnits(n);
  const changed = plan.change ? changedUnits(n) : undefined;
  let ours = "";
  let perl = "";
  let oursChanged = "";
  let perlChanged = "";
  const c = await Container.boot({
    name: "bench-switch", bootTimeoutMs: 600_000, suite: "trixie",
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
  const traceDir = mkdtempSync(join(tmpdir(), "bench-strace-"));
  try {
    const oursBinary = c.installStagehand(BINARY);
    const ngBinary = installNg(c);
    for (const copy of [oursBinary, ngBinary]) readFromDisk(join(c.root, copy));
    // ng runs from the stagehand twin's own wrapper (same environment, only the binary differs).
    const ngOf = new Map([[ours, ngWrapper(c.root, ours)], ...(changed ? [[oursChanged, ngWrapper(c.root, oursChanged)] as [string, string]] : [])]);
    const inside = (argv: string[]) => ["nsenter", "-t", String(c.leaderPid), "-a", "--", "env", "-i",
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", ...argv];
    const active = c.must("systemctl list-units --no-legend --state=active 'bench-*' | wc -l").trim();
    /** The command line of one tool; `tops` are [perl's generation, stagehand's generation]. */
    const argvOf = (tool: Tool, tops: [string, string], action: string): string[] =>
      tool === "perl" ? [join(tops[0], "bin/switch-to-configuration"), action]
        : tool === "ng" ? [ngOf.get(tops[1])!, action]
          : [join(tops[1], "bin/switch-to-configuration"), action, "--json"];
    // Back to the base generation (stagehand's twin of A), untimed; its status is not the measurement.
    const toBase = shellLine(["sh", "-c", `${shellLine(inside([join(ours, "bin/switch-to-configuration"), "switch"]))} >/dev/null 2>&1; true`]);
    const mib = (k: number) => (k / 1024).toFixed(1);
    const runsNote = plan.runs === 5 && plan.warmup === 1 ? "" : `; ${plan.runs} runs, ${plan.warmup} warm-up`;
    const label = `${n} (${active} bench units active)`;

    /**
     * A timed row: the three tools in turn, `warmup + runs` rounds (so a noisy minute hits all three
     * alike), each run under GNU time on the host (peak RSS) through nsenter. Failures are timed too
     * (either tool may exit 4 when a unit failed); non-zero statuses are shown beside the times.
     * stagehand runs with `--json` (one more line of output), whose phases give its waits per run.
     */
    const timed = (tops: [string, string], action: string, prepare?: string): Record<Tool, Timed> => {
      const out = Object.fromEntries(TOOLS.map((t) => [t, { wall: [], cpuMs: [], rssKiB: [], statuses: new Set(), ourEngine: [], ourWaits: [], phases: {}, settledBy: {} }])) as unknown as Record<Tool, Timed>;
      for (let i = 0; i < plan.warmup + plan.runs; i++) {
        for (const tool of TOOLS) {
          if (prepare) execFileSync("sh", ["-c", prepare]);
          const t0 = performance.now();
          const r = spawnSync("/usr/bin/time", ["-f", "%M %U %S", ...inside(argvOf(tool, tops, action))], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
          const wall = performance.now() - t0;
          if (i < plan.warmup) continue;
          const s = out[tool];
          s.wall.push(wall);
          const [rss, user, sys] = r.stderr.trim().split("\n").at(-1)!.split(" ").map(Number) as [number, number, number];
          s.rssKiB.push(rss);
          s.cpuMs.push((user + sys) * 1000);
          if (r.status !== 0) s.statuses.add(r.status ?? -1);
          if (tool === "ours") {
            const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { phases: { phase: string; durationMs: number }[]; settle?: { services: { settledBy: string }[] } };
            for (const x of summary.settle?.services ?? []) s.settledBy[x.settledBy] = (s.settledBy[x.settledBy] ?? 0) + 1;
            const waited = summary.phases.filter((p) => WAIT_PHASES.has(p.phase)).reduce((t, p) => t + p.durationMs, 0);
            s.ourWaits.push(waited);
            s.ourEngine.push(wall - waited);
            for (const p of summary.phases) (s.phases[p.phase] ??= []).push(p.durationMs);
          }
        }
      }
      return out;
    };
    const cell = (s: Timed) => `${mean(s.wall).toFixed(0)} ± ${stddev(s.wall).toFixed(0)}${s.statuses.size ? ` (exit ${[...s.statuses].join(", ")})` : ""}`;
    const timedRow = (what: string, t: Record<Tool, Timed>) => {
      const [p, g, o] = [mean(t.perl.wall), mean(t.ng.wall), mean(t.ours.wall)];
      return `| ${label} | ${what}${runsNote} | ${cell(t.perl)} | ${cell(t.ng)} | ${cell(t.ours)} | ${(g / o).toFixed(2)}× | ${(p / o).toFixed(1)}× | ` +
        `${median(t.perl.cpuMs).toFixed(0)} / ${median(t.ng.cpuMs).toFixed(0)} / ${median(t.ours.cpuMs).toFixed(0)} | ` +
        `${mib(Math.max(...t.perl.rssKiB))} / ${mib(Math.max(...t.ng.rssKiB))} / ${mib(Math.max(...t.ours.rssKiB))} |`;
    };

    /** One run of `tool` under strace on the host (only its waits and execve stop it), measured. */
    const cost = traceCost(traceDir);
    const straced = (tool: "ng" | "ours", tops: [string, string], i: number): StraceWaits => {
      const trace = join(traceDir, `${tool}-${i}.strace`);
      spawnSync("strace", ["-f", "--seccomp-bpf", "-q", "-ttt", "-T", "-e", "trace=execve,poll,ppoll,epoll_wait,epoll_pwait,epoll_pwait2", "-o", trace,
        ...inside(argvOf(tool, tops, "switch"))], { stdio: "ignore", timeout: 900_000 });
      try {
        return corrected(waitsFromStrace(readFileSync(trace, "utf8"), tool === "ng" ? ngBinary : "/usr/local/bin/stagehand"), cost);
      } finally {
        rmSync(trace, { force: true });
      }
    };

    /**
     * The engine's share of a switch, in runs of its own (`waitSamples` each, median; three programs in
     * turn): ng and stagehand under strace on the host, measured alike (waitsFromStrace: the program's
     * own lifetime less its main thread's time blocked waiting, children's lifetimes taken out);
     * switch-to-configuration.pl's timed copy (its waiting systemctl calls logged by a wrapper, wall
     * time around nsenter). stagehand's share by its own `--json` phases (timed runs) is shown too.
     */
    const engineRows = (what: string, tops: [string, string], t: Record<Tool, Timed>, prepare?: string) => {
      const perlEngine: number[] = [], perlWaits: number[] = [];
      const ng: StraceWaits[] = [], ourS: StraceWaits[] = [];
      for (let i = 0; i < plan.waitSamples; i++) {
        if (prepare) execFileSync("sh", ["-c", prepare]);
        c.must("rm -f /run/bench-waits");
        const t0 = performance.now();
        c.exec([join(tops[0], "bin/switch-to-configuration-timed"), "switch"], { timeoutMs: 900_000 });
        const wall = performance.now() - t0;
        const lines = c.must("cat /run/bench-waits 2>/dev/null || true").trim().split("\n").filter((l) => l !== "");
        const waited = lines.reduce((s, l) => s + Number(l.split(" ")[1]) / 1000, 0);
        perlEngine.push(wall - waited); perlWaits.push(waited);
        if (prepare) execFileSync("sh", ["-c", prepare]);
        ng.push(straced("ng", tops, i));
        if (prepare) execFileSync("sh", ["-c", prepare]);
        ourS.push(straced("ours", tops, i));
      }
      const share = (xs: StraceWaits[]) => median(xs.map((x) => x.lifeMs - x.waitMs));
      const [p, g, o] = [median(perlEngine), share(ng), share(ourS)];
      const oPhases = Object.entries(t.ours.phases).map(([k, v]) => `${k} ${median(v).toFixed(0)}`).join(", ");
      const k = plan.waitSamples;
      const runs = t.ours.wall.length;
      const settled = Object.entries(t.ours.settledBy).sort().map(([by, c]) => `${by} ${(c / runs).toFixed(1)}`).join(", ");
      return [
        `| ${n} | ${what}: **engine's share** (wall − waiting on systemd; waits ${median(perlWaits).toFixed(0)} / ${median(ng.map((x) => x.waitMs)).toFixed(0)} / ` +
          `${median(ourS.map((x) => x.waitMs)).toFixed(0)} ms; median of ${k}) | ${p.toFixed(0)} | ${g.toFixed(0)} | ${o.toFixed(0)} | **${(g / o).toFixed(1)}×** | **${(p / o).toFixed(1)}×** | | |`,
        `| ${n} | ${what}: where the waiting went (ms, medians; strace's own cost taken out: ${cost.outsideUs.toFixed(0)} + ${cost.insideUs.toFixed(0)} µs a call) | | ` +
          `lifetime ${median(ng.map((x) => x.lifeMs)).toFixed(0)}; ${median(ng.map((x) => x.calls)).toFixed(0)} traced calls; settle loop (250 ms polls) ${median(ng.map((x) => x.settleMs)).toFixed(0)} | ` +
          `lifetime ${median(ourS.map((x) => x.lifeMs)).toFixed(0)}; ${median(ourS.map((x) => x.calls)).toFixed(0)} traced calls; \`--json\` phases: ${oPhases}; engine's share by these phases ${median(t.ours.ourEngine).toFixed(0)}` +
          `${settled ? `; services the settle waited for, a run: ${settled}` : ""} | | | | |`,
      ];
    };

    const rows: string[] = [];
    const base: [string, string] = [perl, ours];
    rows.push(timedRow("dry-activate", timed(base, "dry-activate")));
    const noop = timed(base, "switch");
    rows.push(timedRow("no-op switch", noop), ...engineRows("no-op switch", base, noop));
    if (changed) {
      const k = changed.counts;
      const what = `switch, 10% changed (${k.restart} restart, ${k.reload} reload, ${k.stop} stop, ${k.start} start)`;
      const tops: [string, string] = [perlChanged, oursChanged];
      const t = timed(tops, "switch", toBase);
      rows.push(timedRow(what, t), ...engineRows("10% changed", tops, t, toBase));
      execFileSync("sh", ["-c", toBase]);
    }
    return rows;
  } finally {
    rmSync(traceDir, { recursive: true, force: true });
    await c.halt();
  }
}

/**
 * The default plan per size: 5 timed rounds after 1 warm-up up to 1,000 units; at 5,000 units, where
 * one switch takes half a minute and the 10% row pays a switch back before each run, 2 rounds and no
 * warm-up (the dry-activate row before warms the caches). `STAGEHAND_BENCH_WAITS` overrides the
 * number of engine-share runs.
 */
export function defaultPlan(n: number, runs = 5): SizePlan {
  const waits = process.env.STAGEHAND_BENCH_WAITS ? Number(process.env.STAGEHAND_BENCH_WAITS) : undefined;
  // STAGEHAND_BENCH_BIG_RUNS: rounds (and engine-share runs) above 1,000 units, for a run short of time.
  const big = process.env.STAGEHAND_BENCH_BIG_RUNS ? Number(process.env.STAGEHAND_BENCH_BIG_RUNS) : undefined;
  return n > 1000 ? { runs: big ?? Math.min(runs, 2), warmup: 0, change: true, waitSamples: big ?? waits ?? 2 } : { runs, warmup: 1, change: true, waitSamples: waits ?? 3 };
}

/** Runs the switch comparison; returns its Markdown section. */
export async function benchSwitch(sizes = [100, 1000, 5000], runs = 5, onSize?: (partial: string[]) => void): Promise<string[]> {
  const rows: string[] = [];
  for (const [k, n] of sizes.entries()) {
    rows.push(...(await measureSize(n, defaultPlan(n, runs))));
    // The section as far as it got (a run stopped later keeps the sizes done), marked as partial.
    if (onSize && k < sizes.length - 1) onSize(section(rows, runs, `Partial: ${sizes.slice(0, k + 1).join(", ")} units measured so far of ${sizes.join(", ")}.`));
  }
  return section(rows, runs);
}

/** The Markdown section for the rows measured; `note` goes under the title. */
function section(rows: string[], runs: number, note?: string): string[] {
  return [
    "## switch-to-configuration: stagehand vs switch-to-configuration-ng and switch-to-configuration.pl (container, systemd 257)",
    "",
    ...(note ? [note, ""] : []),
    "Generations of N units (services running `sleep infinity`, a sixth with drop-ins; sockets; timers with oneshots; " +
      "targets; template instances) booted in systemd-nspawn on Debian trixie (systemd 257, as NixOS 25.05). `dry-activate` " +
      "and `switch` to a generation with the same units (a no-op), then a `switch` to one where 10% of the units change " +
      "(a quarter each: new ExecStart, a reload with X-ReloadIfChanged, removed, added), every run of it starting from " +
      "the base generation (an untimed switch back). The three programs run in turn, round after round, through nsenter " +
      `(mean ± σ in ms of ${runs} rounds after 1 warm-up; fewer at 5,000 units, noted in the row), so each ratio comes ` +
      "from one stretch of time. ng is NixOS's Rust switch-to-configuration-ng built from its sources " +
      "(`test/harness/ng.ts`), run from the same wrapper as stagehand (same environment, only the binary differs). " +
      "**Engine's share** (bench/README.md says how): wall time less that same run's time waiting on systemd, in extra runs " +
      "(median of 3, 2 at 5,000 units; waits Perl / ng / stagehand in the row): ng and stagehand alike under " +
      "`strace -f --seccomp-bpf -ttt -T` on the host (the program's own lifetime from its execve to its exit, less the " +
      "time its main thread was blocked in poll/epoll while none of its children ran); switch-to-configuration.pl through a " +
      "timing `systemctl` wrapper (daemon-reload, reset-failed, stop, reload, restart, start). All shares include the " +
      "generation's activate script. The row below gives ng's settle loop (its polls with a 250 ms timeout) and " +
      "stagehand's `--json` phases, whose waiting phases include the work done inside them (hence a smaller share by " +
      "those phases). CPU: user + system time of the run's process tree (GNU time, median; the tool and its children: " +
      "activate, and the Perl script's systemctl and busctl processes), which a busy machine does not inflate. Peak RSS: " +
      "GNU time (`%M`), the largest of the timed runs: the largest process of the run (the tool).",
    "",
    "| units | what | switch-to-configuration.pl (ms) | switch-to-configuration-ng (ms) | stagehand (ms) | ng ÷ stagehand | Perl ÷ stagehand | CPU perl / ng / stagehand (ms) | peak RSS perl / ng / stagehand (MiB) |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
    "",
  ];
}

if (import.meta.main) {
  const sizes = process.argv.slice(2).map(Number);
  console.log((await benchSwitch(sizes.length ? sizes : undefined, Number(process.env.STAGEHAND_BENCH_RUNS ?? 5))).join("\n"));
}
