/** Runs the helper programs of a switch (checks, bootloader, activation) with inherited stdio. */
import { spawn } from "node:child_process";

/** How a child ended: its exit status, or `spawnError` when it could not be started at all. */
export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  spawnError?: NodeJS.ErrnoException;
}

/**
 * Where a child's output lines go when it does not write to our descriptors directly: each line's
 * bytes as the child wrote them, with its newline when it had one (the last line may not; a long
 * line comes in pieces of MAX_LINE_BYTES), so they can be passed on byte for byte as ng does.
 */
export interface LineSink {
  stdout(line: Uint8Array): void;
  stderr(line: Uint8Array): void;
}

/**
 * How long the pipes of a child that exited are still waited for. A process it left running in
 * the background (`daemon &` in an activation snippet) holds them open for as long as it lives;
 * ng, whose children inherit its descriptors, waits only for the exit. What such a process
 * writes later still reaches the sink while this process runs.
 */
export const DRAIN_AFTER_EXIT_MS = 1_000;

/** A line longer than this is passed on in pieces of this size (output without newlines is not held in memory). */
export const MAX_LINE_BYTES = 64 << 10;

/**
 * Runs `argv` and waits for it to exit. stdin is inherited (activation scripts may prompt).
 * Without a sink, stdout and stderr are inherited. With one, the child writes into pipes we drain
 * line by line: if our own stdout goes away (a dropped SSH session), the child never sees EPIPE
 * and is not killed by SIGPIPE halfway through activating (NixOS #462179), and its lines reach
 * the journal.
 */
export function runChild(argv: string[], env: NodeJS.ProcessEnv = process.env, sink?: LineSink): Promise<ChildResult> {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(argv[0]!, argv.slice(1), { stdio: sink ? ["inherit", "pipe", "pipe"] : "inherit", env });
    } catch (e) {
      resolve({ status: null, signal: null, spawnError: e as NodeJS.ErrnoException });
      return;
    }
    let open = sink ? 2 : 0;
    let exited: ChildResult | undefined;
    let drain: ReturnType<typeof setTimeout> | undefined;
    const finish = () => {
      if (!exited || open > 0) return;
      clearTimeout(drain);
      resolve(exited);
    };
    if (sink) {
      for (const [stream, write] of [[child.stdout!, sink.stdout], [child.stderr!, sink.stderr]] as const) {
        let buf: Buffer = Buffer.alloc(0);
        stream.on("data", (chunk: Buffer) => {
          buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
          let start = 0;
          let nl: number;
          while ((nl = buf.indexOf(0x0a, start)) >= 0) { write(buf.subarray(start, nl + 1)); start = nl + 1; }
          while (buf.length - start >= MAX_LINE_BYTES) { write(buf.subarray(start, start + MAX_LINE_BYTES)); start += MAX_LINE_BYTES; }
          buf = buf.subarray(start);
        });
        stream.once("close", () => { if (buf.length > 0) write(buf); open--; finish(); });
      }
    }
    child.once("error", (e) => resolve({ status: null, signal: null, spawnError: e as NodeJS.ErrnoException }));
    child.once("exit", (status, signal) => {
      exited = { status, signal };
      if (open > 0) drain = setTimeout(() => resolve(exited!), DRAIN_AFTER_EXIT_MS);
      finish();
    });
  });
}

/** Splits a command line on whitespace, as ng does for PRE_SWITCH_CHECK and INSTALL_BOOTLOADER. */
export function splitCommand(command: string): string[] {
  return command.split(/\s+/).filter((w) => w !== "");
}

/** True when the child ran and exited 0. */
export function succeeded(r: ChildResult): boolean {
  return r.spawnError === undefined && r.status === 0;
}
