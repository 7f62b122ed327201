import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, type Subprocess } from "bun";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EVENT_WAIT_SYSCALLS, mainProcessState, type MainProcessState, parseProcStat, parseProcSyscall } from "../../../../src/switch/run/main-process.ts";

const PROC = { proc: "/proc", arch: process.arch };

test("parseProcStat: the name between the first ( and the last ), which may hold both and spaces", () => {
  assert.equal(parseProcStat("66 (sleep) S 1 66 66 0 -1 4194560 95 0"), { comm: "sleep", state: "S" });
  assert.equal(parseProcStat("7 ((sd-pam)) S 1"), { comm: "(sd-pam)", state: "S" });
  assert.equal(parseProcStat("8 (a) b) c) Z 1"), { comm: "a) b) c", state: "Z" });
  assert.is(parseProcStat(""), undefined);
  assert.is(parseProcStat("9 (x"), undefined);
  assert.is(parseProcStat("9 (x)S 1"), undefined);
  assert.is(parseProcStat("9 (x) 1 1"), undefined);
});

test("parseProcSyscall: the number a blocked task is in; none while it runs or outside a call", () => {
  assert.is(parseProcSyscall("232 0x4 0x7ffd2c1e1b40 0x1 0xffffffff 0x0 0x0 0x7ffd2c1e1b08 0x7f1e4b0e8e1e\n"), 232);
  assert.is(parseProcSyscall("34 0x0 0x0 0x0 0x0 0x0 0x0 0x7ffc 0x7f1c\n"), 34);
  assert.is(parseProcSyscall("running\n"), undefined);
  assert.is(parseProcSyscall("-1 0x7ffd 0x7f1e\n"), undefined);
  assert.is(parseProcSyscall("0x22 0x0"), undefined);
  assert.is(parseProcSyscall(""), undefined);
});

test("the event waits are known for the architectures NixOS builds for, and not the calls that can still fail", () => {
  for (const arch of ["x64", "arm64"]) assert.ok(EVENT_WAIT_SYSCALLS[arch], arch);
  const x64 = EVENT_WAIT_SYSCALLS.x64!;
  for (const nr of [7, 34, 232, 271, 281]) assert.ok(x64.has(nr), `x64 ${nr}`); // poll pause epoll_wait ppoll epoll_pwait
  // wait4, waitid, nanosleep, clock_nanosleep, read, futex
  for (const nr of [61, 247, 35, 230, 0, 202]) assert.not.ok(x64.has(nr), `x64 ${nr}`);
  const arm64 = EVENT_WAIT_SYSCALLS.arm64!;
  for (const nr of [22, 73, 133]) assert.ok(arm64.has(nr), `arm64 ${nr}`); // epoll_pwait ppoll rt_sigsuspend
  for (const nr of [260, 95, 101, 115, 63, 98]) assert.not.ok(arm64.has(nr), `arm64 ${nr}`);
});

/** Polls `pid` until `want` or 5 s (a bounded wait for the child to get there, not a timing). */
async function until(pid: number, want: MainProcessState, opts = PROC): Promise<MainProcessState> {
  let state = mainProcessState(pid, opts);
  for (let i = 0; i < 500 && state !== want; i++) {
    await Bun.sleep(10);
    state = mainProcessState(pid, opts);
  }
  return state;
}

/** Polls until the child's program is `comm` and blocked in the kernel (bounded, 5 s). */
async function settledIn(pid: number, comm: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
    if (stat?.comm === comm && stat.state === "S") return;
    await Bun.sleep(10);
  }
  throw new Error(`${pid} never became ${comm}`);
}

async function withChild(cmd: string[], fn: (p: Subprocess) => Promise<void>): Promise<void> {
  const p = spawn(cmd, { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  try {
    await fn(p);
  } finally {
    p.kill("SIGKILL");
    await p.exited;
  }
}

test("real processes: a program at its event loop (pause, poll) waits for events", async () => {
  await withChild(["sleep", "infinity"], async (p) => assert.is(await until(p.pid, "waiting-for-events"), "waiting-for-events"));
  await withChild(["perl", "-e", "select(undef, undef, undef, undef)"], async (p) => assert.is(await until(p.pid, "waiting-for-events"), "waiting-for-events"));
});

test("real processes: a timed sleep or a shell waiting for its command is busy: it can still fail", async () => {
  await withChild(["sleep", "1000"], async (p) => {
    await settledIn(p.pid, "sleep");
    assert.is(mainProcessState(p.pid, PROC), "busy");
  });
  await withChild(["/bin/sh", "-c", "sleep 1000; exit 3"], async (p) => {
    await settledIn(p.pid, "sh");
    assert.is(mainProcessState(p.pid, PROC), "busy");
  });
  await withChild(["sh", "-c", "while :; do :; done"], async (p) => {
    await Bun.sleep(50);
    assert.is(mainProcessState(p.pid, PROC), "busy");
  });
});

test("real processes: a name in parentheses is systemd's child before the exec of the service's program", async () => {
  const dir = mkdtempSync(join(tmpdir(), "stagehand-main-process-"));
  try {
    symlinkSync(execFileSync("sh", ["-c", "command -v sleep"]).toString().trim(), join(dir, "(sleep)"));
    await withChild([join(dir, "(sleep)"), "infinity"], async (p) => {
      await settledIn(p.pid, "(sleep)");
      assert.is(mainProcessState(p.pid, PROC), "starting");
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("real processes: exited (a zombie, or no process) is gone; PID 0, 1 and nonsense are never concluded on", async () => {
  const p = spawn(["true"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  await p.exited;
  assert.is(mainProcessState(p.pid, PROC), "gone");
  for (const pid of [0, 1, -3, 1.5, Number.NaN]) assert.is(mainProcessState(pid, PROC), "busy", String(pid));
});

test("another architecture, or a /proc that is not what it should be, is busy (the full wait)", async () => {
  await withChild(["sleep", "infinity"], async (p) => {
    assert.is(await until(p.pid, "waiting-for-events"), "waiting-for-events");
    assert.is(mainProcessState(p.pid, { proc: "/proc", arch: "s390x" }), "busy");
  });
  const fake = mkdtempSync(join(tmpdir(), "stagehand-fake-proc-"));
  try {
    mkdirSync(join(fake, "1"));
    symlinkSync("/usr/lib/systemd/systemd", join(fake, "1", "exe"));
    const proc = (pid: number, stat: string | "fifo" | "dir", syscall: string, exe = "/usr/bin/daemon") => {
      mkdirSync(join(fake, String(pid)));
      if (stat === "fifo") execFileSync("mkfifo", [join(fake, String(pid), "stat")]);
      else if (stat === "dir") mkdirSync(join(fake, String(pid), "stat"));
      else writeFileSync(join(fake, String(pid), "stat"), stat);
      writeFileSync(join(fake, String(pid), "syscall"), syscall);
      symlinkSync(exe, join(fake, String(pid), "exe"));
    };
    const opts = { proc: fake, arch: "x64" };
    proc(10, "10 (daemon) S 1", "232 0x4 0x0\n");
    assert.is(mainProcessState(10, opts), "waiting-for-events");
    proc(11, "fifo", "232 0x4\n");
    assert.is(mainProcessState(11, opts), "busy", "a FIFO as stat is not read (nor waited on)");
    proc(12, "dir", "232 0x4\n");
    assert.is(mainProcessState(12, opts), "busy");
    proc(13, "13 (daemon) S 1", "232 0x4\n", "/usr/lib/systemd/systemd");
    assert.is(mainProcessState(13, opts), "starting", "PID 1's executable: systemd's fork before the exec (systemd 252)");
    proc(14, "14 (systemd-executo) S 1", "271 0x4\n", "/nix/store/abc-systemd-257/lib/systemd/systemd-executor");
    assert.is(mainProcessState(14, opts), "starting", "systemd-executor before the exec (systemd 255 and later)");
    proc(15, "15 (daemon) Z 1", "232\n");
    assert.is(mainProcessState(15, opts), "gone");
    proc(16, "16 (daemon) R 1", "running\n");
    assert.is(mainProcessState(16, opts), "busy");
    proc(17, "garbage", "232\n");
    assert.is(mainProcessState(17, opts), "busy");
    proc(18, "18 (daemon) S 1", "61 0x4\n");
    assert.is(mainProcessState(18, opts), "busy", "wait4: a shell waiting for its command");
    assert.is(mainProcessState(19, opts), "gone");
    // /proc/PID/stat is never a symlink: one there (to a FIFO, to a file outside) is not followed.
    mkdirSync(join(fake, "20"));
    execFileSync("mkfifo", [join(fake, "fifo")]);
    symlinkSync(join(fake, "fifo"), join(fake, "20", "stat"));
    writeFileSync(join(fake, "20", "syscall"), "232 0x4\n");
    symlinkSync("/usr/bin/daemon", join(fake, "20", "exe"));
    assert.is(mainProcessState(20, opts), "busy", "a symlink as stat, to a FIFO");
    writeFileSync(join(fake, "outside-stat"), "21 (daemon) S 1");
    mkdirSync(join(fake, "21"));
    symlinkSync(join(fake, "outside-stat"), join(fake, "21", "stat"));
    writeFileSync(join(fake, "21", "syscall"), "232 0x4\n");
    symlinkSync("/usr/bin/daemon", join(fake, "21", "exe"));
    assert.is(mainProcessState(21, opts), "busy", "a symlink as stat, to a file");
    proc(22, "22 (daemon) S 1", "232 0x4\n");
    rmSync(join(fake, "22", "exe"));
    assert.is(mainProcessState(22, opts), "starting", "no executable to tell by: not taken as the service's program");
  } finally {
    rmSync(fake, { recursive: true, force: true });
  }
});

test.run();
