/**
 * /etc/fstab as switch-to-configuration-ng reads it to decide which mounts to restart, remount or
 * stop and which swap devices to turn off: whitespace-separated fields, lines containing `#`
 * skipped entirely, lines with fewer than three fields skipped, type `swap` listed by device.
 * Beyond ng, each field is unescaped as libmount (and so systemd-fstab-generator) reads it, so
 * `/mnt/my\040disk` is the mount point `/mnt/my disk`, whose unit is `mnt-my\x20disk.mount` (ng
 * names a unit that does not exist).
 */

/** One file system line. */
export interface FstabFilesystem {
  device: string;
  fsType: string;
  options: string;
  /** 1-based line in the file, for reasons. */
  line: number;
}

/** Parsed fstab: file systems by mount point, swaps by device (the last line wins, as in ng). */
export interface Fstab {
  filesystems: Record<string, FstabFilesystem>;
  swaps: Record<string, { options: string; line: number }>;
}

/** The escapes libmount's `unmangle` decodes: the characters it mangles when writing a table. */
const UNMANGLED: Record<string, string> = { "\\040": " ", "\\011": "\t", "\\012": "\n", "\\134": "\\", "\\\\": "\\" };

/**
 * libmount's `unmangle` of an fstab field: `\040` (space), `\011` (tab), `\012` (newline), `\134`
 * and `\\` (backslash) are decoded, anything else is kept as written (`\101` stays four
 * characters), as systemd-fstab-generator on util-linux 2.38 reads it.
 */
function unmangleFstabField(field: string): string {
  if (!field.includes("\\")) return field;
  return field.replace(/\\(?:040|011|012|134|\\)/g, (m) => UNMANGLED[m]!);
}

/** Parses fstab text the way ng does, fields unescaped as libmount does (it never fails: odd lines are skipped). */
export function parseFstab(text: string): Fstab {
  const filesystems: Fstab["filesystems"] = Object.create(null);
  const swaps: Fstab["swaps"] = Object.create(null);
  text.split("\n").forEach((line, i) => {
    if (line.includes("#")) return;
    const f = line.split(/\s+/).filter((s) => s !== "").map(unmangleFstabField);
    if (f.length < 3) return;
    const [device, mountpoint, fsType] = f as [string, string, string];
    const options = f[3] ?? "";
    if (fsType === "swap") swaps[device] = { options, line: i + 1 };
    else filesystems[mountpoint] = { device, fsType, options, line: i + 1 };
  });
  return { filesystems, swaps };
}
