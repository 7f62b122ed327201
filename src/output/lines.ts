/**
 * Line output that survives its reader going away. nixos-rebuild runs a switch under
 * `systemd-run --pipe`; when the SSH session drops, stdout closes, and a switch that died of
 * EPIPE/SIGPIPE would leave the machine half-switched. Writes are synchronous so they interleave
 * correctly with child processes sharing the same descriptors.
 */

const closed = { 1: false, 2: false } as Record<number, boolean>;

/** node:fs, loaded at the first line: loading it is a third of the runtime's start (see outOnly). */
let fs: typeof import("node:fs") | undefined;

function writeLine(fd: 1 | 2, line: string): void {
  writeBytes(fd, Buffer.from(line + "\n"));
}

function writeBytes(fd: 1 | 2, data: Uint8Array): void {
  if (closed[fd]) return;
  fs ??= require("node:fs") as typeof import("node:fs");
  try {
    let off = 0;
    while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EPIPE" || code === "EBADF" || code === "EIO") closed[fd] = true;
    else if (code !== "EAGAIN") throw e;
  }
}

/** Prints a line on stdout; dropped silently once stdout is gone. */
export function out(line: string): void {
  writeLine(1, line);
}

/** Prints a line on stderr; dropped silently once stderr is gone. */
export function err(line: string): void {
  writeLine(2, line);
}

/** Passes bytes on to stdout (1) or stderr (2) as they are: a child's output, not ours to re-encode. */
export function passBytes(fd: 1 | 2, data: Uint8Array): void {
  writeBytes(fd, data);
}

/**
 * Prints `text` on stdout for a run that prints nothing else and exits (`--version`, `--help`):
 * through console.log, part of the runtime's own start, where loading node:fs for one line would
 * cost 2.6M instructions, a third of the whole run. With nothing else printing there is nothing
 * to interleave with, and a closed stdout is ignored there too.
 */
export function outOnly(text: string): void {
  console.log(text);
}

/** Keeps the process alive when a reader closes a pipe: writes then fail with EPIPE, handled above. */
export function ignoreSigpipe(): void {
  process.on("SIGPIPE", () => {});
}
