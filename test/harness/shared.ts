/**
 * Where the upstream reference material is: `$STAGEHAND_SHARED`, else `../shared` beside the
 * repository (as on the developers' machines and in CI), else `../shared` beside the checkout this
 * one was cloned from, when that is a local directory (`git clone -q . /tmp/fresh` to test a fresh
 * clone elsewhere). Tests and benches find the Perl originals, ng's sources and nixpkgs' lib here,
 * never by an absolute path.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { isAbsolute, join } from "node:path";

/** The repository root. */
const REPO_ROOT = join(import.meta.dir, "..", "..");

/** `../shared` beside the local checkout this repository was cloned from, if there is one. */
function besideOrigin(): string | undefined {
  const r = spawnSync("git", ["-C", REPO_ROOT, "config", "--get", "remote.origin.url"], { encoding: "utf8" });
  const url = r.status === 0 ? r.stdout.trim().replace(/^file:\/\//, "") : "";
  if (!isAbsolute(url)) return undefined;
  const dir = join(url, "..", "shared");
  return existsSync(dir) ? dir : undefined;
}

function findShared(): string {
  if (process.env.STAGEHAND_SHARED) return process.env.STAGEHAND_SHARED;
  const beside = join(REPO_ROOT, "..", "shared");
  return existsSync(beside) ? beside : besideOrigin() ?? beside;
}

/** The shared directory (read-only reference sources and tools). */
export const SHARED_DIR = findShared();

/** A path under the shared directory's `reference/`. */
export function reference(path: string): string {
  return join(SHARED_DIR, "reference", path);
}
