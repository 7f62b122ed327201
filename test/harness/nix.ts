/**
 * A Nix that current nixpkgs accepts, for tests that evaluate NixOS modules.
 *
 * nixpkgs' `lib` needs Nix ≥ 2.18 (lib/minfeatures.nix); the host is Debian bookworm, whose nix-bin
 * is 2.8. Debian trixie's nix-bin (2.26) is new enough, so tests get it from a small trixie root
 * (debootstrap minbase + nix-bin), built once into the cache beside the container rootfs and run
 * through chroot. Each evaluation runs in its own mount namespace: a private tmpfs holds the store
 * and state Nix writes, and the caller's directory is bind-mounted read-only, so the cached root
 * is never written to after it is built and evaluations are independent.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { buildCached, CACHE_DIR, debootstrap } from "./cache.ts";
import { debianMirror } from "./rootfs.ts";
import { SHARED_DIR } from "./shared.ts";

/** The Debian suite whose nix-bin the tests use, and the packages beyond minbase. */
export const NIX_SUITE = "trixie";
// libdbi-perl provides the virtual perl-dbdabi-94 that nix-bin's libdbd-sqlite3-perl needs; debootstrap
// does not resolve virtual packages.
const NIX_PACKAGES = ["nix-bin", "libdbi-perl"];
/** The oldest Nix nixpkgs' lib evaluates with (lib/minfeatures.nix). */
export const MIN_NIX_VERSION = "2.18";

/** Where the evaluation directory appears inside the root. */
export const EVAL_MOUNT = "/mnt/eval";

const REPO_ROOT = join(import.meta.dir, "..", "..");
/** The shared reference material beside the repository (read-only; a fresh clone in CI has it beside it too). */
/** nixpkgs of 2026: the complete `lib` and the activation modules (see its README). */
export const NIXPKGS_2026 = join(SHARED_DIR, "reference", "nixpkgs-2026");

/** The cache path, named after its content so a changed package list builds a new one. */
export function nixRootPath(): string {
  const key = createHash("sha256").update([NIX_SUITE, ...NIX_PACKAGES].join(" ")).digest("hex").slice(0, 10);
  return join(CACHE_DIR, `nix-${NIX_SUITE}-${key}`);
}

/** Builds the root once (a minute or two) and returns its path; concurrent callers wait on a lock. */
export function ensureNixRoot(): string {
  return buildCached(nixRootPath(), (tmp) => {
    debootstrap(NIX_SUITE, NIX_PACKAGES, tmp, debianMirror());
    // apt's package lists and downloaded .debs are not needed to run nix.
    rmSync(join(tmp, "var/cache/apt/archives"), { recursive: true, force: true });
    mkdirSync(join(tmp, "var/cache/apt/archives/partial"), { recursive: true });
    // Where each evaluation mounts its private store.
    mkdirSync(join(tmp, "nix"), { recursive: true });
  });
}

/**
 * Mounts a private tmpfs over the root's /nix, /tmp and /mnt, proc on /proc, and the caller's
 * directory read-only at EVAL_MOUNT, then runs the command chrooted with only the given environment.
 * Arguments: ROOT EVALDIR NAME=VALUE... COMMAND...
 */
const RUN_IN_ROOT = `
set -eu
root="$1"; dir="$2"; shift 2
for d in nix tmp mnt; do mount -t tmpfs -o mode=0755 tmpfs "$root/$d"; done
chmod 1777 "$root/tmp"
mount -t proc proc "$root/proc"
mkdir -p "$root${EVAL_MOUNT}"
mount --bind "$dir" "$root${EVAL_MOUNT}"
mount -o remount,bind,ro "$root${EVAL_MOUNT}"
exec chroot "$root" /usr/bin/env -i "$@"
`;

/** The environment of commands in the root: nothing of the caller's, no build users (nothing is built). */
const ROOT_ENV = [
  "HOME=/tmp",
  "PATH=/usr/bin:/bin",
  "LANG=C.UTF-8",
  "NIX_CONF_DIR=/tmp",
  "NIX_STATE_DIR=/nix/var/nix",
  "NIX_CONFIG=experimental-features = nix-command\nbuild-users-group =",
];

/** The result of one command run in the Nix root. */
export interface NixRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command (e.g. `nix-instantiate ...`) in the Nix root, with `dir` visible at EVAL_MOUNT. */
export function runInNixRoot(dir: string, command: string[]): NixRun {
  const root = ensureNixRoot();
  const r = spawnSync(
    "unshare",
    ["--mount", "--propagation", "private", "--", "/bin/sh", "-c", RUN_IN_ROOT, "sh", root, dir, ...ROOT_ENV, ...command],
    { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 },
  );
  if (r.error) throw new Error(`cannot run unshare for the Nix root: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Evaluation failed: Nix's own message (which names the file and line) is kept whole. */
export class NixEvalError extends Error {
  constructor(readonly stderr: string) {
    super(`nix-instantiate --eval failed:\n${stderr}`);
    this.name = "NixEvalError";
  }
}

/**
 * Evaluates a Nix expression strictly and returns its value as JSON, with `dir` at EVAL_MOUNT
 * (refer to files there as `${EVAL_MOUNT}/...`). Warnings Nix prints (`trace:` lines, the
 * module system's `evaluation warning:`) are returned too, so a test can insist there are none.
 */
export function nixEval(dir: string, expr: string): { value: unknown; stderr: string } {
  const r = runInNixRoot(dir, ["nix-instantiate", "--eval", "--strict", "--json", "--read-write-mode", "--expr", expr]);
  if (r.status !== 0) throw new NixEvalError(r.stderr);
  return { value: JSON.parse(r.stdout), stderr: r.stderr };
}

/** The version of the Nix in the root (`nix-instantiate --version`'s number). */
export function nixVersion(): string {
  const r = runInNixRoot(REPO_ROOT, ["nix-instantiate", "--version"]);
  const m = /(\d+\.\d+(?:\.\d+)?)/.exec(r.stdout);
  if (r.status !== 0 || !m) throw new Error(`nix-instantiate --version failed:\n${r.stdout}${r.stderr}`);
  return m[1]!;
}
