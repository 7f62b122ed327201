/**
 * systemd unit file syntax, read line for line as systemd's own config parser reads it (it runs the
 * unit, so its reading is the one that counts), kept as switch-to-configuration-ng keeps it:
 * sections of `Key=Value` assignments, repeated keys accumulate, an empty assignment clears what
 * came before, and every section but `[Install]` is kept (ng compares `X-` sections too).
 *
 * The lexing is systemd's (conf-parser.c, read_line): a line ends at LF, at CR, at CR LF or LF CR,
 * and at NUL; a line of LONG_LINE_MAX bytes or more fails the file; lines whose first non-blank is
 * `#` or `;` are comments, also inside a continuation; a trailing unescaped backslash continues the
 * line (the backslash becomes a space); one UTF-8 byte order mark is dropped; keys and values are
 * stripped of space, tab, CR and LF only. A line without `=`, with an empty key, or before any
 * section is ignored (systemd warns and goes on); an unterminated section header, a header with
 * control characters, quotes or backslashes, and a line that is not UTF-8 fail the file, as they
 * make systemd refuse to load the unit. Backslashes are otherwise literal (`mnt-my\x2ddata.mount`
 * must survive, NixOS #315602) and quotes are kept: both belong to each setting, not the syntax.
 */
import { decodeUtf8 } from "../text/utf8.ts";

/** Section name -> key -> values in order (ng's `UnitInfo`). `[Install]` is never kept. */
export type UnitInfo = Record<string, Record<string, string[]>>;

/**
 * The most section headers and settings one file may hold. systemd sets no such limit, but each
 * parsed one costs some 100 bytes beside its text (a 4 MiB file of `[sN]` headers took 150 MB),
 * and NixOS's largest units have a few hundred.
 */
export const MAX_UNIT_ENTRIES = 65_536;

/** systemd's LONG_LINE_MAX (1 MiB): a line, or a continued line, this long or longer fails the file. */
export const LONG_LINE_MAX = 1 << 20;

/** A unit file that systemd would refuse to load; names the file and the line, never quotes it. */
export class UnitParseError extends Error {
  override name = "UnitParseError";
  constructor(readonly path: string, readonly line: number, why: string) {
    super(`${path}:${line}: ${why}`);
  }
}

/** A fresh, empty UnitInfo (no prototype, so any section or key name is safe). */
export function emptyUnitInfo(): UnitInfo {
  return Object.create(null) as UnitInfo;
}

const EOL_TEN = 1;
const EOL_THIRTEEN = 2;
const EOL_ZERO = 4;

function eolKind(c: number): number {
  return c === 10 ? EOL_TEN : c === 13 ? EOL_THIRTEEN : c === 0 ? EOL_ZERO : 0;
}

/** Whether a UTF-16 code unit is one of WHITESPACE. */
function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** systemd's strstrip: WHITESPACE only (not the Unicode spaces String#trim also removes). */
function strstrip(s: string): string {
  // Most keys and values have no surrounding blanks at all: the native trim says so cheaply.
  if (s.trim().length === s.length) return s;
  let a = 0;
  let b = s.length;
  while (a < b && isBlank(s.charCodeAt(a))) a++;
  while (b > a && isBlank(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/**
 * read_line's lines: up to the next LF, CR or NUL; then the line end, which is one of each of LF
 * and CR in either order, or a NUL (possibly after them), but never two of a kind. Nothing after
 * the last line end is no line.
 */
function splitLines(text: string): string[] {
  if (text.indexOf("\r") < 0 && text.indexOf("\0") < 0) {
    // The usual file: LF only, so each LF is one line end.
    const lines = text.split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    return lines;
  }
  const lines: string[] = [];
  const eolRe = /[\n\r\0]/g;
  const n = text.length;
  let pos = 0;
  while (pos < n) {
    eolRe.lastIndex = pos;
    const m = eolRe.exec(text);
    const end = m ? m.index : n;
    lines.push(text.slice(pos, end));
    pos = end;
    let seen = 0;
    while (pos < n && !(seen & EOL_ZERO)) {
      const kind = eolKind(text.charCodeAt(pos));
      if (kind === 0 || (seen & kind) !== 0) break;
      seen |= kind;
      pos++;
    }
  }
  return lines;
}

/** string_is_safe: no control characters, quotes or backslashes (for section names). */
function isSafeSectionName(n: string): boolean {
  for (let i = 0; i < n.length; i++) {
    const c = n.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x22 || c === 0x27 || c === 0x5c) return false;
  }
  return true;
}

/** The file's characters: its UTF-8 text when it is valid, else one char per byte (`binary`). */
interface Source {
  text: string;
  /** True: `text` is decoded UTF-8. False: one char per byte; each logical line is checked and decoded. */
  decoded: boolean;
}

function sourceOf(content: string | Uint8Array): Source {
  if (typeof content === "string") return { text: content, decoded: true };
  const text = decodeUtf8(content);
  if (text !== undefined) return { text, decoded: true };
  return { text: Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString("latin1"), decoded: false };
}

/** Length in bytes of a piece of `src` (UTF-8 length for decoded text, else one byte a char). */
function byteLength(src: Source, s: string): number {
  return src.decoded ? Buffer.byteLength(s, "utf8") : s.length;
}

/** Whether a line of `src` is LONG_LINE_MAX bytes or longer. */
function tooLong(src: Source, s: string): boolean {
  // A UTF-16 code unit is at most 3 UTF-8 bytes: only long strings need counting.
  return s.length >= LONG_LINE_MAX || (s.length * 3 >= LONG_LINE_MAX && byteLength(src, s) >= LONG_LINE_MAX);
}

/**
 * Merges one file (a unit or one of its drop-ins) into `info`. Later files extend earlier ones;
 * an empty value resets the key, so drop-ins can replace `ExecStart=` and the like. `content` is
 * the file's bytes (or, from an in-memory directory, its text). Throws UnitParseError where
 * systemd would refuse the file.
 */
export function parseUnitText(info: UnitInfo, content: string | Uint8Array, path: string): void {
  const src = sourceOf(content);
  const bom = src.decoded ? "\ufeff" : "\xef\xbb\xbf";
  let section: string | undefined;
  let bomSeen = false;
  /** The pieces of a line continued so far (undefined: none), and their length in bytes. */
  let continuation: string[] | undefined;
  let continuationBytes = 0;
  let lineNo = 0;
  let entries = 0;

  /** systemd's parse_line for one logical line. */
  const parseLine = (raw: string): void => {
    let l = strstrip(raw);
    if (l === "") return;
    if (++entries > MAX_UNIT_ENTRIES) throw new UnitParseError(path, lineNo, `more than ${MAX_UNIT_ENTRIES} sections and settings`);
    if (!src.decoded) {
      // systemd checks each logical line it parses: one that is not UTF-8 fails the file.
      const decoded = decodeUtf8(Buffer.from(l, "latin1"));
      if (decoded === undefined) throw new UnitParseError(path, lineNo, "line is not valid UTF-8");
      l = decoded;
    }
    if (l[0] === "[") {
      if (l[l.length - 1] !== "]" || l.length < 2) throw new UnitParseError(path, lineNo, "invalid section header (no closing \"]\")");
      const name = l.slice(1, -1);
      if (!isSafeSectionName(name)) throw new UnitParseError(path, lineNo, "bad characters in section header");
      section = name;
      if (section !== "Install") info[section] ??= Object.create(null) as Record<string, string[]>;
      return;
    }
    // Outside of any section, without "=", or without a key: systemd warns and ignores the line.
    if (section === undefined) return;
    const eq = l.indexOf("=");
    if (eq <= 0) return;
    if (section === "Install") return;
    const key = strstrip(l.slice(0, eq));
    const value = strstrip(l.slice(eq + 1));
    const sec = (info[section] ??= Object.create(null) as Record<string, string[]>);
    const values = (sec[key] ??= []);
    if (value === "") values.length = 0;
    else values.push(value);
  };

  for (let line of splitLines(src.text)) {
    lineNo++;
    if (tooLong(src, line)) throw new UnitParseError(path, lineNo, `line too long (systemd refuses lines of ${LONG_LINE_MAX} bytes or more)`);
    // A comment: "#" or ";" as the first character after blanks.
    let first = line.charCodeAt(0);
    if (isBlank(first)) {
      let i = 1;
      while (i < line.length && isBlank(line.charCodeAt(i))) i++;
      first = line.charCodeAt(i);
    }
    if (first === 0x23 || first === 0x3b) continue;
    if (!bomSeen && line.startsWith(bom)) {
      line = line.slice(bom.length);
      bomSeen = true;
    }
    if (continuation !== undefined && continuationBytes + byteLength(src, line) > LONG_LINE_MAX) {
      throw new UnitParseError(path, lineNo, `continued line too long (systemd refuses more than ${LONG_LINE_MAX} bytes)`);
    }
    // An odd run of trailing backslashes continues the line; the last one becomes a space. (The
    // run lies within this line: a continued line's last backslash is a space by now.) The pieces
    // are joined once the line is complete, so many short continued lines cost linear time.
    let k = 0;
    for (let j = line.length - 1; j >= 0 && line.charCodeAt(j) === 0x5c; j--) k++;
    if (k % 2 === 1) {
      (continuation ??= []).push(line.slice(0, -1) + " ");
      continuationBytes += byteLength(src, line);
      continue;
    }
    if (continuation !== undefined) {
      continuation.push(line);
      line = continuation.join("");
      continuation = undefined;
      continuationBytes = 0;
    }
    parseLine(line);
  }
  if (continuation !== undefined) {
    lineNo++;
    parseLine(continuation.join(""));
  }
}

/**
 * systemd boolean lookup as ng does it: the last value of `section.key` is true when it is
 * 1/yes/true/on; a missing section, key or value gives `dflt`.
 */
export function parseSystemdBool(info: UnitInfo | undefined, section: string, key: string, dflt: boolean): boolean {
  const values = info?.[section]?.[key];
  if (!values || values.length === 0) return dflt;
  return ["1", "yes", "true", "on"].includes(values[values.length - 1]!);
}
