/**
 * The JSON Schemas of docs/schemas, compiled with ajv (draft 2020-12, strict), and the built binary
 * that produces the documents they describe. Tests validate what `dist/stagehand` really prints,
 * so a schema and its output cannot drift apart unnoticed.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as assert from "uvu/assert";
import Ajv2020 from "ajv/dist/2020";
import type { ValidateFunction } from "ajv";

export const REPO_ROOT = join(import.meta.dir, "..", "..", "..");
export const SCHEMA_DIR = join(REPO_ROOT, "docs", "schemas");
/** The binary under test: dist/stagehand, or $STAGEHAND_BINARY (e.g. a build of a work tree elsewhere). */
export const BINARY = process.env.STAGEHAND_BINARY || join(REPO_ROOT, "dist", "stagehand");

/** The schema names (file names less `.schema.json`). */
export const SCHEMA_NAMES = readdirSync(SCHEMA_DIR).filter((f) => f.endsWith(".schema.json")).map((f) => f.slice(0, -".schema.json".length)).sort();

/** A schema file, parsed. */
export function schemaDocument(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(SCHEMA_DIR, `${name}.schema.json`), "utf8")) as Record<string, unknown>;
}

/** One ajv instance holding every schema, so cross-file `$ref`s (status -> restart-debt) resolve. */
function compileAll(): Map<string, ValidateFunction> {
  // strict: unknown keywords, ignored keywords and keywords applied to the wrong type are schema errors
  // (`required` inside if/then may name properties declared beside it, hence strictRequired off).
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  for (const n of SCHEMA_NAMES) ajv.addSchema(schemaDocument(n));
  const out = new Map<string, ValidateFunction>();
  for (const n of SCHEMA_NAMES) out.set(n, ajv.getSchema(schemaDocument(n).$id as string)!);
  return out;
}

let compiled: Map<string, ValidateFunction> | undefined;

/** The compiled validator of a schema. */
export function validator(name: string): ValidateFunction {
  compiled ??= compileAll();
  const v = compiled.get(name);
  if (!v) throw new Error(`no schema docs/schemas/${name}.schema.json`);
  return v;
}

/** ajv's errors for `doc` under a schema, one line each (empty: valid). */
export function schemaErrors(name: string, doc: unknown): string[] {
  const v = validator(name);
  if (v(doc)) return [];
  return (v.errors ?? []).map((e) => `${e.instancePath || "(root)"} ${e.message ?? ""} ${JSON.stringify(e.params)}`);
}

/** Fails unless `doc` is valid; the message shows the errors and the document. */
export function assertValid(name: string, doc: unknown, what = name): void {
  const errors = schemaErrors(name, doc);
  assert.equal(errors, [], `${what} does not match docs/schemas/${name}.schema.json:\n${errors.join("\n")}\n${JSON.stringify(doc, null, 2)}`);
}

/** Fails unless `doc` is refused (the negative checks that keep a schema from being vacuous). */
export function assertInvalid(name: string, doc: unknown, what: string): void {
  assert.ok(schemaErrors(name, doc).length > 0, `${name} accepted ${what}: ${JSON.stringify(doc)}`);
}

/** A deep copy of a document with `edit` applied, for negative checks. */
export function mutated<T>(doc: T, edit: (d: any) => void): T {
  const copy = structuredClone(doc);
  edit(copy);
  return copy;
}

/** Builds dist/stagehand when it is missing (package.json's build script). */
export function ensureBinary(): string {
  if (existsSync(BINARY)) return BINARY;
  const r = spawnSync(join(REPO_ROOT, "node_modules", ".bin", "bun"), ["run", "build"], { cwd: REPO_ROOT, encoding: "utf8" });
  if (r.status !== 0 || !existsSync(BINARY)) throw new Error(`bun run build failed (${r.status}):\n${r.stdout}${r.stderr}`);
  return BINARY;
}

export interface BinaryRun { status: number; stdout: string; stderr: string }

/** Runs dist/stagehand with `args`; `env` is added to the environment (or is all of it, with `onlyEnv`). */
export function stagehand(args: string[], env: Record<string, string> = {}, opts: { uid?: number; gid?: number; onlyEnv?: boolean } = {}): BinaryRun {
  const { onlyEnv, ...ids } = opts;
  const r = spawnSync(ensureBinary(), args, { encoding: "utf8", env: onlyEnv ? env : { ...process.env, ...env }, timeout: 60_000, ...ids });
  if (r.error) throw r.error;
  return { status: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

/** The document of a command that prints only JSON on stdout. */
export function wholeDocument(r: BinaryRun, what: string): unknown {
  try {
    return JSON.parse(r.stdout);
  } catch (e) {
    throw new Error(`${what}: stdout is not one JSON document (${(e as Error).message}); exit ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
}

/** The document of a command that prints it as the last line of stdout (activate, switch-to-configuration). */
export function lastLineDocument(stdout: string, what: string): unknown {
  const lines = stdout.split("\n").filter((l) => l !== "");
  const last = lines[lines.length - 1] ?? "";
  try {
    return JSON.parse(last);
  } catch (e) {
    throw new Error(`${what}: the last line of stdout is not a JSON document (${(e as Error).message})\nstdout:\n${stdout}`);
  }
}
