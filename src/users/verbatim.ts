/**
 * Lines of /etc/passwd and /etc/group that are not records stagehand manages — NIS compat lines
 * (`+`, `-`, `+@netgroup`), comments, a line whose ID glibc does not read — are kept exactly as they
 * were, in their place: those before the first record stay at the top, those after the last one
 * at the end (a trailing `+::::::` stays last, after new users too), and the others after the
 * record line they followed, since NIS compat lines mean something only where they stand.
 */

import { glibcId } from "../text/id-field.ts";

/** A line kept verbatim. */
export interface VerbatimLine {
  /** The line, without its newline. */
  text: string;
  /** Index in the file's record names of the record line it followed; -1 at the top. */
  after: number;
  /** A number the ID field starts with (`12abc` -> 12): never allocated to anyone else. */
  id?: number;
}

/** A database file: its records, in file order, and the lines kept verbatim. */
export interface DatabaseFile<T> {
  entries: T[];
  /** Each record by name (the one in `entries`). */
  byName: Map<string, T>;
  verbatim: VerbatimLine[];
  /** The names of the record lines in file order (the anchors of `verbatim`). */
  names: string[];
}


/** Whether a line's first field is no name: empty, or `+`, `-` (NIS compat) or `#` (a comment) first. */
export function isCompatOrComment(name: string): boolean {
  const c = name.charCodeAt(0);
  return name === "" || c === 0x2b || c === 0x2d || c === 0x23;
}

/**
 * Whether a line with this name and ID field is a record: a plain name and an ID field glibc reads
 * (glibcId: `+0` and ` 0` too, so such an account is managed, and removed when undeclared).
 */
export function isRecord(name: string, id: string | undefined): boolean {
  return recordId(name, id) !== undefined;
}

/** The ID of a record line with this name and ID field (isRecord), or undefined for a line that is none. */
function recordId(name: string, id: string | undefined): number | undefined {
  return isCompatOrComment(name) ? undefined : glibcId(id);
}

/**
 * Splits database text into records (parsed by `parse`, given the fields and the ID glibc reads
 * from them; a later line with the same name winning) and verbatim lines; empty lines are dropped.
 * `idField` is the index of the ID field.
 */
export function splitDatabase<T extends { name: string }>(text: string, idField: number, parse: (f: string[], id: number) => T): DatabaseFile<T> {
  const byName = new Map<string, T>();
  const entries: T[] = [];
  const verbatim: VerbatimLine[] = [];
  const names: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === "") continue;
    const f = line.split(":");
    const name = f[0]!;
    const id = recordId(name, f[idField]);
    if (id === undefined) {
      const lead = /^[0-9]{1,10}/.exec(f[idField] ?? "");
      verbatim.push(lead ? { text: line, after: names.length - 1, id: Number(lead[0]) } : { text: line, after: names.length - 1 });
      continue;
    }
    names.push(name);
    const entry = parse(f, id);
    const had = byName.get(name);
    byName.set(name, entry);
    // A later line with the same name replaces the earlier one in its place (rare: searched for).
    if (had === undefined) entries.push(entry);
    else entries[entries.indexOf(had)] = entry;
  }
  return { entries, byName, verbatim, names };
}

/** Fields `from` to the end of a split line, joined again (`""` when the line has fewer). */
export function restOf(f: string[], from: number): string {
  return f.length <= from + 1 ? (f[from] ?? "") : f.slice(from).join(":");
}

/**
 * Serializes record lines (`texts`, in output order, with their `names`) with the old file's
 * verbatim lines: those that followed the old file's last record at the end, the others after the
 * nearest record they followed that is still there (at the top when none is). The text is joined
 * natively in one piece (a string grown line by line is a rope the engine flattens later).
 */
export function joinWithVerbatim(names: readonly string[], texts: readonly string[], old: { verbatim: readonly VerbatimLine[]; names: readonly string[] }): string {
  if (old.verbatim.length === 0) return texts.length === 0 ? "" : texts.join("\n") + "\n";
  const lines = names.map((name, i) => ({ name, text: texts[i]! }));
  const present = new Set(names);
  const byAnchor = new Map<string | null, string[]>();
  const trailing: string[] = [];
  for (const v of old.verbatim) {
    if (v.after >= 0 && v.after === old.names.length - 1) {
      trailing.push(v.text);
      continue;
    }
    let i = v.after;
    while (i >= 0 && !present.has(old.names[i]!)) i--;
    const anchor = i >= 0 ? old.names[i]! : null;
    const list = byAnchor.get(anchor);
    if (list) list.push(v.text);
    else byAnchor.set(anchor, [v.text]);
  }
  let out = "";
  for (const t of byAnchor.get(null) ?? []) out += `${t}\n`;
  for (const l of lines) {
    out += `${l.text}\n`;
    const after = byAnchor.get(l.name);
    if (after) {
      for (const t of after) out += `${t}\n`;
      byAnchor.delete(l.name); // a name repeated in `lines` gets them once
    }
  }
  for (const t of trailing) out += `${t}\n`;
  return out;
}
