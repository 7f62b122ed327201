/**
 * Where a just-started service's main process is, read from /proc: still in systemd's start-up code,
 * running, waiting for events, or gone. The wait after the switch's jobs (systemd-adapter.ts) uses
 * it so that a service whose start job ended at the fork (Type=simple, exec, idle) is waited for only
 * until its own program blocks waiting for events (a daemon at its event loop: past its start, where
 * a failure is no longer a failure to start), or has exited (systemd then knows how), instead of a
 * fixed 250 ms.
 *
 * Anything unexpected (another architecture, a /proc that hides other processes, a file that is not
 * what it should be) reads as "busy": the caller then waits as ng would. Only a process that is
 * provably blocked in an event wait, in a program of its own, ends a wait early.
 */
import { readlinkSync } from "node:fs";
import { readRegularTextOptional } from "../../fs/read.ts";

/**
 * - `starting`: blocked in an event wait, but still systemd's child, before the exec of the
 *   service's program (its set-up can fail);
 * - `busy`: running, or blocked in something other than an event wait (a child, a sleep, a lock);
 * - `waiting-for-events`: the service's program, blocked in poll, epoll, select, pause, accept,
 *   recv or a signal wait;
 * - `gone`: exited (a zombie not reaped yet, or no such process).
 */
export type MainProcessState = "starting" | "busy" | "waiting-for-events" | "gone";

/**
 * The system calls that mean "nothing to do until an event comes", per `process.arch`, by number:
 * poll, select, pause, accept, recvfrom, recvmsg, rt_sigtimedwait, rt_sigsuspend, epoll_wait,
 * pselect6, ppoll, epoll_pwait, accept4, recvmmsg, epoll_pwait2 (those the architecture has). Not
 * wait4/waitid (a shell waiting for its command, which can still fail), nanosleep (a timed pause),
 * read (a pipe or terminal) or futex (a thread of the program's own still at work).
 */
export const EVENT_WAIT_SYSCALLS: Readonly<Record<string, ReadonlySet<number>>> = {
  x64: new Set([7, 23, 34, 43, 45, 47, 128, 130, 232, 270, 271, 281, 288, 299, 441]),
  // The generic table (arm64, riscv64, loongarch64): no poll, select, pause or epoll_wait.
  arm64: new Set([22, 72, 73, 133, 137, 202, 207, 212, 242, 243, 441]),
  riscv64: new Set([22, 72, 73, 133, 137, 202, 207, 212, 242, 243, 441]),
};

/** /proc/PID/stat's command name and state letter; undefined when it does not parse. */
export function parseProcStat(text: string): { comm: string; state: string } | undefined {
  // The name is between the first "(" and the last ")": it may hold spaces and parentheses itself.
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const state = text.slice(close + 2, close + 3);
  return /^[A-Za-z]$/.test(state) && text[close + 1] === " " ? { comm: text.slice(open + 1, close), state } : undefined;
}

/**
 * The system call a blocked task is in, from /proc/PID/syscall: its number, or undefined when the
 * task runs ("running") or is blocked outside a system call ("-1 …").
 */
export function parseProcSyscall(text: string): number | undefined {
  const m = /^(\d+)(?: |\n|$)/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** What reading a process's state may need, beyond /proc itself. */
export interface ProcOptions {
  /** Where the proc file system is mounted: "/proc" on a machine. */
  proc: string;
  /** `process.arch`, naming the system call table. */
  arch: string;
}

/** The small /proc files read here; a process's own files are at most a page or so. */
const PROC_LIMITS = (what: string) => ({ maxBytes: 64 << 10, firstRead: 4096, noFollow: true, what });

/**
 * A /proc file of `pid`: undefined when it is not there (the process is gone), null when it cannot be
 * read or is not a small regular file (then nothing is concluded from it).
 */
function procText(opts: ProcOptions, pid: number, name: string): string | undefined | null {
  try {
    return readRegularTextOptional(`${opts.proc}/${pid}/${name}`, PROC_LIMITS(`/proc/${pid}/${name} of a service's main process`));
  } catch {
    return null;
  }
}

function procLink(opts: ProcOptions, pid: number | "1", name: string): string | undefined {
  try {
    return readlinkSync(`${opts.proc}/${pid}/${name}`);
  } catch {
    return undefined;
  }
}

/**
 * The state of process `pid` (a service's MainPID, from systemd). Only a process blocked in an
 * event wait is asked whether it runs the service's program yet: before the exec the process is
 * systemd's (a PAM conversation can block it in a poll), its executable PID 1's own (systemd 252
 * forks itself) or `systemd-executor` (since 255), its name the program's in parentheses ("(sleep)").
 */
export function mainProcessState(pid: number, opts: ProcOptions): MainProcessState {
  if (!Number.isSafeInteger(pid) || pid <= 1) return "busy";
  const stat = procText(opts, pid, "stat");
  if (stat === undefined) return "gone";
  if (stat === null) return "busy";
  const s = parseProcStat(stat);
  if (s === undefined) return "busy";
  if (s.state === "Z" || s.state === "X") return "gone";
  if (s.state !== "S") return "busy";
  const waits = EVENT_WAIT_SYSCALLS[opts.arch];
  const syscall = procText(opts, pid, "syscall");
  const nr = typeof syscall === "string" ? parseProcSyscall(syscall) : undefined;
  if (waits === undefined || nr === undefined || !waits.has(nr)) return "busy";
  const exe = procLink(opts, pid, "exe");
  const systemds = exe === undefined || exe === procLink(opts, "1", "exe") || /\/systemd-executor( \(deleted\))?$/.test(exe);
  return systemds || s.comm.startsWith("(") ? "starting" : "waiting-for-events";
}
