/**
 * Restart debt (NixOS #28105): units whose definition changed but which a switch left running
 * (ng's "NOT restarting", `X-RestartIfChanged=false`, `/` and `/nix` mounts whose device changed)
 * still run old code. Each switch writes them to `/run/nixos/restart-debt.json`; `stagehand status`
 * shows what still runs old code, since which switch, and why. An entry is settled when a later
 * switch restarts, stops or starts the unit, when the unit's invocation changed since (someone
 * restarted it by hand), or by a reboot (/run is a tmpfs; the boot ID is checked too).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../fs/atomic.ts";
import { moveAsideUnless } from "../../fs/staged.ts";
import { MAX_BYTES, readRegularFileOptional } from "../../fs/read.ts";
import { sortBytewise } from "../../text/bytewise.ts";

export const DEBT_FILE = "restart-debt.json";

/** One unit running code older than its current definition. */
export interface DebtEntry {
  unit: string;
  /** Why it was not restarted, in words (`X-RestartIfChanged=false`, ...). */
  reason: string;
  /** The toplevel whose switch first left it behind. */
  since: string;
  /** When (ISO 8601). */
  sinceTime: string;
  /** The unit's InvocationID when it was left behind, if known: a new one means it restarted. */
  invocationId?: string;
}

interface DebtFile {
  version: 1;
  bootId: string;
  entries: DebtEntry[];
}

/** The current boot's ID, or "" where there is none (tests in a temp dir do not care). */
function currentBootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "";
  }
}

/** Text a status line can hold: no control character (a newline or a NUL would forge or cut a line). */
const PLAIN_TEXT = /^[^\x00-\x1f\x7f]{0,4096}$/;
/** `sinceTime` as saveDebt writes it (Date.toISOString()). */
const ISO_TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$/;
/** An InvocationID: 128 bits in hex. */
const INVOCATION_ID = /^[0-9a-f]{32}$/;

/**
 * A stored entry as this program writes it (docs/schemas/restart-debt.schema.json, in plain text),
 * with only its known fields; undefined for anything else. The file is ours, but never trusted to
 * be sane: a mangled entry must not reach `status` (its lines, its `--json`) nor be saved again.
 */
function storedEntry(e: unknown): DebtEntry | undefined {
  if (typeof e !== "object" || e === null) return undefined;
  const { unit, reason, since, sinceTime, invocationId } = e as Record<string, unknown>;
  const text = (v: unknown, min: number): v is string => typeof v === "string" && v.length >= min && PLAIN_TEXT.test(v);
  if (!text(unit, 1) || !text(reason, 1) || !text(since, 0) || typeof sinceTime !== "string" || !ISO_TIME.test(sinceTime)) return undefined;
  if (invocationId !== undefined && (typeof invocationId !== "string" || !INVOCATION_ID.test(invocationId))) return undefined;
  return { unit, reason, since, sinceTime, ...(invocationId !== undefined ? { invocationId } : {}) };
}

/**
 * Reads the debt recorded in `dir`; entries from another boot, and entries not as saveDebt writes
 * them, are dropped. A file that cannot be read or is not ours in form is no debt (told to `warn`,
 * if given), never a failed switch: the next switch writes it anew.
 */
export function loadDebt(dir: string, bootId = currentBootId(), warn?: (line: string) => void): DebtEntry[] {
  const path = join(dir, DEBT_FILE);
  let data: DebtFile;
  try {
    const text = readRegularFileOptional(path, { maxBytes: MAX_BYTES.database, what: "restart debt" });
    if (text === undefined) return [];
    data = JSON.parse(text.toString("utf8")) as DebtFile;
  } catch (e) {
    warn?.(`warning: ${e instanceof SyntaxError ? `restart debt: ${path}: invalid JSON` : (e as Error).message}; read as no debt`);
    return [];
  }
  if (data?.version !== 1 || !Array.isArray(data.entries)) {
    warn?.(`warning: restart debt: ${path}: not a restart debt file of version 1; read as no debt`);
    return [];
  }
  if (data.bootId !== bootId) return [];
  return data.entries.map(storedEntry).filter((e): e is DebtEntry => e !== undefined);
}

/**
 * Writes the debt atomically (an empty debt still writes, so "nothing owed" is on record). A
 * directory at the file's name, which no rename can replace, is moved aside (`NAME.broken-TIME`,
 * nothing lost) and the write made again: else no switch would record its debt until reboot.
 */
export function saveDebt(dir: string, entries: DebtEntry[], bootId = currentBootId()): void {
  const data: DebtFile = { version: 1, bootId, entries: sortBytewise([...entries], (e) => e.unit) };
  const path = join(dir, DEBT_FILE);
  const text = JSON.stringify(data, null, 2) + "\n";
  try {
    writeFileAtomic(path, text, { mode: 0o644 });
  } catch (e) {
    if (moveAsideUnless(path, (st) => !st.isDirectory()) === undefined) throw e;
    writeFileAtomic(path, text, { mode: 0o644 });
  }
}

/** What one switch did, as far as debt is concerned. */
export interface DebtUpdate {
  toplevel: string;
  now: Date;
  /** Units left running old code by this switch, with the reason. */
  skipped: Map<string, string>;
  /** Units that now run their new definition (restarted, stopped, started). */
  settled: Iterable<string>;
  /** InvocationIDs of the skipped units, where known. */
  invocationIds?: Map<string, string>;
}

/**
 * Pure: the debt after a switch. Settled units leave the list; skipped units join it, keeping the
 * first switch that left them behind.
 */
export function updateDebt(previous: readonly DebtEntry[], u: DebtUpdate): DebtEntry[] {
  const settled = new Set(u.settled);
  const byUnit = new Map<string, DebtEntry>();
  for (const e of previous) if (!settled.has(e.unit)) byUnit.set(e.unit, e);
  for (const [unit, reason] of u.skipped) {
    const old = byUnit.get(unit);
    byUnit.set(unit, old ?? {
      unit, reason, since: u.toplevel, sinceTime: u.now.toISOString(),
      ...(u.invocationIds?.get(unit) ? { invocationId: u.invocationIds.get(unit) } : {}),
    });
  }
  return [...byUnit.values()];
}

/**
 * Pure: drops entries whose unit restarted since (InvocationID changed) or is no longer loaded
 * (`undefined` means not loaded, `""` not running; a lookup that cannot tell returns null, keeping it).
 */
export function pruneDebt(entries: readonly DebtEntry[], invocationOf: (unit: string) => string | null | undefined): DebtEntry[] {
  return entries.filter((e) => {
    const now = invocationOf(e.unit);
    if (now === null) return true;
    if (now === undefined || now === "") return false; // gone or not running: no old code left
    return e.invocationId === undefined || e.invocationId === now;
  });
}
