/**
 * A cached Debian rootfs (debootstrap) and cheap per-test copies of it (overlayfs).
 * Containers and chroots in tests each get their own overlay, so tests are independent and the
 * cache is never written to after it is built.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { flock, LOCK_EX, LOCK_UN } from "../../src/fs/libc.ts";

/** Packages beyond minbase: systemd as PID 1, a bus, and what the Perl originals need. */
export const ROOTFS_PACKAGES = [
  "systemd", "systemd-sysv", "dbus", "perl", "libconfig-inifiles-perl", "libfile-slurp-perl", "libjson-perl",
  "procps", "util-linux", "kmod", "libpam-systemd",
];
const SUITE = "bookworm";
const CACHE_DIR = process.env.STAGEHAND_CACHE ?? "/var/cache/stagehand";

/** The Debian mirror apt already uses on this machine. */
export function debianMirror(): string {
  const dir = "/etc/apt/sources.list.d";
  const files = existsSync(dir) ? readdirSync(dir).map((f) => join(dir, f)) : [];
  for (const f of ["/etc/apt/sources.list", ...files]) {
    if (!existsSync(f)) continue;
    const text = readFileSync(f, "utf8");
    const deb822 = /^URIs:\s*(\S+\/debian)\s*$/m.exec(text);
    if (deb822) return deb822[1]!;
    const oneLine = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\s+\S+/m.exec(text);
    if (oneLine) return oneLine[1]!;
  }
  return "http://deb.debian.org/debian";
}

/** The cache path, named after its content so a changed package list builds a new one. */
export function rootfsPath(): string {
  const key = createHash("sha256").update([SUITE, ...ROOTFS_PACKAGES].join(" ")).digest("hex").slice(0, 10);
  return join(CACHE_DIR, `rootfs-${SUITE}-${key}`);
}

/** Builds the rootfs once (about a minute) and returns its path; concurrent callers wait on a lock. */
export function ensureRootfs(): string {
  const path = rootfsPath();
  const done = join(path, ".stagehand-complete");
  if (existsSync(done)) return path;
  mkdirSync(CACHE_DIR, { recursive: true });
  const lockFd = openSync(`${path}.lock`, "w");
  flock(lockFd, LOCK_EX);
  try {
    if (existsSync(done)) return path;
    const tmp = `${path}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    const r = spawnSync("debootstrap", ["--variant=minbase", `--include=${ROOTFS_PACKAGES.join(",")}`, SUITE, tmp, debianMirror()], {
      stdio: ["ignore", "pipe", "pipe"], encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`debootstrap failed (${r.status}):\n${(r.stdout ?? "") + (r.stderr ?? "")}`.slice(-4000));
    // Debian's tmpfiles would empty /tmp on every daemon-reload-triggered tmpfiles run; tests keep state there.
    rmSync(join(tmp, "usr/lib/tmpfiles.d/tmp.conf"), { force: true });
    writeFileSync(join(tmp, ".stagehand-complete"), new Date().toISOString() + "\n");
    rmSync(path, { recursive: true, force: true });
    renameSync(tmp, path);
    return path;
  } finally {
    flock(lockFd, LOCK_UN);
    closeSync(lockFd);
  }
}

/** A writable copy of the rootfs: an overlay whose upper layer is private to the caller. */
export interface RootCopy {
  /** The merged directory to chroot or boot into. */
  dir: string;
  /** Unmounts and deletes the copy. */
  dispose(): void;
}

/** Makes a fresh overlay copy of the cached rootfs. */
export function overlayRoot(prefix = "stagehand-root-"): RootCopy {
  const lower = ensureRootfs();
  const base = mkdtempSync(join("/tmp", prefix));
  const upper = join(base, "upper");
  const work = join(base, "work");
  const dir = join(base, "root");
  for (const d of [upper, work, dir]) mkdirSync(d);
  execFileSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${lower},upperdir=${upper},workdir=${work}`, dir]);
  return {
    dir,
    dispose() {
      spawnSync("umount", ["-R", dir]);
      spawnSync("umount", ["-l", dir]);
      rmSync(base, { recursive: true, force: true });
    },
  };
}
