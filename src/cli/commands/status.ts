/**
 * `stagehand status [--json] [--run-dir DIR]`: units still running old code since a switch left
 * them (restart debt, NixOS #28105) and work left by an interrupted switch. Entries whose unit has
 * restarted or stopped since are dropped (asked of systemd over D-Bus when it is reachable).
 */
import { loadDebt, pruneDebt, saveDebt } from "../../switch/state/debt.ts";
import { LOCK_NAME } from "../../switch/host/lock.ts";
import { tryLockExclusive } from "../../fs/lock.ts";
import { LIST_NAMES, readList, SYSTEM_RUN_DIR as RUN_DIR } from "../../switch/state/lists.ts";
import { formatStatus, type StatusReport } from "../../switch/state/status.ts";
import { flag, has, parseArgs, UsageError } from "../args.ts";
import { err, out } from "../../output/lines.ts";
import { join } from "node:path";

export async function run(args: string[]): Promise<number> {
  const p = parseArgs(args, ["run-dir"], ["json"]);
  if (p.positionals.length > 0) throw new UsageError("status takes no positional arguments");
  const dir = flag(p, "run-dir") ?? RUN_DIR;
  const warn = err;
  let debt = loadDebt(dir, undefined, warn);
  if (debt.length > 0) {
    const ids = await invocationIds(debt.map((e) => e.unit));
    if (ids) {
      const pruned = pruneDebt(debt, (u) => (ids.has(u) ? ids.get(u) : null));
      if (pruned.length !== debt.length) savePruned(dir, (u) => (ids.has(u) ? ids.get(u) : null));
      debt = pruned;
    }
  }
  const pending: Record<string, string[]> = {};
  for (const name of [LIST_NAMES.start, LIST_NAMES.restart, LIST_NAMES.reload]) {
    try {
      pending[name] = readList(join(dir, name));
    } catch (e) {
      warn(`warning: ${(e as Error).message}; read as empty`);
      pending[name] = [];
    }
  }
  const report: StatusReport = { debt, pending };
  if (has(p, "json")) out(JSON.stringify(report, null, 2));
  else for (const l of formatStatus(report)) out(l);
  return 0;
}

/**
 * Writes the debt back without the entries `idOf` shows are paid, only under the switch's lock (a
 * running switch writes its own; it is read again under the lock, so none of its entries is lost).
 * Without the lock (held, or not root) the file is left as it is: this is a view.
 */
function savePruned(dir: string, idOf: (unit: string) => string | undefined | null): void {
  let lock;
  try { lock = tryLockExclusive(join(dir, LOCK_NAME)); } catch { return; }
  if (!lock) return;
  try {
    saveDebt(dir, pruneDebt(loadDebt(dir), idOf));
  } catch {
    // A read-only view is fine.
  } finally {
    lock.release();
  }
}

/** InvocationIDs of units (undefined = not loaded), or undefined when systemd is unreachable. */
async function invocationIds(units: string[]): Promise<Map<string, string | undefined> | undefined> {
  try {
    const { SystemdManager } = await import("../../systemd/manager.ts");
    const { switchSystemd } = await import("../../switch/run/systemd-adapter.ts");
    const m = await SystemdManager.connect({ connectTimeoutMs: 3000 });
    const s = switchSystemd(m);
    try {
      const ids = new Map<string, string | undefined>();
      for (const u of units) ids.set(u, await s.invocationId(u));
      return ids;
    } finally {
      s.close();
      m.close();
    }
  } catch {
    return undefined;
  }
}
