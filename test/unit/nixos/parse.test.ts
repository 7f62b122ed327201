/**
 * Every .nix file under nixos/ parses (`nix-instantiate --parse`): the NixOS VM tests cannot run on
 * CI, so at least a syntax error in the module, the package or a test fails here.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { tempDir } from "../tmp.ts";

const ROOT = join(import.meta.dir, "../../..");
const NIXOS = join(ROOT, "nixos");

function nixFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return nixFiles(p);
    return e.name.endsWith(".nix") ? [p] : [];
  }).sort();
}

/** The parser's complaint, or null when the file parses. */
function parseError(file: string): string | null {
  const r = spawnSync("nix-instantiate", ["--parse", file], { encoding: "utf8" });
  if (r.error) throw new Error(`cannot run nix-instantiate (Debian package nix-bin; test/setup-host.sh installs it): ${r.error.message}`);
  return r.status === 0 ? null : r.stderr.trim();
}

test("nixos/ holds the module, the package and the VM tests", () => {
  const files = nixFiles(NIXOS).map((f) => relative(NIXOS, f));
  for (const f of ["module.nix", "package.nix", "tests/switch.nix", "tests/initrd-etc.nix", "tests/users.nix", "tests/perlless.nix"]) {
    assert.ok(files.includes(f), `nixos/${f} exists`);
  }
});

test("every .nix file under nixos/ parses", () => {
  const failures = nixFiles(NIXOS).flatMap((f) => {
    const e = parseError(f);
    return e === null ? [] : [`${relative(ROOT, f)}: ${e}`];
  });
  assert.equal(failures, [], failures.join("\n"));
});

test("the check catches a syntax error", () => {
  const dir = tempDir("nixos-parse-");
  try {
    const bad = join(dir, "bad.nix");
    writeFileSync(bad, "{ config, ... }: { foo = ; }\n");
    assert.ok(parseError(bad), "a broken file is reported");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
