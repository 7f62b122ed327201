/**
 * Syslog datagrams to /dev/log (journald listens there), so a switch whose terminal went away is
 * still on record. Node has no AF_UNIX datagram sockets: src/fs/libc.ts makes them.
 * Every failure is swallowed: logging must never stop a switch.
 */
import { closeFd, connectUnixDatagram, sendDatagram } from "../../fs/libc.ts";

/** Syslog severities used here. */
const SEVERITY = { err: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const;
export type Severity = keyof typeof SEVERITY;

/** Facility `user`, as ng's syslog logger. */
const FACILITY_USER = 1;

/** Formats one RFC 3164-style datagram: `<PRI>TAG[PID]: MESSAGE`. */
export function formatSyslog(tag: string, severity: Severity, message: string, pid = process.pid): string {
  return `<${FACILITY_USER * 8 + SEVERITY[severity]}>${tag}[${pid}]: ${message}`;
}

/** A connected datagram socket to a syslog daemon, or a sink when there is none. */
export class Syslog {
  private fd = -1;

  constructor(readonly tag: string, readonly socketPath = "/dev/log") {}

  private open(): boolean {
    if (this.fd >= 0) return true;
    try {
      this.fd = connectUnixDatagram(this.socketPath);
    } catch {
      this.fd = -1;
    }
    return this.fd >= 0;
  }

  /** Sends one message; each line of a multi-line message becomes its own record. */
  log(severity: Severity, message: string): void {
    if (!this.open()) return;
    for (const line of message.split("\n")) {
      if (line === "") continue;
      const data = Buffer.from(formatSyslog(this.tag, severity, line));
      try {
        if (!sendDatagram(this.fd, data)) {
          // journald restarted (the switch may restart it): reconnect once.
          this.close();
          if (!this.open()) return;
          sendDatagram(this.fd, data);
        }
      } catch { /* never let logging fail a switch */ }
    }
  }

  close(): void {
    if (this.fd >= 0) {
      try { closeFd(this.fd); } catch { /* ignore */ }
      this.fd = -1;
    }
  }
}
