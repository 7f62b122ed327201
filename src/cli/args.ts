/** A small argument reader: long flags with or without values, and positionals. */

/** Bad command-line usage: the CLI prints the message and the usage text, and exits 1. */
export class UsageError extends Error {
  override name = "UsageError";
}

export interface ParsedArgs {
  flags: Map<string, string[]>;
  positionals: string[];
}

/**
 * Parses `args`. `valued` lists flags that take a value (`--root DIR` or `--root=DIR`);
 * `boolean` lists those that do not. Anything else starting with `--` is a UsageError.
 */
export function parseArgs(args: readonly string[], valued: readonly string[], boolean: readonly string[]): ParsedArgs {
  const flags = new Map<string, string[]>();
  const positionals: string[] = [];
  const add = (k: string, v: string) => flags.set(k, [...(flags.get(k) ?? []), v]);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") { positionals.push(...args.slice(i + 1)); break; }
    if (!a.startsWith("--")) { positionals.push(a); continue; }
    const eq = a.indexOf("=");
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    if (valued.includes(name)) {
      const v = eq >= 0 ? a.slice(eq + 1) : args[++i];
      if (v === undefined) throw new UsageError(`option --${name} needs a value`);
      add(name, v);
    } else if (boolean.includes(name) && eq < 0) {
      add(name, "true");
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return { flags, positionals };
}

/** The last value of a flag, or undefined. */
export function flag(p: ParsedArgs, name: string): string | undefined {
  return p.flags.get(name)?.at(-1);
}

/** Whether a boolean flag was given. */
export function has(p: ParsedArgs, name: string): boolean {
  return p.flags.has(name);
}
