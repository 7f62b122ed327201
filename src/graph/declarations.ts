/**
 * Reads step declarations from TOML: `activation-scripts/*.toml` in this repository, or the graph
 * file a NixOS generation carries. A file holds one or more `[steps.NAME]` tables and optionally a
 * `[shell]` table. Every error names the file, and the key or line at fault.
 */
import { readdirSync, statSync } from "node:fs";
import { InputFileError, MAX_BYTES, readRegularFile } from "../fs/read.ts";
import { resolveInRoot } from "../fs/root.ts";
import { join } from "node:path";
import { isTomlError, parseTomlText } from "./toml.ts";
import type { Graph, ShellSettings, StepDeclaration, StepKind } from "./step.ts";

import { DeclarationError } from "./errors.ts";

export { DeclarationError };

const STEP_KEYS = new Set(["kind", "after", "before", "supportsDryActivation", "description", "text", "builtin", "options"]);
const SHELL_KEYS = new Set(["interpreter", "path", "preamble"]);
/** Names as NixOS attribute names allow, so they print safely in messages. */
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;

/** The shell settings used when no file sets them. */
export const DEFAULT_SHELL: ShellSettings = { interpreter: "/bin/bash", path: [], preamble: "" };

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function stringList(file: string, key: string, v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
    throw new DeclarationError(file, key, "expected an array of strings");
  }
  return v as string[];
}

/**
 * `v` unless a string in it holds a NUL: what the shell is given (the interpreter, PATH, the
 * script) cannot carry one, so it is refused at load, not when the step would start.
 */
function noNul<T extends string | string[] | undefined>(file: string, key: string, v: T): T {
  if (v !== undefined && (typeof v === "string" ? [v] : (v as string[])).some((s) => s.includes("\0"))) {
    throw new DeclarationError(file, key, "contains a NUL character");
  }
  return v;
}

function optString(file: string, key: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new DeclarationError(file, key, "expected a string");
  return v;
}

/** Parses TOML text, turning a syntax error into a DeclarationError with its line. */
function parseToml(file: string, text: string): Table {
  try {
    return parseTomlText(text) as Table;
  } catch (e) {
    // Only the parser's own errors carry the text's line: Bun gives any Error the line of the
    // JavaScript source it was thrown at.
    const where = isTomlError(e) && e.line !== undefined ? `line ${e.line + 1}` : "parse";
    const msg = String((e as Error).message ?? e).split("\n")[0]!;
    throw new DeclarationError(file, where, `invalid TOML: ${msg}`);
  }
}

/** Validates one file's content. Pure: the text is given. */
export function parseDeclarations(file: string, text: string): { steps: StepDeclaration[]; shell?: Partial<ShellSettings> } {
  const doc = parseToml(file, text);
  for (const key of Object.keys(doc)) {
    if (key !== "steps" && key !== "shell") throw new DeclarationError(file, key, "unknown top-level key (expected 'steps' or 'shell')");
  }
  let shell: Partial<ShellSettings> | undefined;
  if (doc.shell !== undefined) {
    if (!isTable(doc.shell)) throw new DeclarationError(file, "shell", "expected a table");
    for (const k of Object.keys(doc.shell)) if (!SHELL_KEYS.has(k)) throw new DeclarationError(file, `shell.${k}`, "unknown key");
    shell = {};
    const interpreter = noNul(file, "shell.interpreter", optString(file, "shell.interpreter", doc.shell.interpreter));
    if (interpreter !== undefined) shell.interpreter = interpreter;
    if (doc.shell.path !== undefined) shell.path = noNul(file, "shell.path", stringList(file, "shell.path", doc.shell.path));
    const preamble = noNul(file, "shell.preamble", optString(file, "shell.preamble", doc.shell.preamble));
    if (preamble !== undefined) shell.preamble = preamble;
  }
  const steps: StepDeclaration[] = [];
  const table = doc.steps ?? {};
  if (!isTable(table)) throw new DeclarationError(file, "steps", "expected a table of steps");
  for (const [name, raw] of Object.entries(table)) {
    const key = `steps.${name}`;
    if (!NAME_RE.test(name)) throw new DeclarationError(file, key, "invalid step name");
    if (!isTable(raw)) throw new DeclarationError(file, key, "expected a table");
    for (const k of Object.keys(raw)) if (!STEP_KEYS.has(k)) throw new DeclarationError(file, `${key}.${k}`, "unknown key");
    const kind = raw.kind ?? (raw.builtin !== undefined ? "builtin" : "shell");
    if (kind !== "builtin" && kind !== "shell") throw new DeclarationError(file, `${key}.kind`, "expected \"builtin\" or \"shell\"");
    const supports = raw.supportsDryActivation ?? false;
    if (typeof supports !== "boolean") throw new DeclarationError(file, `${key}.supportsDryActivation`, "expected a boolean");
    const options: Record<string, string> = {};
    if (raw.options !== undefined) {
      if (!isTable(raw.options)) throw new DeclarationError(file, `${key}.options`, "expected a table");
      for (const [k, v] of Object.entries(raw.options)) {
        if (typeof v !== "string") throw new DeclarationError(file, `${key}.options.${k}`, "expected a string");
        options[k] = v;
      }
    }
    const decl: StepDeclaration = {
      name,
      kind: kind as StepKind,
      after: stringList(file, `${key}.after`, raw.after),
      before: stringList(file, `${key}.before`, raw.before),
      supportsDryActivation: supports,
      description: optString(file, `${key}.description`, raw.description),
      text: noNul(file, `${key}.text`, optString(file, `${key}.text`, raw.text)),
      builtin: optString(file, `${key}.builtin`, raw.builtin),
      options,
      source: file,
    };
    if (decl.kind === "shell" && decl.text === undefined) throw new DeclarationError(file, `${key}.text`, "a shell step needs 'text'");
    if (decl.kind === "shell" && decl.builtin !== undefined) throw new DeclarationError(file, `${key}.builtin`, "a shell step cannot name a builtin");
    if (decl.kind === "builtin" && decl.builtin === undefined) decl.builtin = name;
    if (decl.kind === "builtin" && decl.text !== undefined) throw new DeclarationError(file, `${key}.text`, "a builtin step takes 'options', not 'text'");
    steps.push(decl);
  }
  return { steps, shell };
}

/** Strict: a byte that is not UTF-8 is an error, never a U+FFFD. */
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A graph file's text. TOML is UTF-8, and a snippet's bytes must reach the shell as written, not
 * with an invalid byte silently replaced.
 */
function decodeUtf8(file: string, bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new DeclarationError(file, "read", "is not valid UTF-8 (TOML requires it)");
  }
}

/**
 * The TOML files a path names: the file itself, or a directory's `*.toml` in sorted order. With
 * `root`, `path` is a path inside that root, and it and each file listed are resolved inside it
 * (a link in a graph directory leads into the root, never to this machine's files).
 */
function tomlFiles(path: string, root?: string): string[] {
  try {
    const here = root === undefined ? path : resolveInRoot(root, path); // throws ELOOP on a link loop
    if (!statSync(here).isDirectory()) return [here]; // anything else is judged by the read
    const names = readdirSync(here).filter((f) => f.endsWith(".toml")).sort();
    return names.map((f) => (root === undefined ? join(here, f) : resolveInRoot(root, `${path}/${f}`)));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DeclarationError(path, "read", code === "ENOENT" ? "does not exist" : `cannot be read (${code ?? (e as Error).message})`);
  }
}

/**
 * Loads a graph from files and directories. A step declared twice is an error naming both files;
 * `[shell]` settings are merged in file order.
 */
export function loadGraph(paths: readonly string[], root?: string): Graph {
  const steps: StepDeclaration[] = [];
  const seen = new Map<string, string>();
  let shell: ShellSettings = { ...DEFAULT_SHELL };
  for (const p of paths) {
    for (const file of tomlFiles(p, root)) {
      let text: string;
      try {
        // Only a regular file of sane size: a FIFO in a graph directory must not hang activation.
        // Resolved inside the root already: a link swapped in meanwhile is refused, not followed.
        const bytes = readRegularFile(file, { maxBytes: MAX_BYTES.graphFile, what: "activation graph", noFollow: root !== undefined });
        text = decodeUtf8(file, bytes);
      } catch (e) {
        if (e instanceof DeclarationError) throw e;
        throw new DeclarationError(file, "read", e instanceof InputFileError ? e.detail : (e as Error).message);
      }
      const parsed = parseDeclarations(file, text);
      if (parsed.shell) shell = { ...shell, ...parsed.shell };
      for (const s of parsed.steps) {
        const prev = seen.get(s.name);
        if (prev) throw new DeclarationError(file, `steps.${s.name}`, `step already declared in ${prev}`);
        seen.set(s.name, file);
        steps.push(s);
      }
    }
  }
  return { steps, shell };
}
