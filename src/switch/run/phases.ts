/**
 * The effectful half of a switch, one executor for the system's service manager and a user's: the
 * phases of switch-to-configuration-ng in its order, each printing ng's lines and awaiting its jobs
 * before the next begins. The list files are kept in step, so a switch killed anywhere leaves
 * behind exactly what is still to do. What differs between the scopes (ng's do_system_switch and
 * do_user_switch) comes in with the scope: the system's swaps, activation, daemon-reload, users and
 * final report; a user manager's best-effort reload, nixos-activation.service and post-activation
 * pass, and its wording ("user units").
 */
import type { ActivationOutcome } from "./activation.ts";
import type { ActiveUnitState, Decisions, ExecPlan, ExecPlanner, JobReport, JobVerb, SwitchSystemd } from "./types.ts";
import type { SwitchLists } from "../state/lists.ts";
import type { SwitchLog } from "./log.ts";
import { PhaseClock, type SwitchSummary } from "./summary.ts";
import { EXIT } from "../host/exit.ts";
import { userUnitsLine } from "../plan/index.ts";
import { pipelined, pipelinedAll } from "../../dbus/pipeline.ts";

/** ng's name for the target that re-runs units ordered before sysinit.target. */
const SYSINIT_REACTIVATION_TARGET = "sysinit-reactivation.target";

/** Job results that make a switch fail (exit 4), as in ng. */
const FAILED_RESULTS = new Set(["timeout", "failed", "dependency"]);

export const DEPRECATED_ACTIVATION_LISTS =
  "WARN: restarting or reloading systemd units from the activation script is deprecated and will be removed in NixOS 26.11.";

/** Everything the phases need; effects come in through these. */
export interface ExecuteContext<P extends ExecPlan> {
  plan: P;
  /** ng's order for printed unit lists. */
  sortUnits(names: Iterable<string>): string[];
  systemd: SwitchSystemd;
  lists: SwitchLists;
  log: SwitchLog;
  summary: SwitchSummary;
  scope: SystemScope<P> | UserScope;
}

/** The system scope: its planner steps between phases and its effects. */
export interface SystemScope<P extends ExecPlan> {
  kind: "system";
  planner: ExecPlanner<P>;
  /** Active units when the plan was made (what "new units" are measured against). */
  before: Record<string, ActiveUnitState>;
  toplevel: string;
  /** Runs `$OUT/activate`. */
  activate(): Promise<ActivationOutcome>;
  /** Turns a swap device off; returns an error text on failure. */
  swapoff(device: string): string | undefined;
  /** Re-runs the switch for each logged-in user; resolves to 0 or 4. */
  switchUsers(): Promise<number>;
  /** Prints `systemctl status --no-pager --full UNITS` (systemd's own words for the failures). */
  showStatus(units: string[]): Promise<void>;
}

/** A user scope (ng's do_user_switch): what it does after the start phase. */
export interface UserScope {
  kind: "user";
  /** nixos-activation.service when the new generation ships it: restarted after the start phase. */
  activationService?: string;
  /**
   * ng's post-activation pass, given the units active after the per-user activation: what to do
   * with the units that move into /etc/systemd/user. Absent when no unit moves.
   */
  migration?(activeAfter: Record<string, ActiveUnitState>): Record<"skip" | "reload" | "restart" | "start", Decisions>;
}

/**
 * Writes what the plan will start, restart and reload to the list files before anything is
 * stopped (skipping units already listed), so a switch killed from here on is resumed.
 */
export function persistLists(lists: SwitchLists, want: { start: string[]; restart: string[]; reload: string[] }): void {
  for (const name of ["start", "restart", "reload"] as const) {
    const have = new Set(lists.read(name));
    lists.record(name, ...want[name].filter((u) => !have.has(u)));
  }
}

/** Whether an error means the connection to the service manager is gone. */
export function isDisconnect(e: unknown): boolean {
  return e instanceof Error && e.name === "DBusDisconnectedError";
}

/** ng's message text for an error from a D-Bus call. */
function errorText(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  // ng prints the D-Bus error's own message; our client prefixes "Member on dest path: ".
  return text.replace(/^[\w.]+ on \S+ \S+: /, "");
}

/**
 * ng's wording of a scope: `VERB the following units: …` (skipped ones: "changed units") for the
 * system, `VERB the following user units: …` for a user; failures name a user's unit "user unit".
 */
interface Voice {
  /** The line for a non-empty phase. */
  unitsLine(gerund: string, sorted: string[]): string;
  unit(name: string): string;
}

const SYSTEM_VOICE: Voice = {
  unitsLine: (gerund, units) => `${gerund} the following ${gerund === "NOT restarting" ? "changed " : ""}units: ${units.join(", ")}`,
  unit: (name) => name,
};

const USER_VOICE: Voice = {
  unitsLine: (gerund, units) => userUnitsLine(gerund, units)!,
  unit: (name) => `user unit ${name}`,
};

/** The jobs of one switch: submitted phase by phase, awaited together, their ends kept for the failed-result check. */
class Jobs {
  readonly finished: JobReport[] = [];
  constructor(private readonly systemd: SwitchSystemd, private readonly log: SwitchLog, private readonly voice: Voice, private readonly disconnectAborts: boolean) {}

  /**
   * Submits one job per unit (in order), then awaits all of them. Refused calls are reported as ng
   * does ("Failed to VERB UNIT: ERROR") unless `quiet` (the stop phase ignores them). Resolves to
   * whether every job was accepted.
   */
  async run(verb: JobVerb, units: string[], quiet = false): Promise<boolean> {
    let ok = true;
    const pending: Promise<JobReport>[] = [];
    // The calls go out back to back (systemd takes them in this order) rather than one round trip
    // each: a busy systemd answers each call only between its other work, tens of ms at 1,000 units.
    const submitted = await pipelined(units, (unit) => this.systemd.submit(verb, unit));
    submitted.forEach((s, i) => {
      if (s.status === "fulfilled") {
        pending.push(s.value.done);
        return;
      }
      // Without the system bus there is nothing more to do now: stop here, the lists keep the
      // rest. (ng's user scope reports it as one more refused job.)
      if (this.disconnectAborts && isDisconnect(s.reason)) throw s.reason;
      if (!quiet) {
        this.log.error(`Failed to ${verb} ${this.voice.unit(units[i]!)}: ${errorText(s.reason)}`);
        ok = false;
      }
    });
    this.finished.push(...(await Promise.all(pending)));
    return ok;
  }

  /** The finished jobs that make a switch fail, each reported as ng does ("Failed to VERB UNIT"). */
  failed(): JobReport[] {
    const failed = this.finished.filter((r) => FAILED_RESULTS.has(r.result));
    for (const r of failed) this.log.error(`Failed to ${r.job} ${this.voice.unit(r.unit)}`);
    return failed;
  }
}

/** Carries out a plan from the stop phase to the final report; resolves to the exit status. */
export async function executePlan<P extends ExecPlan>(ctx: ExecuteContext<P>): Promise<number> {
  const { log, lists, systemd, summary, scope } = ctx;
  const sorted = (units: Iterable<string>) => ctx.sortUnits(units);
  const voice = scope.kind === "system" ? SYSTEM_VOICE : USER_VOICE;
  const printUnits = (gerund: string, units: Iterable<string>) => {
    const names = sorted(units);
    if (names.length > 0) log.line(voice.unitsLine(gerund, names));
  };
  const clock = new PhaseClock(summary);
  const jobs = new Jobs(systemd, log, voice, scope.kind === "system");
  let plan = ctx.plan;
  let status = 0;
  const hidden = new Set(plan.hidden);

  if (scope.kind === "system") {
    // Swap devices that left fstab: systemd's alias units would keep a plain stop from swapping off.
    for (const { device } of plan.swapsToStop) {
      log.line(`stopping swap device: ${device}`);
      const e = scope.swapoff(device);
      if (e) log.error(`Failed to stop swapping to ${device}: ${e}`);
      else summary.swapsStopped.push(device);
    }
    log.journal("info", `switching to system configuration ${scope.toplevel}`);
  }

  // Stop before the activation (a user manager: before its re-exec), so ExecStop runs with the old
  // definition. ng's user scope prints hidden stops too.
  const stop = Object.keys(plan.stop);
  if (stop.length > 0) {
    await clock.time("stop", async () => {
      printUnits("stopping", scope.kind === "system" ? stop.filter((u) => !hidden.has(u)) : stop);
      await jobs.run("stop", stop, true);
    });
    summary.stopped = sorted(stop);
  }

  const skip = sorted(Object.keys(plan.skip));
  printUnits("NOT restarting", skip);
  summary.skipped = skip.map((unit) => ({ unit, reason: plan.skip[unit]! }));

  if (scope.kind === "system") {
    const r = await activateAndReload(ctx, scope, plan, clock, jobs);
    plan = r.plan;
    status = r.status;
  } else {
    // ng ignores the results of these calls on a user manager (it sends no Reloading signal).
    for (const what of ["reexecute", "resetFailed", "reload"] as const) await bestEffort(systemd, what);
  }

  /** One job phase: ng's line, every job submitted and awaited, then its list file is done with. */
  const jobPhase = async (verb: "reload" | "restart", gerund: string, units: string[]): Promise<void> => {
    if (units.length > 0) {
      await clock.time(verb, async () => {
        printUnits(gerund, units);
        if (!await jobs.run(verb, units)) status = EXIT.unitsFailed;
      });
    }
    // ng's system scope keeps an empty phase's list file; its user scope removes it.
    if (units.length > 0 || scope.kind === "user") lists.remove(verb);
  };

  const reload = sorted(Object.keys(plan.reload));
  await jobPhase("reload", "reloading", reload);
  if (reload.length > 0) summary.reloaded = reload;

  const restart = sorted(Object.keys(plan.restart));
  await jobPhase("restart", "restarting", restart);
  if (restart.length > 0) summary.restarted = restart;

  // Start active targets (pulling in new dependencies) and the changed units stopped above.
  const start = Object.keys(plan.start);
  printUnits("starting", start.filter((u) => !hidden.has(u)));
  await clock.time("start", async () => {
    if (!await jobs.run("start", start)) status = EXIT.unitsFailed;
  });
  lists.remove("start");
  summary.started = sorted(start);

  if (scope.kind === "user") {
    if (!await afterUserStart(ctx, scope, jobs, printUnits, hidden)) status = EXIT.unitsFailed;
  }

  const failedJobs = jobs.failed();
  if (failedJobs.length > 0) {
    summary.failedJobs.push(...failedJobs);
    status = EXIT.unitsFailed;
  }

  if (scope.kind === "system") {
    if (!await reportUnits(ctx, scope, clock)) status = EXIT.unitsFailed;
    if (status === 0) log.journal("info", `finished switching to system configuration ${scope.toplevel}`);
    else log.journal("err", `switching to system configuration ${scope.toplevel} failed (status ${status})`);
  } else if (failedJobs.length > 0) {
    const names = sorted(failedJobs.map((r) => r.unit));
    log.warn(`warning: the following user units failed: ${names.join(", ")}`);
    log.warn(`See \`systemctl --user status ${names.join(" ")}\` for details.`);
  }
  summary.exitCode = status;
  clock.finish();
  return status;
}

/**
 * The system scope between the stop phase and the reload phase: the activation and its restart
 * and reload requests, systemd's re-exec, daemon-reload, the users' switches, sysinit-reactivation,
 * and the reloads that went inactive. Resolves to the plan from here on and the status so far.
 */
async function activateAndReload<P extends ExecPlan>(ctx: ExecuteContext<P>, scope: SystemScope<P>, initial: P, clock: PhaseClock, jobs: Jobs): Promise<{ plan: P; status: number }> {
  const { log, lists, systemd, summary } = ctx;
  let plan = initial;
  let status = 0;

  // Activate the new configuration (/etc, users, and the rest of the activation graph).
  log.line("activating the configuration...");
  const outcome = await clock.time("activate", () => scope.activate());
  summary.activation = outcome;
  if (outcome === "failed") {
    log.error("Failed to run activate script");
    status = EXIT.activationFailed;
  }

  // The activation script's own restart/reload requests (deprecated upstream, still honoured).
  if (lists.exists("activationRestart") || lists.exists("activationReload")) log.warn(DEPRECATED_ACTIVATION_LISTS);
  const requests = { restart: lists.read("activationRestart"), reload: lists.read("activationReload") };
  if (requests.restart.length > 0 || requests.reload.length > 0) {
    const next = scope.planner.applyActivationRequests(plan, requests);
    // Write down what the requests added before consuming them, so a crash here loses nothing.
    for (const [list, key] of [["start", "start"], ["restart", "restart"], ["reload", "reload"]] as const) {
      const added = Object.keys(next[key]).filter((u) => !(u in plan[key]));
      lists.record(list, ...added);
    }
    plan = next;
  }
  lists.remove("activationRestart");
  lists.remove("activationReload");

  if (plan.restartSystemd) {
    log.line("restarting systemd...");
    await clock.time("reexecute", () => systemd.reexecute());
    summary.systemdRestarted = true;
  }

  await clock.time("daemon-reload", async () => {
    await systemd.resetFailed();
    await systemd.reload();
  });

  const userStatus = await clock.time("users", () => scope.switchUsers());
  if (userStatus !== 0) status = userStatus;

  log.line(`restarting ${SYSINIT_REACTIVATION_TARGET}`);
  await clock.time("sysinit-reactivation", async () => {
    if (!await jobs.run("restart", [SYSINIT_REACTIVATION_TARGET])) status = EXIT.unitsFailed;
  });

  // A unit to reload may have gone down with a stopped requirement: start it instead, or drop it.
  const toReload = Object.keys(plan.reload);
  if (toReload.length > 0) {
    const states = await pipelinedAll(toReload, (u) => systemd.isActive(u));
    const active = new Map(toReload.map((u, i) => [u, states[i]!]));
    const r = scope.planner.reloadsAfterDaemonReload(plan, (u) => active.get(u) ?? false);
    lists.record("start", ...r.startedInstead);
    for (const u of [...r.dropped, ...r.startedInstead]) lists.unrecord("reload", u);
    plan = r.plan;
  }
  return { plan, status };
}

/**
 * A user scope after the start phase: nixos-activation.service (per-user activation such as
 * home-manager) restarted, then ng's post-activation pass over the units moving into
 * /etc/systemd/user. Resolves to false when a job was refused.
 */
async function afterUserStart<P extends ExecPlan>(ctx: ExecuteContext<P>, scope: UserScope, jobs: Jobs, printUnits: (gerund: string, units: Iterable<string>) => void, hidden: Set<string>): Promise<boolean> {
  const { log, systemd } = ctx;
  let ok = true;
  const service = scope.activationService;
  if (service !== undefined) {
    log.line(`restarting the following user units: ${service}`);
    try {
      jobs.finished.push(await (await systemd.submit("restart", service)).done);
    } catch (e) {
      log.error(`Failed to restart ${service}: ${errorText(e)}`);
      ok = false;
    }
  }
  // The per-user activation (home-manager's sd-switch) may have removed the user's own copy of a
  // migrating unit, and stopped it; once the /etc copy wins, take it over.
  if (scope.migration) {
    await bestEffort(systemd, "reload"); // in case the per-user activation did not daemon-reload
    const m = scope.migration(await systemd.activeUnits());
    printUnits("NOT restarting (post-activation)", Object.keys(m.skip));
    for (const [verb, gerund] of [["reload", "reloading"], ["restart", "restarting"], ["start", "starting"]] as const) {
      const units = ctx.sortUnits(Object.keys(m[verb]));
      printUnits(`${gerund} (post-activation)`, verb === "start" ? units.filter((u) => !hidden.has(u)) : units);
      if (!await jobs.run(verb, units)) ok = false;
    }
  }
  return ok;
}

/**
 * The system scope's end: once systemd's events settle, the units new since the switch began and
 * the failed ones, with `systemctl status` of the latter. Resolves to false when a unit failed.
 */
async function reportUnits<P extends ExecPlan>(ctx: ExecuteContext<P>, scope: SystemScope<P>, clock: PhaseClock): Promise<boolean> {
  const { log, systemd, summary } = ctx;
  summary.settle = await clock.time("settle", () => systemd.settle());
  const after = await systemd.activeUnits({ fragments: false });
  for (const [unit, s] of Object.entries(after)) {
    if (s.subState === "auto-restart" && unit.endsWith(".service") && s.execMainStatus === undefined) {
      s.execMainStatus = await systemd.execMainStatus(unit);
    }
  }
  const { newUnits, failedUnits } = scope.planner.newAndFailedUnits(scope.before, after);
  summary.newUnits = newUnits;
  summary.failedUnits = failedUnits;
  if (newUnits.length > 0) log.line(`the following new units were started: ${newUnits.join(", ")}`);
  if (failedUnits.length === 0) return true;
  log.warn(`warning: the following units failed: ${failedUnits.join(", ")}`);
  await scope.showStatus(failedUnits);
  return false;
}

/** ng ignores the results of these calls on a user manager. */
async function bestEffort(systemd: SwitchSystemd, what: "reexecute" | "resetFailed" | "reload"): Promise<void> {
  try {
    await systemd[what]();
  } catch { /* as ng: `_ = systemd.reexecute()` */ }
}
