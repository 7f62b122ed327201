/**
 * Dispatch: `stagehand COMMAND ...`, or, invoked under the name `switch-to-configuration` (a
 * generation's `bin/switch-to-configuration`), `stagehand switch-to-configuration ACTION`.
 */
import pkg from "../../package.json" with { type: "json" };
import { DeclarationError } from "../graph/errors.ts";
import { GraphError } from "../graph/order.ts";
import { UsageError } from "./args.ts";
import { NeedsRootError } from "./context.ts";
import { err, ignoreSigpipe, outOnly } from "../output/lines.ts";
import { USAGE } from "./usage.ts";

type Command = (args: string[]) => Promise<number>;

/** Commands are loaded on use, so `--version` does not pay for the switch machinery. */
const COMMANDS: Record<string, () => Promise<{ run: Command }>> = {
  "switch-to-configuration": () => import("./commands/switch-to-configuration.ts"),
  activate: () => import("./commands/activate.ts"),
  etc: () => import("./commands/etc.ts"),
  users: () => import("./commands/users.ts"),
  plan: () => import("./commands/plan.ts"),
  status: () => import("./commands/status.ts"),
  systemd: () => import("./commands/systemd.ts"),
};

/** The version printed by --version. */
const VERSION: string = pkg.version;

/** Runs the CLI for an invocation name and arguments; resolves to the exit status. */
export async function main(argv0: string, args: string[]): Promise<number> {
  ignoreSigpipe();
  let command: string | undefined;
  // The base name, without loading node:path (0.8M instructions of start-up).
  if (argv0.slice(argv0.lastIndexOf("/") + 1) === "switch-to-configuration" || process.env.__NIXOS_SWITCH_TO_CONFIGURATION_PARENT_EXE !== undefined) {
    // The per-user child of a switch is started with no arguments and this variable set (as ng).
    command = "switch-to-configuration";
  } else {
    command = args.shift();
  }
  if (command === "--version" || command === "version") {
    outOnly(`stagehand ${VERSION}`);
    return 0;
  }
  if (command === "--help" || command === "-h" || command === "help") {
    outOnly(USAGE.trimEnd());
    return 0;
  }
  const load = command === undefined ? undefined : COMMANDS[command];
  if (!load) {
    if (command !== undefined) err(`stagehand: unknown command '${command}'`);
    err(USAGE.trimEnd());
    return 1;
  }
  try {
    const { run } = await load();
    return await run(args);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`stagehand ${command}: ${e.message}`);
      err(USAGE.trimEnd());
      return 1;
    }
    if (e instanceof DeclarationError || e instanceof GraphError || e instanceof NeedsRootError) {
      err(`stagehand ${command}: ${e.message}`);
      return 1;
    }
    err(`stagehand ${command}: ${(e as Error)?.stack ?? String(e)}`);
    return 1;
  }
}
