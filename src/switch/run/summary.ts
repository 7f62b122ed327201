/**
 * The `--json` summary of a switch: what happened to which unit, and how long each phase took, so
 * tooling has more to go on than exit status 4. Printed on stdout as one JSON document, after the
 * human lines (which stay on stderr, byte-exact with ng).
 */
import type { JobReport, SettleReport } from "./types.ts";

/** One phase's wall time. */
export interface PhaseTiming {
  phase: string;
  durationMs: number;
}

export interface SwitchSummary {
  version: 1;
  action: string;
  toplevel: string;
  exitCode: number;
  activation: "ok" | "missing" | "failed" | "not-run";
  systemdRestarted: boolean;
  stopped: string[];
  skipped: { unit: string; reason: string }[];
  reloaded: string[];
  restarted: string[];
  started: string[];
  swapsStopped: string[];
  /** Jobs that ended in timeout, failed or dependency. */
  failedJobs: JobReport[];
  /** Units failed after the switch settled (what "warning: the following units failed" lists). */
  failedUnits: string[];
  newUnits: string[];
  /** The wait after the jobs: present when it ran (a system switch that reached it). */
  settle?: SettleReport;
  users: { name: string; exitCode: number }[];
  phases: PhaseTiming[];
  durationMs: number;
}

/** An empty summary for an action on a toplevel. */
export function emptySummary(action: string, toplevel: string): SwitchSummary {
  return {
    version: 1, action, toplevel, exitCode: 0, activation: "not-run", systemdRestarted: false,
    stopped: [], skipped: [], reloaded: [], restarted: [], started: [], swapsStopped: [],
    failedJobs: [], failedUnits: [], newUnits: [], users: [], phases: [], durationMs: 0,
  };
}

/** Times phases with a monotonic clock. */
export class PhaseClock {
  private readonly t0 = performance.now();
  constructor(private readonly summary: SwitchSummary) {}

  /** Runs `fn` as phase `name`, recording its duration even when it throws. */
  async time<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      this.summary.phases.push({ phase: name, durationMs: Math.round(performance.now() - t) });
    }
  }

  /** Stamps the total. */
  finish(): void {
    this.summary.durationMs = Math.round(performance.now() - this.t0);
  }
}
