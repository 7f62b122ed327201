/**
 * NixOS's Rust switch-to-configuration-ng, built from the reference sources and cached, as the
 * oracle the differential tests compare stagehand with.
 *
 * `../shared/tools/ng-build/build.sh` does the build (a Debian trixie chroot with Debian's Rust
 * crates; several minutes on two cores). The result is cached under a key hashed from everything
 * the build reads (the ng sources, build.sh, its patches and vendored code), so CI rebuilds only
 * when one of them changes; the chroot itself is kept and reused across keys. Concurrent callers
 * wait on a lock. The binary needs glibc >= 2.39: it runs inside a trixie container only.
 */
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join, relative } from "node:path";
import type { Container } from "./container.ts";
import { buildCached, CACHE_DIR } from "./cache.ts";
import { SHARED_DIR } from "./shared.ts";

const REPO_ROOT = join(import.meta.dir, "..", "..");
/** The shared reference material beside the repository (read-only). */
/** ng's sources, the behaviour of record. */
export const NG_SOURCES = join(SHARED_DIR, "reference/pkgs/by-name/sw/switch-to-configuration-ng");
/** The build script and what it applies. */
export const NG_BUILD_DIR = join(SHARED_DIR, "tools/ng-build");
/** Where ng is installed inside a container. */
export const NG_IN_CONTAINER = "/usr/local/bin/switch-to-configuration-ng";

/** Every file below `dir` (symlinks by their target), as sorted relative paths. */
function filesBelow(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(dir, r));
    if (st.isDirectory()) out.push(...filesBelow(dir, r));
    else out.push(r);
  }
  return out;
}

/** A hash of everything the build reads: a changed source, patch or script makes a new key. */
export function ngSourceKey(): string {
  const h = createHash("sha256");
  for (const dir of [NG_SOURCES, NG_BUILD_DIR]) {
    if (!existsSync(dir)) throw new Error(`ng reference sources missing: ${dir} (set STAGEHAND_SHARED)`);
    for (const r of filesBelow(dir)) {
      const p = join(dir, r);
      const st = lstatSync(p);
      h.update(`${relative(SHARED_DIR, dir)}/${r}\0${(st.mode & 0o111) !== 0 ? "x" : "-"}\0`);
      h.update(st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : readFileSync(p));
      h.update("\0");
    }
  }
  return h.digest("hex").slice(0, 12);
}

/** The cache directory of the current sources' build. */
export function ngCachePath(): string {
  return join(CACHE_DIR, `ng-${ngSourceKey()}`);
}

/**
 * Builds ng once per source key and returns the host path of the binary. The first build takes
 * several minutes (debootstrap, apt, cargo); later calls return at once. Build output goes to
 * `build.log` beside the binary; a failed build throws with its tail.
 */
export function ensureNg(): string {
  const dir = ngCachePath();
  // One lock for all keys: they share the build chroot.
  buildCached(dir, (tmp) => {
    const logFile = join(tmp, "build.log");
    const logFd = openSync(logFile, "w");
    let r;
    try {
      r = spawnSync("bash", [join(NG_BUILD_DIR, "build.sh")], {
        env: { ...process.env, ROOT: join(CACHE_DIR, "ng-build-root"), OUT: tmp, SRC: NG_SOURCES },
        stdio: ["ignore", logFd, logFd],
      });
    } finally {
      closeSync(logFd);
    }
    const tail = () => readFileSync(logFile, "utf8").split("\n").slice(-60).join("\n");
    if (r.error || r.status !== 0) throw new Error(`ng build failed (${r.error?.message ?? `exit ${r.status}`}), log ${logFile}:\n${tail()}`);
    if (!existsSync(join(tmp, "switch-to-configuration-ng"))) throw new Error(`ng build produced no binary, log ${logFile}:\n${tail()}`);
    // build.sh goes on when ng's own unit tests fail; an oracle failing its own tests is no oracle.
    if (!/\(cargo test rc=0\)/.test(readFileSync(logFile, "utf8"))) throw new Error(`ng's unit tests failed, log ${logFile}:\n${tail()}`);
  }, join(CACHE_DIR, "ng-build.lock"));
  return join(dir, "switch-to-configuration-ng");
}

/**
 * Copies ng into a (trixie) container as NG_IN_CONTAINER and checks that it runs there (its usage
 * text, not a loader error). A generation runs it with `switchBinary: NG_IN_CONTAINER`: the
 * harness's wrapper sets ng's environment (OUT, TOPLEVEL, DISTRO_ID, ...) and argv0 as NixOS's does.
 */
export function installNg(c: Container, binary = ensureNg()): string {
  c.copyIn(binary, NG_IN_CONTAINER, 0o755);
  const r = c.exec(["/bin/bash", "-c", `exec -a switch-to-configuration ${NG_IN_CONTAINER} 2>&1; true`]);
  if (!/Usage: switch-to-configuration/.test(r.stdout)) {
    throw new Error(`ng does not run in ${c.name} (it needs glibc >= 2.39: a trixie container):\n${r.stdout}${r.stderr}`);
  }
  return NG_IN_CONTAINER;
}

/** Where `ngWrapper` puts ng's wrapper inside a generation. */
const NG_WRAPPER_DIR = "libexec/ng-oracle";

/**
 * A second switch-to-configuration for a built generation that runs ng instead of stagehand: the
 * same wrapper (NixOS's environment, `exec -a "$0"`) with only the binary changed, named
 * `switch-to-configuration` so ng's argv0 is NixOS's. Returns its path inside the container.
 * `root` is the container's root on the host; the generation must use the default switch binary.
 */
export function ngWrapper(root: string, toplevel: string): string {
  const wrapper = readFileSync(join(root, toplevel, "bin/switch-to-configuration"), "utf8");
  const target = "'/usr/local/bin/stagehand'";
  if (!wrapper.includes(`exec -a "$0" ${target} "$@"`)) throw new Error(`${toplevel}: not a stagehand wrapper:\n${wrapper}`);
  const path = join(toplevel, NG_WRAPPER_DIR, "switch-to-configuration");
  mkdirSync(join(root, toplevel, NG_WRAPPER_DIR), { recursive: true });
  writeFileSync(join(root, path), wrapper.replace(`exec -a "$0" ${target}`, `exec -a "$0" '${NG_IN_CONTAINER}'`), { mode: 0o555 });
  return path;
}
