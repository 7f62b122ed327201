/**
 * The narrow interfaces the switch executor needs from systemd and from the planner. The real
 * implementations (src/systemd over D-Bus, src/switch/plan/) satisfy them; unit tests pass
 * recorders, so the phase sequence is checked without a machine.
 */
import type { UnitPlan } from "../plan/index.ts";

/** The job verbs of a switch, as printed in "Failed to <job> <unit>". */
export type JobVerb = "start" | "stop" | "restart" | "reload";

/** How one job ended, from systemd's JobRemoved. */
export interface JobReport {
  unit: string;
  job: JobVerb;
  result: string;
}

/** An active unit as the planner sees it (ListUnitsByPatterns, following == "", state != inactive). */
export interface ActiveUnitState {
  activeState: string;
  subState: string;
  fragmentPath?: string;
  execMainStatus?: number;
}

/** What the executor asks of a (system or user) service manager. */
export interface SwitchSystemd {
  /**
   * Enqueues a job with mode "replace". Resolves once systemd accepted it, to a handle whose
   * `done` settles at the job's end (JobRemoved); rejects with systemd's error if it refused the
   * job. (A handle, because a promise resolved with a promise would wait for the job itself.)
   */
  submit(job: JobVerb, unit: string): Promise<{ done: Promise<JobReport> }>;
  /**
   * Active units (following == "" and ActiveState != inactive), with FragmentPath unless
   * `fragments` is false (the state is all the caller wants).
   */
  activeUnits(opts?: { fragments?: boolean }): Promise<Record<string, ActiveUnitState>>;
  /** A copy of `active` (from activeUnits) with the FragmentPath of `units` read. */
  withFragmentPaths(active: Record<string, ActiveUnitState>, units: Iterable<string>): Promise<Record<string, ActiveUnitState>>;
  /** Whether each unit is active or activating (ng's unit_is_active). */
  isActive(unit: string): Promise<boolean>;
  /** Service ExecMainStatus, for units in the auto-restart substate. */
  execMainStatus(unit: string): Promise<number | undefined>;
  /** InvocationID of a loaded unit ("" when inactive), undefined when not loaded. */
  invocationId(unit: string): Promise<string | undefined>;
  resetFailed(): Promise<void>;
  /** daemon-reload, resolved after Reloading(false). */
  reload(): Promise<void>;
  /** daemon-reexec, resolved once the new manager answers again. */
  reexecute(): Promise<void>;
  /**
   * Resolves once what the switch started can no longer change what is listed after it (the wait
   * after the jobs, ng's settle loop), bounded; with how each just-started service's wait ended.
   */
  settle(): Promise<SettleReport>;
}

/**
 * How the wait for a service just started ended: its program blocked waiting for events (past its
 * start), it exited (its unit shows how), or ng's 250 ms passed first.
 */
export type SettledBy = "waiting-for-events" | "exited" | "grace";

/** What the wait after the jobs waited for (the `--json` summary's `settle`). */
export interface SettleReport {
  /**
   * The services whose start job ended within 250 ms before the wait (or during it) and left a
   * process that could still fail at its start (Type=simple, exec, idle), sorted by name.
   */
  services: { unit: string; settledBy: SettledBy }[];
}

export type { Decisions } from "../plan/index.ts";

/** The plan the executor carries out: the planner's UnitPlan, less what only its printers use. */
export type ExecPlan = Omit<UnitPlan, "assumptions">;

/** The planner functions the system scope calls between phases. */
export interface ExecPlanner<P extends ExecPlan> {
  /** Folds the activation script's restart/reload requests into the plan. */
  applyActivationRequests(plan: P, requests: { restart: string[]; reload: string[] }): P;
  /** After daemon-reload: reload targets that went inactive are started instead, or dropped. */
  reloadsAfterDaemonReload(plan: P, isActive: (unit: string) => boolean): { plan: P; startedInstead: string[]; dropped: string[] };
  /** Units new since the switch began, and failed ones, both sorted. */
  newAndFailedUnits(before: Record<string, ActiveUnitState>, after: Record<string, ActiveUnitState>): { newUnits: string[]; failedUnits: string[] };
}

/** A connection to a service manager, as a switch uses it; closing it ends the connection. */
export interface ManagerConnection {
  systemd: SwitchSystemd;
  close(): void;
}
