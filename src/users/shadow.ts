/** /etc/shadow: `name:hash:lastchg:min:max:warn:inactive:expire:flag`, see shadow(5). */

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
}

/**
 * Parses /etc/shadow text; empty lines are dropped. A line whose name is empty or starts with
 * `+`, `-` or `#` is not a user's: it is marked `verbatim`, so the planner keeps it as it was.
 */
export function parseShadow(text: string): ShadowEntry[] {
  const out: ShadowEntry[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const f = line.split(":");
    out.push({
      name: f[0]!, hash: f[1] ?? "", lastChange: f[2] ?? "", min: f[3] ?? "", max: f[4] ?? "", warn: f[5] ?? "",
      inactive: f[6] ?? "", expire: f[7] ?? "", flag: f.slice(8).join(":"),
      ...(f[0] === "" || /^[+\-#]/.test(f[0]!) ? { verbatim: line } : {}),
    });
  }
  return out;
}

/** Serializes entries in the given order. */
export function serializeShadow(entries: readonly ShadowEntry[]): string {
  let out = "";
  for (const s of entries) out += s.verbatim !== undefined ? `${s.verbatim}\n` : `${s.name}:${s.hash}:${s.lastChange}:${s.min}:${s.max}:${s.warn}:${s.inactive}:${s.expire}:${s.flag}\n`;
  return out;
}
