/**
 * A client of systemd's org.freedesktop.systemd1.Manager over the system bus: list units, enqueue
 * jobs, daemon-reload and daemon-reexec, read unit state. Jobs are awaited with JobWaiter
 * (jobs.ts), which relies on this client subscribing to the Manager's signals at connect time.
 *
 * Signals count only when they come from the unique name that currently owns
 * org.freedesktop.systemd1 (the connection follows the owner; see connection.ts), and job results
 * only for jobs enqueued through this object (JobTracker).
 */
import { BusConnection, connectSystemBus, DBusCallError, DBusDisconnectedError, DBusTimeoutError, QUICK_CALL_TIMEOUT_MS, systemBusAddress } from "../dbus/connection.ts";
import type { Subscription } from "../dbus/connection.ts";
import type { Deadline } from "../dbus/deadline.ts";
import { JOB_METHOD } from "./job-result.ts";
import { JobTracker, type JobOutcome } from "./jobs.ts";
import type { JobMode, JobType } from "./job-result.ts";
import { isServiceUnit, parseUnitList, unitPropertiesFrom } from "./units.ts";
import type { UnitListEntry, UnitProperties } from "./units.ts";

export const SYSTEMD_BUS_NAME = "org.freedesktop.systemd1";
export const SYSTEMD_PATH = "/org/freedesktop/systemd1";
export const MANAGER_IFACE = "org.freedesktop.systemd1.Manager";
const UNIT_IFACE = "org.freedesktop.systemd1.Unit";
const SERVICE_IFACE = "org.freedesktop.systemd1.Service";

/**
 * The Manager signals stagehand listens to. Only these are matched: a switch of 1,000 units makes
 * systemd emit thousands of UnitNew/UnitRemoved signals, which would otherwise all be delivered,
 * decoded and dropped (ng matches these two as well).
 */
export const MANAGER_SIGNALS = ["JobRemoved", "Reloading"] as const;

/** Signals of the Manager interface that handlers can be registered for. */
export type ManagerSignal = typeof MANAGER_SIGNALS[number];

/** Timeouts (ms). Defaults follow systemd: 25 s per call, 180 s for a daemon-reload or re-exec. */
export interface ManagerOptions {
  /** Use this connection instead of opening one to the system bus (it is owned by the manager). */
  bus?: BusConnection;
  /** Where to reconnect after a re-exec drops the connection (default: the system bus). */
  address?: string;
  connectTimeoutMs?: number;
  callTimeoutMs?: number;
  reloadTimeoutMs?: number;
  reexecTimeoutMs?: number;
}

/** systemd's manager object on the system bus. */
export class SystemdManager {
  #bus: BusConnection;
  #signals: Subscription[] = [];
  #handlers = new Map<string, Set<(body: unknown[]) => void>>();
  #disconnectHandlers = new Set<(e: Error) => void>();
  #jobs = new JobTracker();
  #reexecuting = false;
  readonly #opts: Required<Omit<ManagerOptions, "bus">>;

  private constructor(bus: BusConnection, opts: ManagerOptions) {
    this.#bus = bus;
    this.#opts = {
      address: opts.address ?? bus.address ?? systemBusAddress(),
      connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
      callTimeoutMs: opts.callTimeoutMs ?? 25_000,
      reloadTimeoutMs: opts.reloadTimeoutMs ?? 180_000,
      reexecTimeoutMs: opts.reexecTimeoutMs ?? 180_000,
    };
  }

  /** Connects (to the system bus unless `opts.bus` is given), subscribes to Manager signals. */
  static async connect(opts: ManagerOptions = {}): Promise<SystemdManager> {
    const bus = opts.bus ?? (opts.address
      ? await BusConnection.connect(opts.address, { connectTimeoutMs: opts.connectTimeoutMs })
      : await connectSystemBus({ connectTimeoutMs: opts.connectTimeoutMs }));
    const m = new SystemdManager(bus, opts);
    try {
      await m.#attach();
    } catch (e) {
      bus.close();
      throw e;
    }
    return m;
  }

  /** The current connection (a new one after a re-exec that dropped the old). */
  get bus(): BusConnection {
    return this.#bus;
  }

  /** A deadline on what systemd sends us (see BusConnection.deadline): right also after the process was frozen. */
  deadline(ms: number, expire: () => void): Deadline {
    return this.#bus.deadline(ms, expire);
  }

  /** Installs the signal match and asks systemd to emit signals to us (Subscribe). */
  async #attach(): Promise<void> {
    const bus = this.#bus;
    bus.onDisconnect((e) => {
      if (bus !== this.#bus || this.#reexecuting) return;
      this.#jobs.fail(new DBusDisconnectedError(`lost the connection to systemd while waiting for jobs: ${e.message}`));
      for (const h of [...this.#disconnectHandlers]) h(e);
    });
    // The connection delivers only signals from systemd's current unique name (a unicast signal
    // from any other peer is dropped there).
    const deliver = (m: { member: string; body: unknown[] }) => {
      if (m.member === "JobRemoved") {
        const [id, job, unit, result] = m.body;
        this.#jobs.removed({ id: Number(id), job: String(job), unit: String(unit), result: String(result) });
      }
      for (const h of [...(this.#handlers.get(m.member as ManagerSignal) ?? [])]) h(m.body);
    };
    this.#signals = await Promise.all(MANAGER_SIGNALS.map((member) =>
      bus.subscribe({ sender: SYSTEMD_BUS_NAME, path: SYSTEMD_PATH, interface: MANAGER_IFACE, member }, deliver)));
    try {
      await this.#call("Subscribe");
    } catch (e) {
      // A connection that already subscribed (e.g. one that survived a re-exec) may be told so.
      if (!(e instanceof DBusCallError && /AlreadySubscribed|already subscribed/i.test(e.dbusName + e.message))) throw e;
    }
  }

  /** Registers a handler for a Manager signal; kept across re-exec. Returns the unregister function. */
  onSignal(member: ManagerSignal, fn: (body: unknown[]) => void): () => void {
    let set = this.#handlers.get(member);
    if (!set) this.#handlers.set(member, (set = new Set()));
    set.add(fn);
    return () => set!.delete(fn);
  }

  /** Runs `fn` if the bus connection drops outside a re-exec. Returns the unregister function. */
  onDisconnect(fn: (e: Error) => void): () => void {
    this.#disconnectHandlers.add(fn);
    if (this.#bus.closed && !this.#reexecuting) fn(new DBusDisconnectedError("D-Bus connection to systemd is closed"));
    return () => this.#disconnectHandlers.delete(fn);
  }

  #call(member: string, signature = "", body: unknown[] = [], timeoutMs = this.#opts.callTimeoutMs): Promise<unknown[]> {
    return this.#bus.call(SYSTEMD_BUS_NAME, SYSTEMD_PATH, MANAGER_IFACE, member, signature, body, { timeoutMs });
  }

  /** All units systemd has loaded. */
  async listUnits(): Promise<UnitListEntry[]> {
    const [rows] = await this.#call("ListUnits");
    return parseUnitList(rows);
  }

  /** Units whose active state is one of `states` and whose name matches one of `patterns` (globs); empty = all. */
  async listUnitsByPatterns(states: string[], patterns: string[]): Promise<UnitListEntry[]> {
    const [rows] = await this.#call("ListUnitsByPatterns", "asas", [states, patterns]);
    return parseUnitList(rows);
  }

  /** The object path of a loaded unit; DBusCallError (org.freedesktop.systemd1.NoSuchUnit) if not loaded. */
  async getUnit(name: string): Promise<string> {
    return String((await this.#call("GetUnit", "s", [name]))[0]);
  }

  /** The object path of a unit, loading it from disk if needed. */
  async loadUnit(name: string): Promise<string> {
    return String((await this.#call("LoadUnit", "s", [name]))[0]);
  }

  /** Enqueues a job of `type` for `unit`; resolves to the job's object path (await it with JobWaiter). */
  async enqueue(type: JobType, unit: string, mode: JobMode = "replace"): Promise<string> {
    return this.#jobs.creating(async () => String((await this.#call(JOB_METHOD[type], "ss", [unit, mode]))[0]));
  }

  /** The result of a job enqueued through this manager (ForeignJobError for any other path). */
  jobResult(jobPath: string): Promise<JobOutcome> {
    return this.#jobs.result(jobPath);
  }

  /** StartUnit; resolves to the job path. */
  startUnit(unit: string, mode: JobMode = "replace"): Promise<string> { return this.enqueue("start", unit, mode); }
  /** StopUnit; resolves to the job path. */
  stopUnit(unit: string, mode: JobMode = "replace"): Promise<string> { return this.enqueue("stop", unit, mode); }
  /** RestartUnit; resolves to the job path. */
  restartUnit(unit: string, mode: JobMode = "replace"): Promise<string> { return this.enqueue("restart", unit, mode); }
  /** ReloadUnit; resolves to the job path. */
  reloadUnit(unit: string, mode: JobMode = "replace"): Promise<string> { return this.enqueue("reload", unit, mode); }
  /** TryRestartUnit (restart only if running); resolves to the job path. */
  tryRestartUnit(unit: string, mode: JobMode = "replace"): Promise<string> { return this.enqueue("try-restart", unit, mode); }
  /** ReloadOrRestartUnit; resolves to the job path. */
  reloadOrRestartUnit(unit: string, mode: JobMode = "replace"): Promise<string> { return this.enqueue("reload-or-restart", unit, mode); }

  /** How many jobs systemd has queued or running now (ListJobs). */
  async countJobs(): Promise<number> {
    const [rows] = await this.#call("ListJobs");
    return Array.isArray(rows) ? rows.length : 0;
  }

  /** Forgets the failed state of all units (systemctl reset-failed). */
  async resetFailed(): Promise<void> {
    await this.#call("ResetFailed");
  }

  /** Forgets the failed state of one unit. */
  async resetFailedUnit(unit: string): Promise<void> {
    await this.#call("ResetFailedUnit", "s", [unit]);
  }

  /**
   * daemon-reload. Resolves once systemd signalled Reloading(true) and then Reloading(false), and
   * replied: only then do unit states reflect the new files.
   */
  async reload(): Promise<void> {
    const timeoutMs = this.#opts.reloadTimeoutMs;
    let off: () => void = () => {};
    let offDisconnect: () => void = () => {};
    let deadline: Deadline | undefined;
    const finished = new Promise<void>((resolve, reject) => {
      let started = false;
      off = this.onSignal("Reloading", ([active]) => {
        if (active) started = true;
        else if (started) resolve();
      });
      offDisconnect = this.onDisconnect((e) => reject(new DBusDisconnectedError(`daemon-reload: ${e.message}`)));
      deadline = this.deadline(timeoutMs, () => reject(new DBusTimeoutError(`daemon-reload did not finish within ${timeoutMs} ms`)));
    });
    finished.catch(() => {}); // handled below; avoid an unhandled rejection while the call is pending
    try {
      await this.#call("Reload", "", [], timeoutMs);
      await finished;
    } finally {
      deadline?.cancel();
      off();
      offDisconnect();
    }
  }

  /**
   * daemon-reexec. systemd never answers the call: it drops off the bus, re-executes, and takes
   * its name again (re-exec can take many seconds). Resolves once the new instance answers
   * (Reloading(false) seen, or a new owner of org.freedesktop.systemd1 that replies), reconnecting
   * if our own connection dropped; rejects after `reexecTimeoutMs`.
   */
  async reexecute(): Promise<void> {
    const deadline = Date.now() + this.#opts.reexecTimeoutMs;
    const oldOwner = await this.#nameOwner();
    let sawStart = false;
    let sawEnd = false;
    const off = this.onSignal("Reloading", ([active]) => {
      if (active) sawStart = true;
      else if (sawStart) sawEnd = true;
    });
    this.#reexecuting = true;
    try {
      this.#bus.call(SYSTEMD_BUS_NAME, SYSTEMD_PATH, MANAGER_IFACE, "Reexecute", "", [], { timeoutMs: this.#opts.reexecTimeoutMs }).catch(() => {});
      for (;;) {
        if (Date.now() > deadline) throw new DBusTimeoutError(`systemd daemon-reexec did not finish within ${this.#opts.reexecTimeoutMs} ms`);
        await sleep(250);
        if (this.#bus.closed) {
          try {
            this.#bus = await BusConnection.connect(this.#opts.address, { connectTimeoutMs: Math.min(this.#opts.connectTimeoutMs, Math.max(1000, deadline - Date.now())) });
          } catch {
            continue; // the bus may be coming back too; retry until the deadline
          }
          await Promise.all(this.#signals.map((sub) => sub.remove().catch(() => {})));
          try { await this.#attach(); } catch { this.#bus.close(); continue; }
        }
        const owner = await this.#nameOwner();
        if (!owner) continue;
        if (!sawEnd && owner === oldOwner) continue;
        try {
          await this.#bus.getProperty(SYSTEMD_BUS_NAME, SYSTEMD_PATH, MANAGER_IFACE, "Version", { timeoutMs: QUICK_CALL_TIMEOUT_MS, noAutoStart: true });
        } catch {
          continue;
        }
        break;
      }
      // The new instance may not carry over our subscription; asking again is harmless.
      try { await this.#call("Subscribe"); } catch { /* already subscribed */ }
    } finally {
      off();
      this.#reexecuting = false;
    }
  }

  async #nameOwner(): Promise<string | undefined> {
    if (this.#bus.closed) return undefined;
    try {
      const [o] = await this.#bus.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetNameOwner", "s", [SYSTEMD_BUS_NAME], { timeoutMs: QUICK_CALL_TIMEOUT_MS });
      return String(o);
    } catch {
      return undefined;
    }
  }

  /** A unit's state (loads the unit if needed; LoadState "not-found" for a missing one). */
  async unitProperties(unit: string): Promise<UnitProperties> {
    const path = await this.loadUnit(unit);
    const u = await this.#bus.getAllProperties(SYSTEMD_BUS_NAME, path, UNIT_IFACE, { timeoutMs: this.#opts.callTimeoutMs });
    const s = isServiceUnit(unit) ? await this.#bus.getAllProperties(SYSTEMD_BUS_NAME, path, SERVICE_IFACE, { timeoutMs: this.#opts.callTimeoutMs }) : undefined;
    return unitPropertiesFrom(u, s);
  }

  /** One property of a unit's interface (e.g. ("foo.service", "Service", "ExecMainStatus")). */
  async unitProperty<T = unknown>(unit: string, iface: "Unit" | "Service" | "Socket" | "Mount" | "Timer", name: string): Promise<T> {
    const path = await this.loadUnit(unit);
    return this.#bus.getProperty<T>(SYSTEMD_BUS_NAME, path, `org.freedesktop.systemd1.${iface}`, name, { timeoutMs: this.#opts.callTimeoutMs });
  }

  /** Closes the connection. */
  close(): void {
    this.#bus.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
