/**
 * The effectful half of a switch: the phases of switch-to-configuration-ng, in its order, each
 * printing ng's lines and awaiting its jobs before the next begins. The list files are kept in
 * step, so a switch killed anywhere leaves behind exactly what is still to do.
 */
import type { ActivationOutcome } from "./activation.ts";
import type { ActiveUnitState, ExecPlan, ExecPlanner, JobReport, JobVerb, SwitchSystemd } from "./types.ts";
import type { SwitchLists } from "../state/lists.ts";
import type { SwitchLog } from "./log.ts";
import { PhaseClock, type SwitchSummary } from "./summary.ts";
import { EXIT } from "../host/exit.ts";

/** ng's name for the target that re-runs units ordered before sysinit.target. */
const SYSINIT_REACTIVATION_TARGET = "sysinit-reactivation.target";

/** Job results that make a switch fail (exit 4), as in ng. */
const FAILED_RESULTS = new Set(["timeout", "failed", "dependency"]);

export const DEPRECATED_ACTIVATION_LISTS =
  "WARN: restarting or reloading systemd units from the activation script is deprecated and will be removed in NixOS 26.11.";

/** Everything the phases need; effects come in through these. */
export interface ExecuteContext<P extends ExecPlan> {
  plan: P;
  planner: ExecPlanner<P>;
  systemd: SwitchSystemd;
  lists: SwitchLists;
  log: SwitchLog;
  /** Active units when the plan was made (what "new units" are measured against). */
  before: Record<string, ActiveUnitState>;
  toplevel: string;
  summary: SwitchSummary;
  /** Runs `$OUT/activate`. */
  activate(): Promise<ActivationOutcome>;
  /** Turns a swap device off; returns an error text on failure. */
  swapoff(device: string): string | undefined;
  /** Re-runs the switch for each logged-in user; resolves to 0 or 4. */
  switchUsers(): Promise<number>;
  /** Prints `systemctl status --no-pager --full UNITS` (systemd's own words for the failures). */
  showStatus(units: string[]): Promise<void>;
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
export function errorText(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  // ng prints the D-Bus error's own message; our client prefixes "Member on dest path: ".
  return text.replace(/^[\w.]+ on \S+ \S+: /, "");
}

/** Units of a decision map, sorted as ng sorts them. */
function sorted<P extends ExecPlan>(ctx: ExecuteContext<P>, units: Iterable<string>): string[] {
  return ctx.planner.sortUnits(units);
}

/**
 * Submits one job per unit (in order), then awaits all of them. Refused calls are reported as ng
 * does ("Failed to VERB UNIT: ERROR", exit 4) unless `quiet` (the stop phase ignores them).
 */
async function submitAll<P extends ExecPlan>(ctx: ExecuteContext<P>, verb: JobVerb, units: string[], finished: JobReport[], quiet = false): Promise<number> {
  let status = 0;
  const pending: Promise<JobReport>[] = [];
  for (const unit of units) {
    try {
      pending.push((await ctx.systemd.submit(verb, unit)).done);
    } catch (e) {
      // Without a bus there is nothing more to do now: stop here, the lists keep the rest.
      if (isDisconnect(e)) throw e;
      if (!quiet) {
        ctx.log.error(`Failed to ${verb} ${unit}: ${errorText(e)}`);
        status = EXIT.unitsFailed;
      }
    }
  }
  finished.push(...(await Promise.all(pending)));
  return status;
}

/** Carries out a plan from the stop phase to the final report; resolves to the exit status. */
export async function executePlan<P extends ExecPlan>(ctx: ExecuteContext<P>): Promise<number> {
  const { log, lists, systemd, summary } = ctx;
  const clock = new PhaseClock(summary);
  const finished: JobReport[] = [];
  let plan = ctx.plan;
  let status = 0;
  const hidden = new Set(plan.hidden);

  // Swap devices that left fstab: systemd's alias units would keep a plain stop from swapping off.
  for (const { device } of plan.swapsToStop) {
    log.line(`stopping swap device: ${device}`);
    const e = ctx.swapoff(device);
    if (e) log.error(`Failed to stop swapping to ${device}: ${e}`);
    else summary.swapsStopped.push(device);
  }

  log.journal("info", `switching to system configuration ${ctx.toplevel}`);

  const stop = Object.keys(plan.stop);
  if (stop.length > 0) {
    await clock.time("stop", async () => {
      const shown = sorted(ctx, stop.filter((u) => !hidden.has(u)));
      if (shown.length > 0) log.line(`stopping the following units: ${shown.join(", ")}`);
      await submitAll(ctx, "stop", stop, finished, true);
    });
    summary.stopped = sorted(ctx, stop);
  }

  const skip = sorted(ctx, Object.keys(plan.skip));
  if (skip.length > 0) log.line(`NOT restarting the following changed units: ${skip.join(", ")}`);
  summary.skipped = skip.map((unit) => ({ unit, reason: plan.skip[unit]! }));

  // Activate the new configuration (/etc, users, and the rest of the activation graph).
  log.line("activating the configuration...");
  const outcome = await clock.time("activate", () => ctx.activate());
  summary.activation = outcome;
  if (outcome === "failed") {
    log.error("Failed to run activate script");
    status = EXIT.activationFailed;
  }

  // The activation script's own restart/reload requests (deprecated upstream, still honoured).
  if (lists.exists("activationRestart") || lists.exists("activationReload")) log.warn(DEPRECATED_ACTIVATION_LISTS);
  const requests = { restart: lists.read("activationRestart"), reload: lists.read("activationReload") };
  if (requests.restart.length > 0 || requests.reload.length > 0) {
    const next = ctx.planner.applyActivationRequests(plan, requests);
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

  const userStatus = await clock.time("users", () => ctx.switchUsers());
  if (userStatus !== 0) status = userStatus;

  log.line(`restarting ${SYSINIT_REACTIVATION_TARGET}`);
  await clock.time("sysinit-reactivation", async () => {
    if (await submitAll(ctx, "restart", [SYSINIT_REACTIVATION_TARGET], finished) !== 0) status = EXIT.unitsFailed;
  });

  // A unit to reload may have gone down with a stopped requirement: start it instead, or drop it.
  const toReload = Object.keys(plan.reload);
  if (toReload.length > 0) {
    const active = new Map<string, boolean>();
    for (const u of toReload) active.set(u, await systemd.isActive(u));
    const r = ctx.planner.reloadsAfterDaemonReload(plan, (u) => active.get(u) ?? false);
    lists.record("start", ...r.startedInstead);
    for (const u of [...r.dropped, ...r.startedInstead]) lists.unrecord("reload", u);
    plan = r.plan;
  }

  /** One job phase: ng's line, every job submitted and awaited, then its list file is done with. */
  const jobPhase = async (verb: "reload" | "restart", gerund: string, units: string[]): Promise<void> => {
    if (units.length === 0) return;
    await clock.time(verb, async () => {
      log.line(`${gerund} the following units: ${units.join(", ")}`);
      if (await submitAll(ctx, verb, units, finished) !== 0) status = EXIT.unitsFailed;
    });
    lists.remove(verb);
  };

  const reload = sorted(ctx, Object.keys(plan.reload));
  await jobPhase("reload", "reloading", reload);
  if (reload.length > 0) summary.reloaded = reload;

  const restart = sorted(ctx, Object.keys(plan.restart));
  await jobPhase("restart", "restarting", restart);
  if (restart.length > 0) summary.restarted = restart;

  // Start active targets (pulling in new dependencies) and the changed units stopped above.
  const start = Object.keys(plan.start);
  const shownStart = sorted(ctx, start.filter((u) => !hidden.has(u)));
  if (shownStart.length > 0) log.line(`starting the following units: ${shownStart.join(", ")}`);
  await clock.time("start", async () => {
    if (await submitAll(ctx, "start", start, finished) !== 0) status = EXIT.unitsFailed;
  });
  lists.remove("start");
  summary.started = sorted(ctx, start);

  for (const r of finished) {
    if (FAILED_RESULTS.has(r.result)) {
      log.error(`Failed to ${r.job} ${r.unit}`);
      summary.failedJobs.push(r);
      status = EXIT.unitsFailed;
    }
  }

  // Let systemd's events settle, then report new and failed units.
  await clock.time("settle", () => systemd.settle());
  const after = await systemd.activeUnits({ fragments: false });
  for (const [unit, s] of Object.entries(after)) {
    if (s.subState === "auto-restart" && unit.endsWith(".service") && s.execMainStatus === undefined) {
      s.execMainStatus = await systemd.execMainStatus(unit);
    }
  }
  const { newUnits, failedUnits } = ctx.planner.newAndFailedUnits(ctx.before, after);
  summary.newUnits = newUnits;
  summary.failedUnits = failedUnits;
  if (newUnits.length > 0) log.line(`the following new units were started: ${newUnits.join(", ")}`);
  if (failedUnits.length > 0) {
    log.warn(`warning: the following units failed: ${failedUnits.join(", ")}`);
    await ctx.showStatus(failedUnits);
    status = EXIT.unitsFailed;
  }

  if (status === 0) log.journal("info", `finished switching to system configuration ${ctx.toplevel}`);
  else log.journal("err", `switching to system configuration ${ctx.toplevel} failed (status ${status})`);
  summary.exitCode = status;
  clock.finish();
  return status;
}
