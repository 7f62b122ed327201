/**
 * A small JSON reader that remembers the line each value starts on, so spec errors can name
 * `file: line N: users[2].name: ...` instead of only a JSON path. Multi-line JSON is fine.
 */

/** A JSON syntax error, with the 1-based line it was found on. */
export class JsonSyntaxError extends Error {
  constructor(message: string, readonly line: number) {
    super(message);
  }
  override name = "JsonSyntaxError";
}

/** A parsed document: the value, and the line of each value keyed by its JSON path (`users[0].name`). */
export interface LocatedJson {
  value: unknown;
  lines: Map<string, number>;
}

/** How deep arrays and objects may nest (a users spec needs 4 levels). */
const MAX_DEPTH = 256;

/** Parses `text` as JSON, recording the line of each value. */
function parseLocatedJson(text: string): LocatedJson {
  const lines = new Map<string, number>();
  let pos = 0;
  let line = 1;
  const fail = (what: string): never => {
    throw new JsonSyntaxError(pos >= text.length ? `unexpected end of input (${what})` : `unexpected ${JSON.stringify(text[pos])} (${what})`, line);
  };
  const ws = () => {
    while (pos < text.length) {
      const c = text[pos]!;
      if (c === "\n") line++;
      else if (c !== " " && c !== "\t" && c !== "\r") break;
      pos++;
    }
  };
  const str = (): string => {
    const start = pos;
    pos++; // opening quote
    while (pos < text.length) {
      const c = text[pos]!;
      if (c === '"') break;
      if (c === "\\") pos++;
      else if (c === "\n" || c < " ") fail("control character in string");
      pos++;
    }
    if (pos >= text.length) fail("unterminated string");
    pos++;
    try {
      return JSON.parse(text.slice(start, pos)) as string;
    } catch {
      return fail("invalid escape in string");
    }
  };
  const val = (path: string, depth: number): unknown => {
    // A hostile document nested deeper would overflow the stack (an untyped RangeError).
    if (depth > MAX_DEPTH) throw new JsonSyntaxError(`nested deeper than ${MAX_DEPTH} levels`, line);
    ws();
    lines.set(path, line);
    const c = text[pos];
    if (c === "{") {
      pos++;
      const o: Record<string, unknown> = {};
      ws();
      if (text[pos] === "}") { pos++; return o; }
      for (;;) {
        ws();
        if (text[pos] !== '"') fail("expected a key");
        const k = str();
        ws();
        if (text[pos] !== ":") fail("expected ':'");
        pos++;
        if (Object.hasOwn(o, k)) throw new JsonSyntaxError(`duplicate key ${JSON.stringify(k)}`, line);
        o[k] = val(path === "" ? k : `${path}.${k}`, depth + 1);
        ws();
        if (text[pos] === ",") { pos++; continue; }
        if (text[pos] === "}") { pos++; return o; }
        fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      pos++;
      const a: unknown[] = [];
      ws();
      if (text[pos] === "]") { pos++; return a; }
      for (;;) {
        a.push(val(`${path}[${a.length}]`, depth + 1));
        ws();
        if (text[pos] === ",") { pos++; continue; }
        if (text[pos] === "]") { pos++; return a; }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    const m = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(pos, pos + 64));
    if (!m) return fail("expected a value");
    pos += m[0].length;
    return JSON.parse(m[0]);
  };
  const value = val("", 0);
  ws();
  if (pos < text.length) fail("trailing data after the document");
  return { value, lines };
}

/** A parsed document whose line map is only computed when first asked for (an error message). */
export interface LazyLocatedJson {
  value: unknown;
  /** Line of each value by JSON path; built on first call by re-reading the text. */
  lines(): Map<string, number>;
}

/** Counts the keys of every object in a parsed JSON value (recursing only into objects and arrays). */
function countKeys(v: object): number {
  let n = 0;
  if (Array.isArray(v)) {
    for (const x of v) if (typeof x === "object" && x !== null) n += countKeys(x);
    return n;
  }
  for (const k in v) {
    n++;
    const x = (v as Record<string, unknown>)[k];
    if (typeof x === "object" && x !== null) n += countKeys(x);
  }
  return n;
}

/** A JSON string token followed by ':' (outside strings valid JSON has no quote, so matches stay aligned). */
const KEY_TOKEN = /"(?:[^"\\]|\\.)*"\s*:/g;

/**
 * Same result and errors as `parseLocatedJson`, but fast on valid input: the native `JSON.parse`
 * reads the document, and the located reader only runs when that fails (for the line of the syntax
 * error), when keys are repeated (which `JSON.parse` would silently merge), or when a validation
 * message asks for `lines()`.
 */
export function parseJsonLazily(text: string): LazyLocatedJson {
  if (nestsTooDeeply(text)) parseLocatedJson(text); // throws the located depth error
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const located = parseLocatedJson(text); // throws the located JsonSyntaxError
    return { value: located.value, lines: () => located.lines };
  }
  // No key was merged away when the parsed objects hold as many keys as the text has key tokens.
  // Cheapest proof first: compact JSON (what Nix's builtins.toJSON writes) that serializes back to
  // the same text has exactly the parsed keys; else the key tokens are counted.
  if (!isReserialization(value, text)) {
    const keys = typeof value === "object" && value !== null ? countKeys(value) : 0;
    if ((text.match(KEY_TOKEN)?.length ?? 0) !== keys) {
      const located = parseLocatedJson(text); // throws for a duplicate key
      return { value: located.value, lines: () => located.lines };
    }
  }
  let lines: Map<string, number> | undefined;
  return { value, lines: () => (lines ??= parseLocatedJson(text).lines) };
}

/** From which size (characters) a text's nesting is scanned before JSON.parse builds it. */
const SCAN_FROM = 1 << 20;

/**
 * Whether arrays and objects in `text` nest deeper than MAX_DEPTH (brackets inside strings
 * skipped), checked only for texts over SCAN_FROM: JSON.parse nests without limit, and 64 MiB of
 * `[` would take seconds and gigabytes, while a smaller text costs tens of MiB at most.
 */
export function nestsTooDeeply(text: string): boolean {
  if (text.length <= SCAN_FROM) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_DEPTH) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** Whether `text` is exactly `JSON.stringify(value)`, give or take one final newline. */
function isReserialization(value: unknown, text: string): boolean {
  const again = JSON.stringify(value);
  return again === text || (text.length === again.length + 1 && text.endsWith("\n") && text.startsWith(again));
}
