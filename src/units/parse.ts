/**
 * systemd unit file syntax, read the way switch-to-configuration-ng reads it: sections of
 * `Key=Value` assignments, repeated keys accumulate, an empty assignment clears what came before,
 * `#`/`;` start comment lines, a trailing backslash continues a value on the next line (comment
 * lines inside a continuation are skipped, as systemd does), and backslashes are otherwise kept
 * literally (unit names such as `mnt-my\x2ddata.mount` must survive, NixOS #315602).
 */

/** Section name -> key -> values in order (ng's `UnitInfo`). `[Install]` is never kept. */
export type UnitInfo = Record<string, Record<string, string[]>>;

/** A unit file that cannot be read as systemd syntax; names the file and the line. */
export class UnitParseError extends Error {
  override name = "UnitParseError";
  constructor(readonly path: string, readonly line: number, why: string) {
    super(`${path}:${line}: ${why}`);
  }
}

/** A line continues on the next one when it ends in an odd number of backslashes (a doubled backslash is a literal one). */
function continues(line: string): boolean {
  let n = 0;
  for (let i = line.length - 1; i >= 0 && line[i] === "\\"; i--) n++;
  return n % 2 === 1;
}

/** A fresh, empty UnitInfo (no prototype, so any section or key name is safe). */
export function emptyUnitInfo(): UnitInfo {
  return Object.create(null) as UnitInfo;
}

/**
 * Merges one file (a unit or one of its drop-ins) into `info`. Later files extend earlier ones;
 * an empty value resets the key, so drop-ins can replace `ExecStart=` and the like.
 */
export function parseUnitText(info: UnitInfo, text: string, path: string): void {
  const lines = text.split("\n");
  let section: string | undefined;
  let pending: { start: number; text: string } | undefined;

  const assign = (raw: string, lineNo: number) => {
    const eq = raw.indexOf("=");
    if (eq < 0) throw new UnitParseError(path, lineNo, `expected "Key=Value", found ${JSON.stringify(raw.trim())}`);
    const key = raw.slice(0, eq).trim();
    const value = raw.slice(eq + 1).trim();
    if (key === "") throw new UnitParseError(path, lineNo, "assignment without a key");
    // Assignments before any section header are ignored (ng keeps only named sections).
    if (section === undefined || section === "Install") return;
    const sec = (info[section] ??= Object.create(null) as Record<string, string[]>);
    const values = (sec[key] ??= []);
    if (value === "") values.length = 0;
    else values.push(value);
  };

  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith("\r")) line = line.slice(0, -1);
    const trimmed = line.trim();
    const lineNo = i + 1;
    if (pending) {
      // A comment line inside a continued value is dropped; the value goes on.
      if (trimmed.startsWith("#") || trimmed.startsWith(";")) continue;
      if (continues(line)) {
        pending.text += line.slice(0, -1) + " ";
        continue;
      }
      pending.text += line;
      assign(pending.text, pending.start);
      pending = undefined;
      continue;
    }
    if (trimmed === "" || trimmed.startsWith("#") || trimmed.startsWith(";")) continue;
    if (trimmed.startsWith("[")) {
      if (!trimmed.endsWith("]") || trimmed.length < 3) throw new UnitParseError(path, lineNo, `malformed section header ${JSON.stringify(trimmed)}`);
      section = trimmed.slice(1, -1);
      if (section !== "Install") info[section] ??= Object.create(null) as Record<string, string[]>;
      continue;
    }
    if (continues(line)) {
      pending = { start: lineNo, text: line.slice(0, -1) + " " };
      continue;
    }
    assign(line, lineNo);
  }
  if (pending) assign(pending.text, pending.start);
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
