/**
 * The executor's view of a service manager (executor-types.ts SwitchSystemd) over the D-Bus
 * client in src/systemd: jobs enqueued with mode "replace" and awaited through JobRemoved.
 */
import { DBusCallError } from "../dbus/connection.ts";
import { JobWaiter } from "../systemd/jobs.ts";
import { SYSTEMD_BUS_NAME, type SystemdManager } from "../systemd/manager.ts";
import { toNumber } from "../systemd/units.ts";
import type { ActiveUnitState, JobReport, JobVerb, SwitchSystemd } from "./executor-types.ts";

const UNIT_IFACE = "org.freedesktop.systemd1.Unit";
/** GetUnit's answers for a unit systemd has not loaded, or cannot, by that name. */
const NOT_LOADED = new Set(["org.freedesktop.systemd1.NoSuchUnit", "org.freedesktop.DBus.Error.InvalidArgs", "org.freedesktop.systemd1.LoadFailed"]);
/** A property read on an object that went away. */
const GONE = new Set(["org.freedesktop.DBus.Error.UnknownObject", "org.freedesktop.DBus.Error.UnknownMethod", "org.freedesktop.DBus.Error.UnknownInterface", "org.freedesktop.systemd1.NoSuchUnit"]);
/** FragmentPath reads in flight at once (below dbus-daemon's default per-connection reply limit). */
const FRAGMENT_WINDOW = 64;

/** Settle loop bounds: quiet for `quietMs` ends it, `maxMs` caps it (ng: 250 ms and 90 s). */
export interface SettleOptions {
  quietMs: number;
  maxMs: number;
}

export const DEFAULT_SETTLE: SettleOptions = { quietMs: 250, maxMs: 90_000 };

/** Adapts a connected SystemdManager; `close()` stops its job waiter (not the manager). */
export function switchSystemd(m: SystemdManager, settle: SettleOptions = DEFAULT_SETTLE): SwitchSystemd & { close(): void } {
  const waiter = JobWaiter.create(m);
  // Any signal from systemd counts as activity for the settle loop (ng counts any bus message).
  let lastActivity = Date.now();
  const offs = (["JobNew", "JobRemoved", "UnitNew", "UnitRemoved", "Reloading"] as const).map((s) => m.onSignal(s, () => { lastActivity = Date.now(); }));

  /** Object paths of the units seen in the last listing. */
  const objectPaths = new Map<string, string>();

  const propertyOf = async <T>(path: string, name: string, iface = UNIT_IFACE): Promise<T> =>
    m.bus.getProperty<T>(SYSTEMD_BUS_NAME, path, iface, name, { timeoutMs: 5000 });

  const withFragmentPaths = async (active: Record<string, ActiveUnitState>, units: Iterable<string>): Promise<Record<string, ActiveUnitState>> => {
    const out: Record<string, ActiveUnitState> = Object.assign(Object.create(null), active);
    const reads = [...units].filter((u) => objectPaths.has(u) && Object.hasOwn(out, u));
    // The reads are pipelined on the one connection rather than one round trip each; in windows,
    // so the bus daemon's cap on a connection's pending replies (128 on the system bus) is never
    // reached (a refused read would wrongly count as a vanished unit).
    for (let i = 0; i < reads.length; i += FRAGMENT_WINDOW) {
      const window = reads.slice(i, i + FRAGMENT_WINDOW);
      const paths = await Promise.all(window.map((u) =>
        propertyOf<string>(objectPaths.get(u)!, "FragmentPath").then((v) => String(v), () => "" /* unit vanished meanwhile */)));
      window.forEach((u, k) => { out[u] = { ...out[u]!, fragmentPath: paths[k]! }; });
    }
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
      const start = Date.now();
      lastActivity = Date.now();
      // Wait in quiet-sized steps while signals keep coming, as ng's process() loop does.
      for (;;) {
        await new Promise((r) => setTimeout(r, settle.quietMs));
        if (Date.now() - lastActivity >= settle.quietMs) return;
        if (Date.now() - start >= settle.maxMs) return;
      }
    },

    close(): void {
      for (const off of offs) off();
      waiter.close();
    },
  };
}
