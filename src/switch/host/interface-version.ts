/**
 * The init interface version: a generation whose stage-2 init is incompatible with the running
 * one cannot be activated live, only booted. Files compared byte for byte, as ng does.
 */
import { join } from "node:path";
import { readRegularFile, readRegularFileOptional } from "../../fs/read.ts";
import { readToString } from "../../text/utf8.ts";
import { EXIT, SwitchExit } from "./exit.ts";

/** ng's warning, three lines and a blank one, on stderr. */
export const INCOMPATIBLE_INIT_LINES = [
  "Warning: the new NixOS configuration has an ‘init’ that is",
  "incompatible with the current configuration.  The new configuration",
  "won't take effect until you reboot the system.",
  "",
];

/** The file holds a short word ("systemd"); anything bigger is not one. */
const MAX_VERSION_BYTES = 4096;

/**
 * Compares `current` (`/run/current-system/init-interface-version`, empty if missing) with the new
 * toplevel's file (which must exist). Throws SwitchExit 100 on a mismatch.
 */
export function checkInitInterfaceVersion(toplevel: string, current = "/run/current-system/init-interface-version"): void {
  const limits = { maxBytes: MAX_VERSION_BYTES, what: "init-interface-version" };
  let cur = "";
  // A missing (or unreadable: a FIFO, a huge file) current file reads as empty, as ng's missing one.
  // Decoded strictly, as ng reads both: two files of different bytes that are no UTF-8 would
  // otherwise both read as U+FFFD and compare equal. A current one that is no UTF-8 reads as empty
  // (ng's unwrap_or_default), a new one fails the switch (ng's "should exist").
  try { const b = readRegularFileOptional(current, limits); cur = b === undefined ? "" : readToString(b); } catch { /* as empty */ }
  let next: string;
  try {
    next = readToString(readRegularFile(join(toplevel, "init-interface-version"), limits));
  } catch (e) {
    throw new SwitchExit(EXIT.error, ["Error: File init-interface-version should exist", "", "Caused by:", `    ${(e as Error).message}`]);
  }
  if (cur !== next) throw new SwitchExit(EXIT.interfaceMismatch, INCOMPATIBLE_INIT_LINES);
}
