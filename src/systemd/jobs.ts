/**
 * Awaiting systemd jobs through the Manager's JobRemoved signal, without races and without
 * trusting anyone but the jobs' creator.
 *
 * Results are kept only for jobs this process created (JobTracker): a job is ours from the moment
 * the reply of the call that enqueued it names its path. A job can finish before our code has
 * handled that reply (its JobRemoved can be dispatched right behind the reply, or ahead of it), so
 * while a creating call is in flight, JobRemoved signals are held in a small bounded buffer and
 * matched when the path is known; with no call in flight nothing unknown is kept. So no result can
 * be planted for a future job, and state stays bounded.
 */
import { DBusDisconnectedError, DBusTimeoutError } from "../dbus/connection.ts";
import type { Deadline } from "../dbus/deadline.ts";
import type { JobMode, JobResult, JobType } from "./job-result.ts";
import type { SystemdManager } from "./manager.ts";

/** How a job ended. */
export interface JobOutcome {
  /** The job's object path. */
  job: string;
  id: number;
  unit: string;
  result: JobResult;
}

interface Waiting {
  resolve(o: JobOutcome): void;
  reject(e: Error): void;
}

/** A job we created: its result once known, or who waits for it. */
interface OwnJob {
  outcome?: JobOutcome;
  waiting: Waiting[];
}

/** JobRemoved signals held while creating calls are in flight (more than a read delivers at once). */
export const EARLY_RESULTS_MAX = 4096;
/** Results of our jobs that nobody has asked for yet; the oldest are forgotten beyond this. */
export const UNCLAIMED_RESULTS_MAX = 4096;

/** A job path named by a caller that is not one this process created. */
export class ForeignJobError extends Error {
  override name = "ForeignJobError";
}

/** The jobs this process created, and their results. Pure: the manager feeds it. */
export class JobTracker {
  #inFlight = 0;
  #early = new Map<string, JobOutcome>();
  #own = new Map<string, OwnJob>();
  #unclaimed = 0;

  /** Runs a call that enqueues a job (resolving to its path) and records the job as ours. */
  async creating(enqueue: () => Promise<string>): Promise<string> {
    this.#inFlight++;
    try {
      const path = await enqueue();
      this.#adopt(path);
      return path;
    } finally {
      if (--this.#inFlight === 0) this.#early.clear();
    }
  }

  #adopt(path: string): void {
    if (this.#own.has(path)) return; // systemd merged our request into a job we already wait for
    const early = this.#early.get(path);
    this.#early.delete(path);
    this.#own.set(path, { outcome: early, waiting: [] });
    if (early) this.#claimable();
  }

  /** Feeds a JobRemoved signal (already known to come from systemd). */
  removed(o: JobOutcome): void {
    // Held while any creating call is in flight, ours or not yet: systemd may answer that call
    // with this very job (a request merged into a job already queued).
    if (this.#inFlight > 0) {
      if (this.#early.size >= EARLY_RESULTS_MAX) this.#early.delete(this.#early.keys().next().value!);
      this.#early.set(o.job, o);
    }
    const own = this.#own.get(o.job);
    if (own) {
      if (own.waiting.length > 0) {
        this.#own.delete(o.job);
        for (const w of own.waiting) w.resolve(o);
      } else if (!own.outcome) {
        own.outcome = o;
        this.#claimable();
      }
    }
  }

  /** Keeps the results nobody claimed bounded: the oldest go first. */
  #claimable(): void {
    if (++this.#unclaimed <= UNCLAIMED_RESULTS_MAX) return;
    for (const [path, own] of this.#own) {
      if (own.outcome) {
        this.#own.delete(path);
        this.#unclaimed--;
        return;
      }
    }
  }

  /** Resolves with the result of one of our jobs (at once if it already finished). */
  result(path: string): Promise<JobOutcome> {
    const own = this.#own.get(path);
    if (!own) return Promise.reject(new ForeignJobError(`job ${path} was not created by this process (or its result was already taken)`));
    if (own.outcome) {
      this.#own.delete(path);
      this.#unclaimed--;
      return Promise.resolve(own.outcome);
    }
    return new Promise((resolve, reject) => own.waiting.push({ resolve, reject }));
  }

  /** Forgets everything; waiters reject with `e` (the connection to systemd is gone). */
  fail(e: Error): void {
    const own = [...this.#own.values()];
    this.#own.clear();
    this.#early.clear();
    this.#unclaimed = 0;
    for (const j of own) for (const w of j.waiting) w.reject(e);
  }

  /** Entries held (for tests of boundedness). */
  get size(): { own: number; early: number } {
    return { own: this.#own.size, early: this.#early.size };
  }
}

/**
 * Waits for jobs of a manager, with optional timeouts; rejects its waits when the connection to
 * systemd drops or when closed. Only jobs created through the manager can be waited for.
 */
export class JobWaiter {
  #manager: SystemdManager;
  #open = new Set<{ path: string; reject: (e: Error) => void }>();
  #offDisconnect: () => void;
  #failure: Error | undefined;

  private constructor(manager: SystemdManager) {
    this.#manager = manager;
    this.#offDisconnect = manager.onDisconnect((e) => {
      this.#failure = new DBusDisconnectedError(`lost the connection to systemd while waiting for jobs: ${e.message}`);
      for (const o of [...this.#open]) o.reject(this.#failure);
      this.#open.clear();
    });
  }

  /** Starts a waiter for jobs of `manager`. */
  static create(manager: SystemdManager): JobWaiter {
    return new JobWaiter(manager);
  }

  /** Resolves when our job at `jobPath` is removed, with its result (also if that already happened). */
  wait(jobPath: string, timeoutMs?: number): Promise<JobOutcome> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<JobOutcome>((resolve, reject) => {
      let deadline: Deadline | undefined;
      const entry = {
        path: jobPath,
        reject: (e: Error) => {
          deadline?.cancel();
          this.#open.delete(entry);
          reject(e);
        },
      };
      this.#open.add(entry);
      this.#manager.jobResult(jobPath).then(
        (o) => { deadline?.cancel(); this.#open.delete(entry); resolve(o); },
        (e: Error) => entry.reject(e),
      );
      if (timeoutMs !== undefined) {
        deadline = this.#manager.deadline(timeoutMs, () => entry.reject(new DBusTimeoutError(`job ${jobPath} did not finish within ${timeoutMs} ms`)));
      }
    });
  }

  /** Enqueues a job with `enqueue` (a Manager call returning the job path) and waits for it. */
  async submit(enqueue: () => Promise<string>, timeoutMs?: number): Promise<JobOutcome> {
    return this.wait(await enqueue(), timeoutMs);
  }

  /** Stops listening; outstanding waits are rejected. */
  close(): void {
    this.#offDisconnect();
    const e = new Error("job waiter closed");
    for (const o of [...this.#open]) o.reject(e);
    this.#open.clear();
  }
}

/** Enqueues one job and waits for its result. */
export async function runJob(manager: SystemdManager, type: JobType, unit: string, mode: JobMode = "replace", timeoutMs?: number): Promise<JobOutcome> {
  const waiter = JobWaiter.create(manager);
  try {
    return await waiter.submit(() => manager.enqueue(type, unit, mode), timeoutMs);
  } finally {
    waiter.close();
  }
}
