/**
 * A cached Debian rootfs (debootstrap) and cheap per-test copies of it (overlayfs).
 * Containers and chroots in tests each get their own overlay, so tests are independent and the
 * cache is never written to after it is built.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { buildCached, CACHE_DIR, debootstrap } from "./cache.ts";

/** The Debian releases the system tests run on, with the systemd each ships. */
export const SUITES = ["bookworm", "trixie"] as const;
/** A Debian release the system tests run on. */
export type Suite = (typeof SUITES)[number];
/**
 * The systemd major version of each suite. NixOS 25.05 ships 257 (trixie's), older NixOS 252-ish
 * behaviour is bookworm's; tests that depend on a difference between them branch on this.
 */
export const SUITE_SYSTEMD: Record<Suite, number> = { bookworm: 252, trixie: 257 };

/**
 * The suite of this test process: env STAGEHAND_SUITE (test/run.ts sets it for every system test
 * file, once per suite), else bookworm. An unknown name is an error, not a silent fallback.
 */
export function defaultSuite(): Suite {
  const v = process.env.STAGEHAND_SUITE;
  if (v === undefined || v === "") return "bookworm";
  if ((SUITES as readonly string[]).includes(v)) return v as Suite;
  throw new Error(`STAGEHAND_SUITE=${v}: expected one of ${SUITES.join(", ")}`);
}

/**
 * Packages beyond minbase: systemd as PID 1, a bus, and what the Perl originals need. The names are
 * the same in bookworm and trixie (trixie's `dbus` is still dbus-daemon; dbus-broker is optional).
 */
export const ROOTFS_PACKAGES = [
  "systemd", "systemd-sysv", "dbus", "perl", "libconfig-inifiles-perl", "libfile-slurp-perl", "libjson-perl",
  "procps", "util-linux", "kmod", "libpam-systemd",
];

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
export function rootfsPath(suite: Suite = defaultSuite()): string {
  const key = createHash("sha256").update([suite, ...ROOTFS_PACKAGES].join(" ")).digest("hex").slice(0, 10);
  return join(CACHE_DIR, `rootfs-${suite}-${key}`);
}

/** Builds the suite's rootfs once (a minute or two) and returns its path; concurrent callers wait on a lock. */
export function ensureRootfs(suite: Suite = defaultSuite()): string {
  if (!(SUITES as readonly string[]).includes(suite)) throw new Error(`unknown suite ${suite}: expected one of ${SUITES.join(", ")}`);
  return buildCached(rootfsPath(suite), (tmp) => {
    debootstrap(suite, ROOTFS_PACKAGES, tmp, debianMirror());
    // Debian's tmpfiles would empty /tmp on every daemon-reload-triggered tmpfiles run; tests keep state there.
    // (bookworm: "D /tmp"; trixie: upstream's "q /tmp ... 10d" — either way not what a test wants.)
    rmSync(join(tmp, "usr/lib/tmpfiles.d/tmp.conf"), { force: true });
  });
}

/** The systemd major version installed in a root (from libsystemd-shared-NNN.so), or undefined. */
export function systemdVersion(root: string): number | undefined {
  const libdir = join(root, "usr/lib/x86_64-linux-gnu/systemd");
  const shared = existsSync(libdir) ? readdirSync(libdir).find((f) => /^libsystemd-shared-\d+/.test(f)) : undefined;
  const m = /^libsystemd-shared-(\d+)/.exec(shared ?? "");
  return m ? Number(m[1]) : undefined;
}

/** A writable copy of the rootfs: an overlay whose upper layer is private to the caller. */
export interface RootCopy {
  /** The merged directory to chroot or boot into. */
  dir: string;
  /** The Debian release it is a copy of. */
  suite: Suite;
  /** Unmounts and deletes the copy. */
  dispose(): void;
}

/**
 * Makes a fresh overlay copy of the cached rootfs of `suite` (default: this process's suite). With
 * `fillLower`, one more lower layer of the caller's sits above the rootfs (filled before the mount),
 * so the copy holds files of a lower layer that overlayfs treats as such (a directory there cannot be
 * renamed: EXDEV), as on the images NixOS containers and live systems run on.
 */
export function overlayRoot(prefix = "stagehand-root-", suite: Suite = defaultSuite(), fillLower?: (lower: string) => void): RootCopy {
  const rootfs = ensureRootfs(suite);
  const base = mkdtempSync(join("/tmp", prefix));
  const upper = join(base, "upper");
  const work = join(base, "work");
  const dir = join(base, "root");
  for (const d of [upper, work, dir]) mkdirSync(d);
  let lowers = rootfs;
  if (fillLower) {
    const lower = join(base, "lower");
    mkdirSync(lower);
    fillLower(lower);
    lowers = `${lower}:${rootfs}`;
  }
  execFileSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${lowers},upperdir=${upper},workdir=${work}`, dir]);
  return {
    dir,
    suite,
    dispose() {
      spawnSync("umount", ["-R", dir]);
      spawnSync("umount", ["-l", dir]);
      rmSync(base, { recursive: true, force: true });
    },
  };
}
