/**
 * The executor's view of a service manager (types.ts SwitchSystemd) over the D-Bus
 * client in src/systemd: jobs enqueued with mode "replace" and awaited through JobRemoved.
 */
import { DBusCallError, QUICK_CALL_TIMEOUT_MS } from "../../dbus/connection.ts";
import { pipelined } from "../../dbus/pipeline.ts";
import { JobWaiter } from "../../systemd/jobs.ts";
import { SYSTEMD_BUS_NAME, type SystemdManager } from "../../systemd/manager.ts";
import { toNumber } from "../../systemd/units.ts";
import type { ActiveUnitState, JobReport, JobVerb, SwitchSystemd } from "./types.ts";

const UNIT_IFACE = "org.freedesktop.systemd1.Unit";
/** GetUnit's answers for a unit systemd has not loaded, or cannot, by that name. */
const NOT_LOADED = new Set(["org.freedesktop.systemd1.NoSuchUnit", "org.freedesktop.DBus.Error.InvalidArgs", "org.freedesktop.systemd1.LoadFailed"]);
/** A property read on an object that went away. */
const GONE = new Set(["org.freedesktop.DBus.Error.UnknownObject", "org.freedesktop.DBus.Error.UnknownMethod", "org.freedesktop.DBus.Error.UnknownInterface", "org.freedesktop.systemd1.NoSuchUnit"]);

/**
 * The wait after the switch's jobs, before new and failed units are listed. ng waits until the bus
 * has been quiet for 250 ms, in every switch; stagehand waits for what can still change instead
 * (settleDone), never longer than `quietMs` past the settle's start or past the last racy service
 * job's end, polling systemd's job queue every `pollMs` once no such grace is running (settleSleepMs).
 */
export interface SettleOptions {
  quietMs: number;
  pollMs: number;
  /**
   * The longest wait, whatever still changes (ng's 90 s): a service that keeps restarting, or
   * socket-activated instances started more often than every `quietMs`, must not hold a switch.
   */
  maxMs: number;
}

export const DEFAULT_SETTLE: SettleOptions = { quietMs: 250, pollMs: 10, maxMs: 90_000 };

/**
 * Service types whose start job is done before the service has shown it runs: systemd ends the job
 * once the process is forked (simple, idle) or exec'd (exec), so it can still fail a moment later.
 * The others end their job after start-up finished (oneshot: the process exited; forking, notify,
 * dbus: the service said it is up), so a failure at start is known when the job ends.
 */
const RACY_SERVICE_TYPES: ReadonlySet<string> = new Set(["simple", "exec", "idle"]);

/**
 * Whether the wait after the jobs is over, at `now`:
 * - Jobs still queued (pulled in by the switch's own: a target's dependencies, units ordered after
 *   it) are waited for, since what they do decides which units are new or failed; but only up to
 *   `quietMs` after the settle began (or after the last racy job's end), as ng's wait, so a long
 *   job pulled in is not waited out.
 * - `lastRacyJobEnd`: when the last job on a service of a racy type (RACY_SERVICE_TYPES) ended,
 *   whether the switch ran it or one of its jobs pulled it in. `quietMs` must pass after it, as ng
 *   gives it. A switch with no such job (a no-op switch starts the active targets and restarts
 *   sysinit-reactivation.target, whose services are oneshots) waits only for the queue.
 * - Never past `maxMs` after the settle began.
 */
export function settleDone(s: { now: number; startedAt: number; lastRacyJobEnd: number | undefined; jobsQueued: number }, opts: SettleOptions): boolean {
  if (s.now >= s.startedAt + opts.maxMs) return true;
  const graceOver = s.lastRacyJobEnd === undefined || s.now >= s.lastRacyJobEnd + opts.quietMs;
  const queueOver = s.jobsQueued === 0 || s.now >= Math.max(s.startedAt, s.lastRacyJobEnd ?? 0) + opts.quietMs;
  return graceOver && queueOver;
}

/**
 * How long to sleep before `settleDone` is asked again. While a racy service's grace runs, nothing
 * can end the wait before it is over (a job ending meanwhile only moves it later), so the queue is
 * not polled until then; otherwise every `pollMs`, as queued jobs may end at any moment.
 */
export function settleSleepMs(s: { now: number; startedAt: number; lastRacyJobEnd: number | undefined }, opts: SettleOptions): number {
  const graceEnd = s.lastRacyJobEnd === undefined ? s.now : s.lastRacyJobEnd + opts.quietMs;
  const wake = Math.min(Math.max(graceEnd, s.now + opts.pollMs), s.startedAt + opts.maxMs);
  return Math.max(0, wake - s.now);
}

/** Services whose jobs ended during the switch, remembered for the settle; bounded. */
const MAX_TRACKED_SERVICES = 10_000;

/** Adapts a connected SystemdManager; `close()` stops its job waiter (not the manager). */
export function switchSystemd(m: SystemdManager, settle: SettleOptions = DEFAULT_SETTLE): SwitchSystemd & { close(): void } {
  const waiter = JobWaiter.create(m);
  /** When a job on each service ended during this switch (JobRemoved, from systemd only). */
  const serviceJobEnds = new Map<string, number>();
  let untracked = false;
  const offJobRemoved = m.onSignal("JobRemoved", (body) => {
    const unit = String(body[2]);
    if (!unit.endsWith(".service")) return;
    if (serviceJobEnds.size >= MAX_TRACKED_SERVICES && !serviceJobEnds.has(unit)) untracked = true;
    else serviceJobEnds.set(unit, Date.now());
  });
  /** Service Type per unit, read once (a unit's type does not change within a switch). */
  const serviceTypes = new Map<string, Promise<string>>();
  const serviceType = (unit: string): Promise<string> => {
    let t = serviceTypes.get(unit);
    if (!t) {
      t = m.getUnit(unit)
        .then((path) => propertyOf<string>(path, "Type", "org.freedesktop.systemd1.Service"))
        .then((v) => String(v), () => "" /* gone meanwhile: nothing left to fail */);
      serviceTypes.set(unit, t);
    }
    return t;
  };
  /** Whether a job's end (unit, time) started the unit's main process, asked once per job (the settle polls). */
  const startedByJob = new Map<string, Promise<boolean>>();
  /** Whether `unit`'s main process started at `since` or later (µs of CLOCK_REALTIME on the bus). */
  const startedSince = (unit: string, jobEnd: number, since: number): Promise<boolean> => {
    const key = `${unit}\0${jobEnd}`;
    let started = startedByJob.get(key);
    if (!started) {
      started = m.getUnit(unit)
        .then((path) => propertyOf<unknown>(path, "ExecMainStartTimestamp", "org.freedesktop.systemd1.Service"))
        .then((us) => (toNumber(us) ?? 0) / 1000 >= since, () => false);
      startedByJob.set(key, started);
    }
    return started;
  };
  /**
   * When the last job that started a racy service's process ended, among the jobs that ended since
   * `since`. A job on a service that was already running (a target started again pulls in its
   * running gettys) started nothing, so nothing of it can fail now.
   */
  const lastRacyJobEnd = async (since: number): Promise<number | undefined> => {
    // Past the bound, every service counts as racy: ng's full wait.
    if (untracked) return Math.max(...serviceJobEnds.values(), since);
    const recent = [...serviceJobEnds].filter(([, t]) => t >= since);
    const types = await Promise.all(recent.map(([u]) => serviceType(u)));
    const racy = recent.filter((_, i) => RACY_SERVICE_TYPES.has(types[i]!));
    const started = await Promise.all(racy.map(([u, t]) => startedSince(u, t, since)));
    let last: number | undefined;
    racy.forEach(([, t], i) => { if (started[i] && (last === undefined || t > last)) last = t; });
    return last;
  };

  /** Object paths of the units seen in the last listing. */
  const objectPaths = new Map<string, string>();

  const propertyOf = async <T>(path: string, name: string, iface = UNIT_IFACE): Promise<T> =>
    m.bus.getProperty<T>(SYSTEMD_BUS_NAME, path, iface, name, { timeoutMs: QUICK_CALL_TIMEOUT_MS });

  const withFragmentPaths = async (active: Record<string, ActiveUnitState>, units: Iterable<string>): Promise<Record<string, ActiveUnitState>> => {
    const out: Record<string, ActiveUnitState> = Object.assign(Object.create(null), active);
    const reads = [...units].filter((u) => objectPaths.has(u) && Object.hasOwn(out, u));
    // Pipelined in windows, so the bus daemon's reply cap is never reached (a refused read would
    // wrongly count as a vanished unit).
    const paths = await pipelined(reads, (u) => propertyOf<string>(objectPaths.get(u)!, "FragmentPath"));
    reads.forEach((u, k) => {
      const p = paths[k]!;
      out[u] = { ...out[u]!, fragmentPath: p.status === "fulfilled" ? String(p.value) : "" /* unit vanished meanwhile */ };
    });
    return out;
  };

  return {
    async submit(job: JobVerb, unit: string): Promise<{ done: Promise<JobReport> }> {
      const path = await m.enqueue(job, unit, "replace");
      return { done: waiter.wait(path).then((o) => ({ unit: o.unit || unit, job, result: o.result })) };
    },

    async activeUnits(opts: { fragments?: boolean } = {}): Promise<Record<string, ActiveUnitState>> {
      const rows = await m.listUnitsByPatterns([], []);
      const outMap: Record<string, ActiveUnitState> = Object.create(null);
      for (const r of rows) {
        if (r.following !== "" || r.activeState === "inactive") continue;
        outMap[r.name] = { activeState: r.activeState, subState: r.subState };
        objectPaths.set(r.name, r.path);
      }
      return (opts.fragments ?? true) ? withFragmentPaths(outMap, Object.keys(outMap)) : outMap;
    },

    withFragmentPaths,

    async isActive(unit: string): Promise<boolean> {
      let path: string;
      try {
        path = await m.getUnit(unit);
      } catch (e) {
        // Not loaded (e.g. a noauto mount after daemon-reload), or a name systemd refuses: not
        // active. ng aborts here, and as the unit stays on the reload list, so does every later switch.
        if (e instanceof DBusCallError && NOT_LOADED.has(e.dbusName)) return false;
        throw e;
      }
      let state: string;
      try {
        state = String(await propertyOf<string>(path, "ActiveState"));
      } catch (e) {
        // Unloaded between the two calls: its object is gone.
        if (e instanceof DBusCallError && GONE.has(e.dbusName)) return false;
        throw e;
      }
      return state === "active" || state === "activating";
    },

    async execMainStatus(unit: string): Promise<number | undefined> {
      try {
        const path = await m.getUnit(unit);
        return toNumber(await propertyOf(path, "ExecMainStatus", "org.freedesktop.systemd1.Service"));
      } catch {
        return undefined;
      }
    },

    async invocationId(unit: string): Promise<string | undefined> {
      try {
        const path = await m.getUnit(unit);
        const raw = await propertyOf<unknown>(path, "InvocationID");
        const bytes: number[] = raw instanceof Uint8Array || Array.isArray(raw) ? Array.from(raw as ArrayLike<number>) : [];
        return bytes.map((b) => b.toString(16).padStart(2, "0")).join("");
      } catch (e) {
        if (e instanceof DBusCallError) return undefined;
        throw e;
      }
    },

    resetFailed: () => m.resetFailed(),
    reload: () => m.reload(),
    reexecute: () => m.reexecute(),

    async settle(): Promise<void> {
      const startedAt = Date.now();
      // Only a job that ended within the grace before now can still matter.
      const since = startedAt - settle.quietMs;
      for (;;) {
        const [jobsQueued, racy] = await Promise.all([m.countJobs(), lastRacyJobEnd(since)]);
        const now = Date.now();
        if (settleDone({ now, startedAt, lastRacyJobEnd: racy, jobsQueued }, settle)) return;
        await new Promise((r) => setTimeout(r, settleSleepMs({ now, startedAt, lastRacyJobEnd: racy }, settle)));
      }
    },

    close(): void {
      offJobRemoved();
      waiter.close();
    },
  };
}
