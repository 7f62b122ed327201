/**
 * Results of systemd jobs, as carried by the Manager's JobRemoved signal, and job types.
 * Pure: no D-Bus here, so the mapping is testable without a machine.
 */

/** The result strings systemd documents for JobRemoved (org.freedesktop.systemd1(5)). */
export const JOB_RESULTS = [
  "done", "canceled", "timeout", "failed", "dependency", "skipped",
  "invalid", "assert", "unsupported", "collected", "once", "frozen", "concurrency",
] as const;

/** A job's result; strings from a newer systemd than this list are kept as they are. */
export type JobResult = (typeof JOB_RESULTS)[number] | (string & {});

/** The kinds of unit jobs the Manager can enqueue, in systemctl's vocabulary. */
export type JobType = "start" | "stop" | "restart" | "reload" | "try-restart" | "reload-or-restart";

/** The Manager method that enqueues a job of a type. */
export const JOB_METHOD: Record<JobType, string> = {
  start: "StartUnit",
  stop: "StopUnit",
  restart: "RestartUnit",
  reload: "ReloadUnit",
  "try-restart": "TryRestartUnit",
  "reload-or-restart": "ReloadOrRestartUnit",
};

/** How a job enqueued alongside others is merged: "replace" is what switch-to-configuration uses. */
export type JobMode = "replace" | "fail" | "isolate" | "ignore-dependencies" | "ignore-requirements" | "flush" | "replace-irreversibly";

/** Whether the job achieved its goal. "skipped" means the unit's condition said there was nothing to do. */
export function jobSucceeded(result: JobResult): boolean {
  return result === "done" || result === "skipped";
}

/** Whether a string is a job result this version knows. */
export function isKnownJobResult(result: string): boolean {
  return (JOB_RESULTS as readonly string[]).includes(result);
}

/** A one-line explanation of a result, worded like systemctl's messages. */
export function describeJobResult(type: JobType, unit: string, result: JobResult): string {
  const verb = { start: "start", stop: "stop", restart: "restart", reload: "reload", "try-restart": "try-restart", "reload-or-restart": "reload-or-restart" }[type];
  switch (result) {
    case "done": return `${verb} ${unit}: done`;
    case "skipped": return `${verb} ${unit}: skipped (nothing to do, or a condition was not met)`;
    case "canceled": return `${verb} ${unit}: canceled (another job replaced it)`;
    case "timeout": return `${verb} ${unit}: timed out`;
    case "failed": return `${verb} ${unit}: failed (see 'journalctl -u ${unit}')`;
    case "dependency": return `${verb} ${unit}: a dependency failed`;
    case "invalid": return `${verb} ${unit}: the job is not valid for this unit type`;
    case "assert": return `${verb} ${unit}: an assertion failed`;
    case "unsupported": return `${verb} ${unit}: not supported for this unit type`;
    case "collected": return `${verb} ${unit}: the unit was garbage-collected`;
    case "once": return `${verb} ${unit}: the unit may only be started once`;
    case "frozen": return `${verb} ${unit}: the unit is frozen`;
    case "concurrency": return `${verb} ${unit}: a concurrency limit was hit`;
    default: return `${verb} ${unit}: ${result}`;
  }
}
