/**
 * Line output that survives its reader going away. nixos-rebuild runs a switch under
 * `systemd-run --pipe`; when the SSH session drops, stdout closes, and a switch that died of
 * EPIPE/SIGPIPE would leave the machine half-switched. Writes are synchronous so they interleave
 * correctly with child processes sharing the same descriptors.
 */
import { writeSync } from "node:fs";

const closed = { 1: false, 2: false } as Record<number, boolean>;

function writeLine(fd: 1 | 2, line: string): void {
  if (closed[fd]) return;
  const data = Buffer.from(line + "\n");
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
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

/** Keeps the process alive when a reader closes a pipe: writes then fail with EPIPE, handled above. */
export function ignoreSigpipe(): void {
  process.on("SIGPIPE", () => {});
}
