import { err } from "../output.ts";

/** Says plainly that a command is not there yet, and fails with exit status 2. */
export function notImplemented(what: string): number {
  err(`stagehand: ${what} is not implemented yet`);
  return 2;
}
