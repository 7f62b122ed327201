/**
 * `/etc/.clean`: the names (relative to /etc) of the files copied into /etc, one per line, sorted
 * bytewise, each ending in a newline. setup-etc.pl reads and writes the same format, so a machine
 * switches between the two freely.
 */
import { badEntryName, CLEAN } from "./paths.ts";
import { sortStringsBytewise } from "../text/bytewise.ts";

export { CLEAN };

/** Reads `.clean` text: the names, and the lines refused because they would escape /etc. */
export function parseClean(text: string): { names: string[]; refused: { name: string; reason: string }[] } {
  const names: string[] = [];
  const refused: { name: string; reason: string }[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const bad = badEntryName(line);
    if (bad) refused.push({ name: line, reason: bad });
    else names.push(line);
  }
  return { names, refused };
}

/** Formats names as `.clean` text. */
export function formatClean(names: Iterable<string>): string {
  const sorted = sortStringsBytewise([...new Set(names)]);
  // One line per name, each ending in a newline (nothing at all for none).
  return sorted.length === 0 ? "" : `${sorted.join("\n")}\n`;
}
