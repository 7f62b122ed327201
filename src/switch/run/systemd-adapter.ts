/**
 * The executor's view of a service manager (types.ts SwitchSystemd) over the D-Bus
 * client in src/systemd: jobs enqueued with mode "replace" and awaited through JobRemoved.
 */
import { DBusCallError, QUICK_CALL_TIMEOUT_MS } from "../../dbus/connection.ts";
import { pipelined } from "../../dbus/pipeline.ts";
import { JobWaiter } from "../../systemd/jobs.ts";
import { SYSTEMD_BUS_NAME, type SystemdManager } from "../../systemd/manager.ts";
import { toNumber } from "../../systemd/units.ts";
import { mainProcessState, type ProcOptions } from "./main-process.ts";
import type { ActiveUnitState, JobReport, JobVerb, SettledBy, SettleReport, SwitchSystemd } from "./types.ts";

const UNIT_IFACE = "org.freedesktop.systemd1.Unit";
const SERVICE_IFACE = "org.freedesktop.systemd1.Service";
/** GetUnit's answers for a unit systemd has not loaded, or cannot, by that name. */
const NOT_LOADED = new Set(["org.freedesktop.systemd1.NoSuchUnit", "org.freedesktop.DBus.Error.InvalidArgs", "org.freedesktop.systemd1.LoadFailed"]);
/** A property read on an object that went away. */
const GONE = new Set(["org.freedesktop.DBus.Error.UnknownObject", "org.freedesktop.DBus.Error.UnknownMethod", "org.freedesktop.DBus.Error.UnknownInterface", "org.freedesktop.systemd1.NoSuchUnit"]);

/**
 * The wait after the switch's jobs, before new and failed units are listed. ng waits until the bus
 * has been quiet for 250 ms, in every switch; stagehand waits for what can still change instead
 * (settleDone): queued jobs, and each service just started whose start can still fail, until its
 * program waits for events or has exited (main-process.ts), never longer than `quietMs` past its
 * job's end. Services are looked at every `pollMs` (more seldom when many are; settleSleepMs).
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
 * - `lastRacyJobEnd`: when the last job ended that started a service of a racy type
 *   (RACY_SERVICE_TYPES) whose start can still fail (its program has not yet blocked waiting for
 *   events, nor exited), whether the switch ran the job or one of its jobs pulled it in. At most
 *   `quietMs` pass after it, as ng gives it. A switch with no such job (a no-op switch starts the
 *   active targets and restarts sysinit-reactivation.target, whose services are oneshots; a daemon
 *   started and already at its event loop) waits only for the queue.
 * - Never past `maxMs` after the settle began.
 */
export function settleDone(s: { now: number; startedAt: number; lastRacyJobEnd: number | undefined; jobsQueued: number }, opts: SettleOptions): boolean {
  if (s.now >= s.startedAt + opts.maxMs) return true;
  const graceOver = s.lastRacyJobEnd === undefined || s.now >= s.lastRacyJobEnd + opts.quietMs;
  const queueOver = s.jobsQueued === 0 || s.now >= Math.max(s.startedAt, s.lastRacyJobEnd ?? 0) + opts.quietMs;
  return graceOver && queueOver;
}

/**
 * How long to sleep before the next look. Every `pollMs`, as a service may reach its event loop and
 * queued jobs may end at any moment; but one look per 25 services still starting each `pollMs`
 * (reading three /proc files each is not free, and 250 busy services must not keep stagehand
 * busy too); never past the grace's end or `maxMs` after the settle began.
 */
export function settleSleepMs(s: { now: number; startedAt: number; lastRacyJobEnd: number | undefined; starting: number }, opts: SettleOptions): number {
  const poll = opts.pollMs * Math.max(1, Math.ceil(s.starting / 25));
  const graceEnd = s.lastRacyJobEnd === undefined ? Infinity : s.lastRacyJobEnd + opts.quietMs;
  const wake = Math.min(s.now + poll, graceEnd > s.now ? graceEnd : Infinity, s.startedAt + opts.maxMs);
  return Math.max(0, wake - s.now);
}

/** Services whose jobs ended during the switch, remembered for the settle; bounded. */
const MAX_TRACKED_SERVICES = 10_000;

/** Adapts a connected SystemdManager; `close()` stops its job waiter (not the manager). */
export function switchSystemd(
  m: SystemdManager,
  settle: SettleOptions = DEFAULT_SETTLE,
  /** Where the services' processes are seen (the machine's /proc). */
  proc: ProcOptions = { proc: "/proc", arch: process.arch },
): SwitchSystemd & { close(): void } {
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
  /**
   * What a service job (unit, end) left, asked once per job (the settle polls), the three properties
   * in one round trip: whether it started a process that can still fail at its start (a racy Type,
   * its main process started at `since` or later: ExecMainStartTimestamp is µs of CLOCK_REALTIME),
   * and that process (MainPID; 0 when none is left).
   */
  const jobFacts = new Map<string, Promise<{ racy: boolean; mainPid: number }>>();
  const factsOf = (unit: string, key: string, since: number): Promise<{ racy: boolean; mainPid: number }> => {
    let facts = jobFacts.get(key);
    if (facts === undefined) {
      facts = serviceProperties(unit, ["Type", "ExecMainStartTimestamp", "MainPID"])
        .then(([type, startUs, pid]) => ({ racy: RACY_SERVICE_TYPES.has(String(type)) && (toNumber(startUs) ?? 0) / 1000 >= since, mainPid: toNumber(pid) ?? 0 }),
          () => ({ racy: false, mainPid: 0 }) /* gone meanwhile: nothing left to fail */);
      jobFacts.set(key, facts);
    }
    return facts;
  };
  const mainPidOf = (unit: string): Promise<number> =>
    serviceProperties(unit, ["MainPID"]).then(([v]) => toNumber(v) ?? 0, () => 0);
  /** Per job (unit, end): how the wait for it ended, once it has. */
  const settledBy = new Map<string, SettledBy>();
  /**
   * Whether the process a racy job started is past its start, and how; undefined while it can
   * still fail at its start. Gone from /proc is past only once systemd has taken note of the exit
   * (its MainPID changed): until then the unit's state does not show how it ended.
   */
  const pastStart = (unit: string, key: string, p: number): Promise<SettledBy | undefined> | SettledBy | undefined => {
    const known = settledBy.get(key);
    if (known !== undefined) return known;
    let by: SettledBy | undefined;
    if (p === 0) by = "exited";
    else {
      const state = mainProcessState(p, proc);
      if (state === "waiting-for-events") by = state;
      else if (state === "gone") {
        return mainPidOf(unit).then((now) => {
          if (now !== p) settledBy.set(key, "exited");
          return settledBy.get(key);
        });
      }
    }
    if (by !== undefined) settledBy.set(key, by);
    return by;
  };
  /**
   * Among the jobs that ended since `since` and started a racy service's process, when the last
   * one whose service can still fail at its start ended, and how many such services there are.
   * A job on a service that was already running (a target started again pulls in its running
   * gettys) started nothing, so nothing of it can fail now. Each job looked at goes into `seen`.
   */
  const racyWait = async (since: number, seen: Map<string, string>): Promise<{ last: number | undefined; starting: number }> => {
    // Past the bound, every service counts as racy and starting: ng's full wait.
    if (untracked) return { last: Math.max(...serviceJobEnds.values(), since), starting: 0 };
    const recent = [...serviceJobEnds].filter(([, t]) => t >= since).map(([u, t]) => ({ unit: u, end: t, key: `${u}\0${t}` }));
    const facts = await Promise.all(recent.map((j) => factsOf(j.unit, j.key, since)));
    const jobs = recent.filter((_, i) => facts[i]!.racy);
    const pids = facts.filter((f) => f.racy).map((f) => f.mainPid);
    const past = await Promise.all(jobs.map((j, i) => pastStart(j.unit, j.key, pids[i]!)));
    let last: number | undefined;
    let starting = 0;
    jobs.forEach((j, i) => {
      seen.set(j.unit, j.key);
      if (past[i] !== undefined) return;
      starting++;
      if (last === undefined || j.end > last) last = j.end;
    });
    return { last, starting };
  };

  /** Object paths of the units seen in the last listing. */
  const objectPaths = new Map<string, string>();

  const propertyOf = async <T>(path: string, name: string, iface = UNIT_IFACE): Promise<T> =>
    m.bus.getProperty<T>(SYSTEMD_BUS_NAME, path, iface, name, { timeoutMs: QUICK_CALL_TIMEOUT_MS });
  /** Properties of a loaded service (its Service interface), asked together; rejects when it is not loaded. */
  function serviceProperties(unit: string, names: readonly string[]): Promise<unknown[]> {
    return m.getUnit(unit).then((path) => Promise.all(names.map((n) => propertyOf<unknown>(path, n, SERVICE_IFACE))));
  }

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
        const [status] = await serviceProperties(unit, ["ExecMainStatus"]);
        return toNumber(status);
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

    async settle(): Promise<SettleReport> {
      const startedAt = Date.now();
      // Only a job that ended within the grace before now can still matter.
      const since = startedAt - settle.quietMs;
      const seen = new Map<string, string>();
      for (;;) {
        const racy = await racyWait(since, seen);
        let now = Date.now();
        // The queue is asked only once no service's start is waited for: until then the wait
        // cannot end, and a busy systemd is not asked for nothing.
        if (racy.last === undefined || now >= racy.last + settle.quietMs || now >= startedAt + settle.maxMs) {
          const jobsQueued = await m.countJobs();
          now = Date.now();
          if (settleDone({ now, startedAt, lastRacyJobEnd: racy.last, jobsQueued }, settle)) {
            const services = [...seen].map(([unit, key]) => ({ unit, settledBy: settledBy.get(key) ?? "grace" as const }));
            return { services: services.sort((x, y) => (x.unit < y.unit ? -1 : x.unit > y.unit ? 1 : 0)) };
          }
        }
        await new Promise((r) => setTimeout(r, settleSleepMs({ now, startedAt, lastRacyJobEnd: racy.last, starting: racy.starting }, settle)));
      }
    },

    close(): void {
      offJobRemoved();
      waiter.close();
    },
  };
}
