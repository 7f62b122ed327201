import { notImplemented } from "./not-implemented.ts";
import { STC_USAGE } from "../usage.ts";
import { err } from "../output.ts";

const ACTIONS = ["switch", "boot", "test", "dry-activate", "check"];

export async function run(args: string[]): Promise<number> {
  const action = args[0];
  if (args.length !== 1 || !ACTIONS.includes(action!)) {
    err(STC_USAGE.trimEnd());
    return 1;
  }
  return notImplemented(`switch-to-configuration ${action}`);
}
