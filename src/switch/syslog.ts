/**
 * Syslog datagrams to /dev/log (journald listens there), so a switch whose terminal went away is
 * still on record. Node has no AF_UNIX datagram sockets; libc's socket/connect/send via bun:ffi.
 * Every failure is swallowed: logging must never stop a switch.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";

type Sys = {
  socket(domain: number, type: number, proto: number): number;
  connect(fd: number, addr: unknown, len: number): number;
  send(fd: number, buf: unknown, len: number | bigint, flags: number): number | bigint;
  close(fd: number): number;
};

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;

/** Syslog severities used here. */
export const SEVERITY = { err: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const;
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
  private sys: Sys | undefined;

  constructor(readonly tag: string, readonly socketPath = "/dev/log") {}

  private open(): boolean {
    if (this.fd >= 0) return true;
    try {
      this.sys ??= dlopen("libc.so.6", {
        socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
        connect: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
        send: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
        close: { args: [FFIType.i32], returns: FFIType.i32 },
      }).symbols as unknown as Sys;
      const fd = this.sys.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return false;
      const addr = new Uint8Array(110);
      new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
      addr.set(Buffer.from(this.socketPath).subarray(0, 107), 2);
      if (this.sys.connect(fd, ptr(addr), 2 + Buffer.byteLength(this.socketPath) + 1) !== 0) {
        this.sys.close(fd);
        return false;
      }
      this.fd = fd;
      return true;
    } catch {
      return false;
    }
  }

  /** Sends one message; each line of a multi-line message becomes its own record. */
  log(severity: Severity, message: string): void {
    if (!this.open()) return;
    for (const line of message.split("\n")) {
      if (line === "") continue;
      const data = Buffer.from(formatSyslog(this.tag, severity, line));
      try {
        const r = this.sys!.send(this.fd, ptr(data), data.length, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (Number(r) < 0) {
          // journald restarted (the switch may restart it): reconnect once.
          this.close();
          if (!this.open()) return;
          this.sys!.send(this.fd, ptr(data), data.length, MSG_DONTWAIT | MSG_NOSIGNAL);
        }
      } catch { /* never let logging fail a switch */ }
    }
  }

  close(): void {
    if (this.fd >= 0) {
      try { this.sys?.close(this.fd); } catch { /* ignore */ }
      this.fd = -1;
    }
  }
}
