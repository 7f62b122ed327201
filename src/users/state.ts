/**
 * The state update-users-groups.pl keeps in /var/lib/nixos, read and written in its formats so a
 * machine switching from the Perl script keeps every ID:
 * - `uid-map`, `gid-map`: JSON objects name -> ID, canonical (sorted keys, no spaces, no newline);
 * - `declarative-users`, `declarative-groups`: names separated by one space, sorted, no newline;
 * - `auto-subuid-map`: JSON object name -> first subordinate ID, then a newline.
 */
import { MAX_ID } from "../text/id-field.ts";
import { printable } from "../text/printable.ts";
import { sortStringsBytewise } from "../text/bytewise.ts";
import { nestsTooDeeply } from "./json.ts";

/** A state file that cannot be read; names the file. */
export class StateError extends Error {
  override name = "StateError";
}

/** Parses an ID map (`uid-map`, `gid-map`, `auto-subuid-map`); `file` names it in errors. */
export function parseIdMap(file: string, text: string | null): Map<string, number> {
  return new Map(readIdMap(file, text).map);
}

/**
 * An ID map that remembers the text it was read from while that text is what serializing it would
 * write: every change goes through `set` or `delete`, which forget the text when they change an entry.
 */
export class IdMap extends Map<string, number> {
  #asRead: string | undefined = undefined;

  /** The text read (with its ending), while it is canonical and no entry has changed since. */
  get asRead(): string | undefined {
    return this.#asRead;
  }

  /** Remembers `text` as what this map, canonical, was read from (readIdMap). */
  readFrom(text: string): void {
    this.#asRead = text;
  }

  override set(name: string, id: number): this {
    if (this.#asRead !== undefined) {
      // Recording an entry as it is (a rerun) changes nothing: the text stays, and no set is needed.
      if (super.get(name) === id) return this;
      this.#asRead = undefined;
    }
    return super.set(name, id);
  }

  override delete(name: string): boolean {
    const had = super.delete(name);
    if (had) this.#asRead = undefined;
    return had;
  }

  override clear(): void {
    if (this.size > 0) this.#asRead = undefined;
    super.clear();
  }
}

/** An ID map as read, and whether it is written canonically. */
export interface ReadIdMap {
  map: IdMap;
  /** Whether `serializeIdMap(map) + ending` is the text read, exactly: unchanged, it needs no writing. */
  canonical: boolean;
  /** The text was no ID map at all (read as empty, reported): its bytes are kept aside when it is replaced. */
  broken?: boolean;
}

/**
 * Characters whose UTF-16 order is not their byte order, or a `\u` escape (JSON.stringify writes a
 * lone surrogate so): a map text with one is never taken as canonical.
 */
const HIGH = /[\ud800-\uffff]|\\u/;


/**
 * Map's own `set`: the entries read are the map's starting point, not changes to track, and
 * IdMap's override would cost a call per entry (a thousand in a run).
 */
const mapSet = Map.prototype.set;

/**
 * Parses an ID map as parseIdMap, and tells whether its text is canonical with `ending` after it.
 * With `warn`, a map that is no JSON object is reported and read as empty (`broken`), and an entry
 * whose value is no ID in uid_t's range is reported and forgotten: a state file of ours must not
 * fail every later run. Without it, either is a StateError.
 */
export function readIdMap(file: string, text: string | null, ending = "", warn?: (line: string) => void): ReadIdMap {
  const map = new IdMap();
  if (text === null || text.trim() === "") return { map, canonical: false };
  const broken = (why: string): ReadIdMap => {
    if (!warn) throw new StateError(`${file}: ${why}`);
    warn(`warning: ${file}: ${why}; the IDs it remembers are forgotten and it is written anew`);
    return { map, canonical: false, broken: true };
  };
  if (nestsTooDeeply(text)) return broken("nested too deeply for an ID map");
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    // The parser's message may quote a token of the file: printed escaped, it cannot forge a line.
    return broken(`invalid JSON: ${printable((e as Error).message)}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return broken("expected a JSON object");
  // Canonical: numbers only, keys ascending (no key above U+D7FF, where `<` is the byte order), compact.
  let canonical = !HIGH.test(text);
  let prev: string | undefined;
  for (const k in v) {
    const raw = (v as Record<string, unknown>)[k];
    // Perl may have stored an ID as a string ("5"); accept both.
    const id = typeof raw === "number" ? raw : typeof raw === "string" && /^\d{1,10}$/.test(raw) ? +raw : undefined;
    if (typeof raw !== "number") canonical = false;
    if (id === undefined || !Number.isInteger(id) || id < 0 || id > MAX_ID) {
      if (!warn) throw new StateError(`${file}: ${JSON.stringify(k)}: expected an ID`);
      warn(`warning: ${file}: ${JSON.stringify(k)}: not an ID from 0 to ${MAX_ID}; forgotten`);
      canonical = false;
      continue;
    }
    if (canonical && prev !== undefined && !(prev < k)) canonical = false;
    prev = k;
    mapSet.call(map, k, id);
  }
  canonical &&= JSON.stringify(v) + ending === text;
  if (canonical) map.readFrom(text);
  return { map, canonical };
}

/** Serializes an ID map canonically, as Perl's `to_json($m, {canonical => 1})`. */
export function serializeIdMap(map: ReadonlyMap<string, number>): string {
  // A loop, not a spread: spreading a Map's iterator costs twice as much in the interpreter.
  const keys: string[] = [];
  for (const k of map.keys()) keys.push(k);
  const joined = keys.join("");
  sortStringsBytewise(keys, joined);
  // Keys JSON writes as they are (no quote, backslash, control character or surrogate: always so
  // for valid user and group names) are quoted directly; one test over all of them decides.
  const plain = !NEEDS_ESCAPE.test(joined);
  const parts = new Array<string>(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    parts[i] = plain ? `"${k}":${map.get(k)}` : `${JSON.stringify(k)}:${map.get(k)}`;
  }
  return "{" + parts.join(",") + "}";
}

/** What JSON.stringify writes escaped in a string: `"`, `\\`, control characters, surrogates. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** Whitespace other than a single space between two names. */
const OTHER_SPACE = /\s\s|[^\S ]/;

/** Parses a space-separated name list. */
export function parseNameList(text: string | null): Set<string> {
  const trimmed = (text ?? "").trim();
  if (trimmed === "") return new Set();
  // Written by us or the Perl script: one space between names, split without a regular expression.
  return new Set(OTHER_SPACE.test(trimmed) ? trimmed.split(/\s+/) : trimmed.split(" "));
}

/** Serializes a name list sorted, space-separated, without a newline. */
export function serializeNameList(names: Iterable<string>): string {
  const list: string[] = [];
  for (const n of names) list.push(n);
  return sortStringsBytewise(list).join(" ");
}
