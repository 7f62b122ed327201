/**
 * Things the tests build once per machine and keep (Debian roots, the Rust ng): a directory under
 * the cache, named after its content, complete only once it carries a marker. Built under a
 * temporary name and renamed into place, under an exclusive lock, so concurrent test processes
 * build it once and a killed build leaves nothing that looks complete.
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { flock, LOCK_EX, LOCK_UN } from "../../src/fs/libc.ts";

/** Where cached builds live (`$STAGEHAND_CACHE`, default /var/cache/stagehand). */
export const CACHE_DIR = process.env.STAGEHAND_CACHE ?? "/var/cache/stagehand";

const MARKER = ".stagehand-complete";

/** Whether the cached directory `path` is complete. */
export function isBuilt(path: string): boolean {
  return existsSync(join(path, MARKER));
}

/**
 * Returns `path`, first building it if it is not complete: `build(tmp)` fills `tmp` (empty, beside
 * `path`), then it is marked and renamed into place. `lockPath` (default `path.lock`) serialises
 * builders; builds that share other state (a build chroot) pass one lock for all.
 */
export function buildCached(path: string, build: (tmp: string) => void, lockPath = `${path}.lock`): string {
  if (isBuilt(path)) return path;
  mkdirSync(CACHE_DIR, { recursive: true });
  const lockFd = openSync(lockPath, "w");
  flock(lockFd, LOCK_EX);
  try {
    if (isBuilt(path)) return path;
    const tmp = `${path}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    build(tmp);
    writeFileSync(join(tmp, MARKER), `${new Date().toISOString()}\n`);
    rmSync(path, { recursive: true, force: true });
    renameSync(tmp, path);
    return path;
  } finally {
    flock(lockFd, LOCK_UN);
    closeSync(lockFd);
  }
}

/** debootstrap's minbase of `suite` with `packages` into `dir`, from `mirror`; throws with its output's tail. */
export function debootstrap(suite: string, packages: readonly string[], dir: string, mirror: string): void {
  const r = spawnSync("debootstrap", ["--variant=minbase", `--include=${packages.join(",")}`, suite, dir, mirror], {
    stdio: ["ignore", "pipe", "pipe"], encoding: "utf8",
  });
  if (r.error) throw new Error(`cannot run debootstrap (test/setup-host.sh installs it): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`debootstrap ${suite} failed (${r.status}):\n${(r.stdout ?? "") + (r.stderr ?? "")}`.slice(-4000));
}
