/**
 * Awaiting systemd jobs through the Manager's JobRemoved signal, without races.
 *
 * A job can finish before the reply that names it has been handled by our code (its
 * JobRemoved signal arrives right behind the reply). So the waiter listens from the moment it is
 * created — before any job is enqueued — and remembers every result it sees; `wait(path)` first
 * looks there. Create the waiter, then enqueue, then wait.
 */
import { DBusDisconnectedError, DBusTimeoutError } from "../dbus/connection.ts";
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

/** Collects JobRemoved signals from its creation on and hands them to waiters. */
export class JobWaiter {
  #finished = new Map<string, JobOutcome>();
  #waiting = new Map<string, Waiting[]>();
  #offSignal: () => void;
  #offDisconnect: () => void;
  #failure: Error | undefined;

  private constructor(manager: SystemdManager) {
    this.#offSignal = manager.onSignal("JobRemoved", (body) => {
      const [id, job, unit, result] = body;
      const o: JobOutcome = { id: Number(id), job: String(job), unit: String(unit), result: String(result) };
      const ws = this.#waiting.get(o.job);
      if (ws) {
        this.#waiting.delete(o.job);
        for (const w of ws) w.resolve(o);
      } else {
        this.#finished.set(o.job, o);
      }
    });
    this.#offDisconnect = manager.onDisconnect((e) => {
      this.#failure = new DBusDisconnectedError(`lost the connection to systemd while waiting for jobs: ${e.message}`);
      for (const ws of this.#waiting.values()) for (const w of ws) w.reject(this.#failure);
      this.#waiting.clear();
    });
  }

  /** Starts listening now; create it before enqueuing the jobs it will wait for. */
  static create(manager: SystemdManager): JobWaiter {
    return new JobWaiter(manager);
  }

  /** Resolves when the job at `jobPath` is removed, with its result (also if that already happened). */
  wait(jobPath: string, timeoutMs?: number): Promise<JobOutcome> {
    const done = this.#finished.get(jobPath);
    if (done) {
      this.#finished.delete(jobPath);
      return Promise.resolve(done);
    }
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<JobOutcome>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const w: Waiting = {
        resolve: (o) => { clearTimeout(timer); resolve(o); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const ws = this.#waiting.get(jobPath)?.filter((x) => x !== w) ?? [];
          if (ws.length) this.#waiting.set(jobPath, ws);
          else this.#waiting.delete(jobPath);
          reject(new DBusTimeoutError(`job ${jobPath} did not finish within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      const ws = this.#waiting.get(jobPath) ?? [];
      ws.push(w);
      this.#waiting.set(jobPath, ws);
    });
  }

  /** Enqueues a job with `enqueue` (a Manager call returning the job path) and waits for it. */
  async submit(enqueue: () => Promise<string>, timeoutMs?: number): Promise<JobOutcome> {
    return this.wait(await enqueue(), timeoutMs);
  }

  /** Stops listening; outstanding waits are rejected. */
  close(): void {
    this.#offSignal();
    this.#offDisconnect();
    const e = new Error("job waiter closed");
    for (const ws of this.#waiting.values()) for (const w of ws) w.reject(e);
    this.#waiting.clear();
    this.#finished.clear();
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
