/**
 * Where the upstream reference material is: `../shared` beside the repository (as on the
 * developers' machines and in CI), or `$STAGEHAND_SHARED`. Tests and benches find the Perl
 * originals, ng's sources and nixpkgs' lib here, never by an absolute path.
 */
import { join } from "node:path";

/** The repository root. */
const REPO_ROOT = join(import.meta.dir, "..", "..");

/** The shared directory (read-only reference sources and tools). */
export const SHARED_DIR = process.env.STAGEHAND_SHARED ?? join(REPO_ROOT, "..", "shared");

/** A path under the shared directory's `reference/`. */
export function reference(path: string): string {
  return join(SHARED_DIR, "reference", path);
}
