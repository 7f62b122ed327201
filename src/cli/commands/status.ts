/**
 * `stagehand status [--json] [--run-dir DIR]`: units still running old code since a switch left
 * them (restart debt, NixOS #28105) and work left by an interrupted switch. Entries whose unit has
 * restarted or stopped since are dropped (asked of systemd over D-Bus when it is reachable).
 */
import { loadDebt, pruneDebt, saveDebt } from "../../switch/state/debt.ts";
import { LIST_NAMES, readList, SYSTEM_RUN_DIR as RUN_DIR } from "../../switch/state/lists.ts";
import { formatStatus, type StatusReport } from "../../switch/state/status.ts";
import { flag, has, parseArgs, UsageError } from "../args.ts";
import { out } from "../../output/lines.ts";
import { join } from "node:path";

export async function run(args: string[]): Promise<number> {
  const p = parseArgs(args, ["run-dir"], ["json"]);
  if (p.positionals.length > 0) throw new UsageError("status takes no positional arguments");
  const dir = flag(p, "run-dir") ?? RUN_DIR;
  let debt = loadDebt(dir);
  if (debt.length > 0) {
    const ids = await invocationIds(debt.map((e) => e.unit));
    if (ids) {
      const pruned = pruneDebt(debt, (u) => (ids.has(u) ? ids.get(u) : null));
      if (pruned.length !== debt.length) {
        try { saveDebt(dir, pruned); } catch { /* read-only view is fine */ }
      }
      debt = pruned;
    }
  }
  const pending: Record<string, string[]> = {};
  for (const name of [LIST_NAMES.start, LIST_NAMES.restart, LIST_NAMES.reload]) {
    try { pending[name] = readList(join(dir, name)); } catch { pending[name] = []; }
  }
  const report: StatusReport = { debt, pending };
  if (has(p, "json")) out(JSON.stringify(report, null, 2));
  else for (const l of formatStatus(report)) out(l);
  return 0;
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
