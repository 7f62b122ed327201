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

/** Parses `text` as JSON, recording the line of each value. */
export function parseLocatedJson(text: string): LocatedJson {
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
  const val = (path: string): unknown => {
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
        o[k] = val(path === "" ? k : `${path}.${k}`);
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
        a.push(val(`${path}[${a.length}]`));
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
  const value = val("");
  ws();
  if (pos < text.length) fail("trailing data after the document");
  return { value, lines };
}
