/**
 * The tree test/unit/nixos/fixtures/real-eval/eval.nix evaluates (see that file): the reference
 * nixpkgs of 2026 with the stand-in for its absent nixos/modules/system/build.nix and the real
 * activation-script.nix and 25.11-era top-level.nix of ../shared/reference, this repository's
 * nixos/ and package files, and the fixtures. Copied (a few MiB), so nothing under shared/ is written.
 */
import { copyFileSync, cpSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { NIXPKGS_2026 } from "../../harness/nix.ts";
import { SHARED_DIR } from "../../harness/shared.ts";
import { tempDir } from "../tmp.ts";

const ROOT = join(import.meta.dir, "../../..");
/** The older (25.11-era) copies of the activation modules: both builder-command options, activation-script.nix. */
const REFERENCE_ACTIVATION = join(SHARED_DIR, "reference/nixos/modules/system/activation");

/** Lays the tree out in a fresh temporary directory and returns it. */
export function makeEvalTree(): string {
  for (const p of [NIXPKGS_2026, REFERENCE_ACTIVATION]) {
    if (!existsSync(p)) throw new Error(`reference sources missing: ${p} (set STAGEHAND_SHARED to the shared directory)`);
  }
  const dir = tempDir("stagehand-nixeval-");
  const nixpkgs = join(dir, "nixpkgs");
  const activation = join(nixpkgs, "nixos/modules/system/activation");
  cpSync(NIXPKGS_2026, nixpkgs, { recursive: true });
  copyFileSync(join(import.meta.dir, "fixtures/real-eval/build.nix"), join(nixpkgs, "nixos/modules/system/build.nix"));
  copyFileSync(join(REFERENCE_ACTIVATION, "activation-script.nix"), join(activation, "activation-script.nix"));
  copyFileSync(join(REFERENCE_ACTIVATION, "top-level.nix"), join(activation, "top-level-25.11.nix"));
  mkdirSync(join(dir, "stagehand"));
  cpSync(join(ROOT, "nixos"), join(dir, "stagehand/nixos"), { recursive: true });
  for (const f of ["package.json", "package-lock.json"]) copyFileSync(join(ROOT, f), join(dir, "stagehand", f));
  cpSync(join(import.meta.dir, "fixtures"), join(dir, "fixtures"), { recursive: true });
  return dir;
}
