import { notImplemented } from "./not-implemented.ts";

export async function run(_args: string[]): Promise<number> {
  return notImplemented("'status'");
}
