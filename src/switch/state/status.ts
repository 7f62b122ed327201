/**
 * What `stagehand status` reports: the restart debt (units still running old code) and work left
 * by an interrupted switch (non-empty list files). Pure formatting here; reading in the command.
 */
import type { DebtEntry } from "./debt.ts";

export interface StatusReport {
  debt: DebtEntry[];
  /** List file name -> units still to handle. */
  pending: Record<string, string[]>;
}

/** Human lines for a report. */
export function formatStatus(r: StatusReport): string[] {
  const lines: string[] = [];
  if (r.debt.length === 0) {
    lines.push("no restart debt: every unit changed by a switch runs its current definition");
  } else {
    lines.push("units still running old code (restart debt):");
    for (const e of r.debt) lines.push(`  ${e.unit}: ${e.reason} (since ${e.sinceTime}, switch to ${e.since})`);
  }
  const pending = Object.entries(r.pending).filter(([, u]) => u.length > 0);
  if (pending.length > 0) {
    lines.push("an interrupted switch left work to do (the next switch resumes it):");
    for (const [name, units] of pending) lines.push(`  ${name}: ${units.join(", ")}`);
  }
  return lines;
}
