/**
 * /etc/fstab as switch-to-configuration-ng reads it to decide which mounts to restart, remount or
 * stop and which swap devices to turn off: whitespace-separated fields, lines containing `#`
 * skipped entirely, lines with fewer than three fields skipped, type `swap` listed by device.
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

/** Parses fstab text the way ng does (it never fails: odd lines are skipped, as mount would). */
export function parseFstab(text: string): Fstab {
  const filesystems: Fstab["filesystems"] = Object.create(null);
  const swaps: Fstab["swaps"] = Object.create(null);
  text.split("\n").forEach((line, i) => {
    if (line.includes("#")) return;
    const f = line.split(/\s+/).filter((s) => s !== "");
    if (f.length < 3) return;
    const [device, mountpoint, fsType] = f as [string, string, string];
    const options = f[3] ?? "";
    if (fsType === "swap") swaps[device] = { options, line: i + 1 };
    else filesystems[mountpoint] = { device, fsType, options, line: i + 1 };
  });
  return { filesystems, swaps };
}
