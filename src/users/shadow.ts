/** /etc/shadow: `name:hash:lastchg:min:max:warn:inactive:expire:flag`, see shadow(5). */
import { isCompatOrComment, restOf } from "./verbatim.ts";

/** A line of /etc/shadow; fields other than name and hash are kept verbatim. */
export interface ShadowEntry {
  name: string;
  hash: string;
  lastChange: string;
  min: string;
  max: string;
  warn: string;
  inactive: string;
  expire: string;
  flag: string;
  /** Set for a line that is not a user's (NIS compat `+`/`-`, a comment): written back as it was. */
  verbatim?: string;
  /**
   * The line's text when it is what writing the fields gives (a line read with exactly the nine
   * fields, a new line the planner made): serialized as it is. A changed copy of the entry must drop it.
   */
  text?: string;
}

/**
 * Parses /etc/shadow text; empty lines are dropped. A line whose name is empty or starts with
 * `+`, `-` or `#` is not a user's: it is marked `verbatim`, so the planner keeps it as it was.
 */
export function parseShadow(text: string): ShadowEntry[] {
  const out: ShadowEntry[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === "") continue;
    const f = line.split(":");
    const name = f[0]!;
    const entry: ShadowEntry = {
      name, hash: f[1] ?? "", lastChange: f[2] ?? "", min: f[3] ?? "", max: f[4] ?? "", warn: f[5] ?? "",
      inactive: f[6] ?? "", expire: f[7] ?? "", flag: restOf(f, 8),
    };
    if (isCompatOrComment(name)) entry.verbatim = line;
    else if (f.length === 9) entry.text = line;
    out.push(entry);
  }
  return out;
}

/** Serializes entries in the given order. */
export function serializeShadow(entries: readonly ShadowEntry[]): string {
  const lines: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    const s = entries[i]!;
    lines.push(s.verbatim !== undefined ? s.verbatim : s.text !== undefined ? s.text : `${s.name}:${s.hash}:${s.lastChange}:${s.min}:${s.max}:${s.warn}:${s.inactive}:${s.expire}:${s.flag}`);
  }
  return lines.length === 0 ? "" : lines.join("\n") + "\n";
}
