/**
 * The list files under /run/nixos that make a switch resumable: what is still to start, restart
 * or reload is written down before the work is done and removed when its phase completes, so an
 * interrupted switch (kill -9, a lost SSH session, a crash) is continued by the next one.
 * Unit names are compared as literal strings, never as patterns (`mnt-my\x2ddata.mount`).
 */
import { closeSync, existsSync, fstatSync, fsyncSync, openSync, rmSync, writeSync, constants } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../fs/atomic.ts";
import { moveAsideUnless, sweepTemps } from "../../fs/staged.ts";
import { InputFileError, readRegularFileOptional } from "../../fs/read.ts";
import { decodeUtf8 } from "../../text/utf8.ts";

/** The largest list file read (bytes): hundreds of thousands of unit names. */
const MAX_LIST_BYTES = 16 << 20;

/**
 * A list file's text; undefined when missing. Only a regular file of bounded size is read, and a
 * symlink at the list's name is not followed (ng follows it): the switch only ever makes regular
 * files there, appending refuses a link (O_NOFOLLOW), and a link read as the list and never moved
 * aside (a dangling one reads as missing) would stop every later switch at its first append.
 */
function readListText(path: string): string | undefined {
  const bytes = readRegularFileOptional(path, { maxBytes: MAX_LIST_BYTES, what: "switch list file", noFollow: true });
  if (bytes === undefined) return undefined;
  // ng reads a list with read_to_string: bytes that are no UTF-8 make the whole list unreadable
  // (empty to ng), where a lenient decoding would pass U+FFFD names on to systemd.
  const text = decodeUtf8(bytes);
  if (text === undefined) throw new InputFileError(path, "switch list file", "unreadable", "is not valid UTF-8");
  return text;
}

/**
 * A list's lines as Rust's `str::lines` gives them to ng: split at "\n", a "\r" before it dropped
 * (a list written on another system must not make `a.service\r` a unit name); a last line without
 * "\n" keeps a "\r" it ends with, as Rust does.
 */
function listLines(text: string): string[] {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length - 1; i++) if (lines[i]!.endsWith("\r")) lines[i] = lines[i]!.slice(0, -1);
  return lines;
}

/** Where the system switch keeps its lists, lock and restart debt. */
export const SYSTEM_RUN_DIR = "/run/nixos";

/** The list files, by role. */
export const LIST_NAMES = {
  start: "start-list",
  restart: "restart-list",
  reload: "reload-list",
  activationRestart: "activation-restart-list",
  activationReload: "activation-reload-list",
  dryActivationRestart: "dry-activation-restart-list",
  dryActivationReload: "dry-activation-reload-list",
} as const;

export type ListName = keyof typeof LIST_NAMES;

/** Reads a list file: its non-empty lines in order, duplicates dropped; a missing file is empty. */
export function readList(path: string): string[] {
  const text = readListText(path);
  if (text === undefined) return [];
  return [...new Set(listLines(text).filter((l) => l !== ""))];
}

/**
 * Appends units, one a line, and fsyncs: once this returns, a crash cannot lose them. Only a
 * regular file is appended to: a symlink there is not followed, and a FIFO neither blocks the
 * open (O_NONBLOCK) nor is written; both are an InputFileError naming the path.
 */
export function appendToList(path: string, units: readonly string[]): void {
  if (units.length === 0) return;
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // ELOOP: a symlink; ENXIO: a FIFO without a reader; EISDIR: a directory.
    if (code === "ELOOP" || code === "ENXIO" || code === "EISDIR") throw new InputFileError(path, "switch list file", "not-regular", `is not a regular file (${code}); not written`);
    throw e;
  }
  try {
    if (!fstatSync(fd).isFile()) throw new InputFileError(path, "switch list file", "not-regular", "is not a regular file; not written");
    const data = Buffer.from(units.map((u) => u + "\n").join(""));
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Removes every line equal to `unit` (literal comparison), atomically. */
export function removeFromList(path: string, unit: string): void {
  let text: string | undefined;
  try {
    text = readListText(path);
  } catch (e) {
    // ng leaves a list it cannot read as it is (its unrecord_unit reads first); read() reports it.
    if (e instanceof InputFileError && e.problem === "unreadable") return;
    throw e;
  }
  if (text === undefined) return;
  const kept = listLines(text).filter((l) => l !== "" && l !== unit);
  writeFileAtomic(path, kept.map((l) => l + "\n").join(""), { mode: 0o644 });
}

/**
 * Removes the temporaries a killed switch left beside the list files in `dir` (and beside `others`,
 * more files of ours there), so none piles up until reboot. Only under the switch's lock.
 */
export function sweepListTemps(dir: string, others: readonly string[] = []): string[] {
  return sweepTemps(dir, new Set([...Object.values(LIST_NAMES), ...others]));
}

/** Deletes a list file; a missing one is fine. */
function deleteList(path: string): void {
  rmSync(path, { force: true });
}

/**
 * The list files of one scope (`/run/nixos` for the system, `$XDG_RUNTIME_DIR/nixos` for a user).
 * With `dry` set, reads work and every write is skipped, so dry-activate changes nothing —
 * except consuming the dry-activation lists, which ng also deletes after reading.
 */
export class SwitchLists {
  /** `warn`: where a list file that cannot be read is reported (see read). */
  constructor(readonly dir: string, readonly dry: boolean, readonly warn: (line: string) => void = () => {}) {}

  /** The path of a list file. */
  path(name: ListName): string {
    return join(this.dir, LIST_NAMES[name]);
  }

  /**
   * A list's units. One that cannot be read (a directory, FIFO or symlink there, more than MAX_LIST_BYTES)
   * is reported, read as empty (as ng reads it), and moved aside to `NAME.broken-TIME` unless dry
   * (a dry run moves only the dry-activation lists, which it deletes anyway): otherwise every later
   * switch would stop at it, a dry-activate at deleting a directory there.
   */
  read(name: ListName): string[] {
    const path = this.path(name);
    try {
      return readList(path);
    } catch (e) {
      if (!(e instanceof InputFileError)) throw e;
      let moved = "";
      if (this.writes(name)) {
        try {
          const aside = moveAsideUnless(path, () => false);
          if (aside !== undefined) moved = `; moved to ${aside}`;
        } catch { /* reported below as it is */ }
      }
      this.warn(`warning: ${e.message}; read as empty${moved}`);
      return [];
    }
  }

  exists(name: ListName): boolean {
    return existsSync(this.path(name));
  }

  /** Records units (no-op when dry). */
  record(name: ListName, ...units: string[]): void {
    if (!this.dry) appendToList(this.path(name), units);
  }

  /** Forgets a unit (no-op when dry). */
  unrecord(name: ListName, unit: string): void {
    if (!this.dry) removeFromList(this.path(name), unit);
  }

  /** Deletes a list once its phase is complete. Dry runs only ever delete the dry-activation lists. */
  remove(name: ListName): void {
    if (this.writes(name)) deleteList(this.path(name));
  }

  /** Whether this run may change the list file: any unless dry; a dry run consumes the dry-activation lists (as ng). */
  private writes(name: ListName): boolean {
    return !this.dry || name === "dryActivationRestart" || name === "dryActivationReload";
  }
}
