/**
 * The switch's voice. ng prints its progress on stderr and a few records to syslog; we print the
 * same lines, byte for byte, and also send each to the journal under the identifier `nixos`, so a
 * switch whose stdout/stderr went away (a dropped SSH session under `systemd-run --pipe`) still
 * leaves a full record. Terminal writes are EPIPE-safe (src/output/lines.ts): the switch goes on.
 */
import { err, out, passBytes } from "../../output/lines.ts";
import { type Severity, Syslog } from "./syslog.ts";

/** Where the lines of a switch go. Tests pass a recorder. */
export interface SwitchLog {
  /** A progress line on stderr (ng's `eprintln!`), also journalled at `info`. */
  line(text: string): void;
  /** A warning or error line on stderr, journalled at `warning`/`err`. */
  warn(text: string): void;
  error(text: string): void;
  /** Only to the journal (ng's `log::info!`: "switching to system configuration ..."). */
  journal(severity: Severity, text: string): void;
  /** A line on stdout (used by --json). */
  stdout(text: string): void;
  /**
   * Output lines of a child (activation script, checks), as LineSink gives them: passed on byte
   * for byte on the stream the child used, and journalled as text.
   */
  childStdout(line: Uint8Array): void;
  childStderr(line: Uint8Array): void;
}

/** A child's output line as journal text: decoded, without its newline. */
export function childLineText(line: Uint8Array): string {
  const end = line.length > 0 && line[line.length - 1] === 0x0a ? line.length - 1 : line.length;
  return Buffer.from(line.buffer, line.byteOffset, end).toString("utf8");
}

/** The production log: stderr/stdout plus syslog tag `nixos`. */
export function systemLog(tag = "nixos"): SwitchLog {
  const syslog = new Syslog(tag);
  return {
    line(text) { err(text); syslog.log("info", text); },
    warn(text) { err(text); syslog.log("warning", text); },
    error(text) { err(text); syslog.log("err", text); },
    journal(severity, text) { syslog.log(severity, text); },
    stdout(text) { out(text); },
    childStdout(line) { passBytes(1, line); syslog.log("info", childLineText(line)); },
    childStderr(line) { passBytes(2, line); syslog.log("info", childLineText(line)); },
  };
}

/** A log that records lines in memory (stderr and stdout interleaved as `err:`/`out:`), for tests. */
export function memoryLog(): SwitchLog & { lines: string[]; journalLines: string[] } {
  const lines: string[] = [];
  const journalLines: string[] = [];
  return {
    lines,
    journalLines,
    line(t) { lines.push(t); journalLines.push(t); },
    warn(t) { lines.push(t); journalLines.push(t); },
    error(t) { lines.push(t); journalLines.push(t); },
    journal(_s, t) { journalLines.push(t); },
    stdout(t) { lines.push(t); },
    childStdout(l) { lines.push(childLineText(l)); journalLines.push(childLineText(l)); },
    childStderr(l) { lines.push(childLineText(l)); journalLines.push(childLineText(l)); },
  };
}
