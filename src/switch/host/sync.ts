/** Flushing the store before activation: a new configuration that hangs the machine loses nothing. */
import { closeSync, constants, openSync } from "node:fs";
import { syncfs } from "../../fs/libc.ts";
import { EXIT, SwitchExit } from "./exit.ts";

/** syncfs(2) of the file system holding `path` (`/nix/store`), unless `skip` (NIXOS_NO_SYNC=1). */
export function syncStore(skip: boolean, path = "/nix/store"): void {
  if (skip) return;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOCTTY);
  } catch (e) {
    throw new SwitchExit(EXIT.error, [`Error: Failed to open ${path}`, "", "Caused by:", `    ${(e as Error).message}`]);
  }
  try {
    if (!syncfs(fd)) throw new SwitchExit(EXIT.error, [`Error: Failed to sync ${path}`]);
  } finally {
    closeSync(fd);
  }
}
