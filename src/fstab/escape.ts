/**
 * systemd's path escaping for unit names (`systemd-escape -p`, `unit_name_path_escape`), as ng
 * uses it to name the mount and automount units of fstab entries: leading and trailing slashes
 * dropped, repeated slashes collapsed, "/" becomes "-", the root is "-", and every byte other than
 * ASCII letters, digits, ":", "_" and a non-leading "." becomes `\xNN`. "." components are
 * dropped, as systemd's path simplification does (checked against `systemd-escape` in the tests).
 */

/** Escapes a file system path into a unit name stem (`/mnt/my-data` -> `mnt-my\x2ddata`). */
export function escapeSystemdPath(path: string): string {
  // systemd simplifies first: empty and "." components go (".." is left as is; systemd refuses it).
  const simplified = path.split("/").filter((c) => c !== "" && c !== ".").join("/");
  if (simplified === "") return "-";
  const bytes = Buffer.from(simplified, "utf8");
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const c = String.fromCharCode(b);
    if (c === "/") out += "-";
    else if (/[A-Za-z0-9:_]/.test(c) || (c === "." && i > 0)) out += c;
    else out += `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/** `systemd-escape -p --suffix=mount PATH`. */
export function mountUnitName(path: string): string {
  return `${escapeSystemdPath(path)}.mount`;
}

/** `systemd-escape -p --suffix=automount PATH`. */
export function automountUnitName(path: string): string {
  return `${escapeSystemdPath(path)}.automount`;
}
