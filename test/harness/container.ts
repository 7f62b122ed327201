/**
 * A booted container for system tests: systemd as PID 1 with a real D-Bus system bus, in
 * systemd-nspawn over a private overlay copy of the cached Debian rootfs.
 *
 * The Debian release (bookworm: systemd 252, trixie: 257) is `BootOptions.suite`, by default env
 * STAGEHAND_SUITE (test/run.ts runs every system test once per suite).
 *
 * Commands run inside with nsenter (all namespaces of the container's PID 1). Files can be
 * written through `root`, the host path of the container's `/`. Every container is halted and its
 * overlay removed by `halt()`, and, should a test forget or crash, when the process exits.
 */
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { defaultSuite, overlayRoot, SUITE_SYSTEMD } from "./rootfs.ts";
import type { RootCopy, Suite } from "./rootfs.ts";

/** The repository root (for dist/stagehand). */
export const REPO_ROOT = join(import.meta.dir, "..", "..");

/** How to run a command inside. */
export interface ExecOptions {
  /** Added to the clean default environment (PATH, HOME, LANG, TERM). */
  env?: Record<string, string>;
  /** Run as this user (name or uid), via runuser. */
  user?: string;
  /** Fed to stdin. */
  input?: string;
  /** Working directory inside the container. */
  cwd?: string;
  /** Kill after this long (default 120 s). */
  timeoutMs?: number;
}

/** What a command did. */
export interface ExecResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Options of Container.boot. */
export interface BootOptions {
  /** Machine name prefix; a random suffix keeps names unique. Default "stagehand-test". */
  name?: string;
  /** How long to wait for `systemctl is-system-running` to say running/degraded. Default 90 s. */
  bootTimeoutMs?: number;
  /** Called with the root directory before booting (write generations, units, ...). */
  prepare?: (root: string) => void;
  /** Extra systemd-nspawn arguments (e.g. `--bind=/dev/autofs` for automount tests). */
  nspawnArgs?: string[];
  /** The Debian release to boot (default: env STAGEHAND_SUITE, else bookworm; see rootfs.ts). */
  suite?: Suite;
}

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/**
 * With --keep-unit --register=no, nspawn puts the container below its own cgroup; on a cgroup-v1
 * host where the caller sits in "/", every container would share /payload/... and one container's
 * systemd would kill or fail to set up another's units (219/CGROUP, "Failed to kill control
 * group"). So nspawn first moves itself ($$, then exec) into a cgroup of its own below its
 * current one in every hierarchy (cpuset needs cpus/mems set before tasks can join).
 * $1 = container name.
 */
const CGROUP_PARENT = "stagehand-test.slice";
const CGROUP_PRELUDE = `name=$1; shift
while IFS=: read -r _ ctrl path; do
  case $ctrl in name=systemd) h=systemd ;; "") h=unified ;; *) h=$ctrl ;; esac
  h=/sys/fs/cgroup/$h
  [ -e "$h/cgroup.procs" ] || continue
  p="$h\${path%/}/${CGROUP_PARENT}"; d="$p/$name.scope"
  mkdir -p "$d" 2>/dev/null || continue
  if [ -e "$h/cpuset.cpus" ]; then
    for f in cpuset.cpus cpuset.mems; do cat "$h\${path%/}/$f" > "$p/$f" 2>/dev/null; cat "$p/$f" > "$d/$f" 2>/dev/null; done
  fi
  echo $$ > "$d/cgroup.procs" 2>/dev/null || true
done < /proc/self/cgroup
exec systemd-nspawn "$@"`;

/** SIGRTMIN+4: systemd's "poweroff" signal. SIGRTMIN is 34 on Linux with glibc. */
const SIGRTMIN_PLUS_4 = 38;

const live = new Set<Container>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on("exit", () => {
    for (const c of [...live]) c.haltSync();
  });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      for (const c of [...live]) c.haltSync();
      process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGTERM" ? 15 : 1));
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The host PID of the container's PID 1: a child of nspawn whose innermost PID is 1. */
function findLeader(nspawnPid: number): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${entry}/status`, "utf8");
    } catch {
      continue;
    }
    const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
    if (ppid !== nspawnPid) continue;
    const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/) ?? [];
    if (nspid.length > 1 && nspid.at(-1) === "1") return Number(entry);
  }
  return undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A running container. */
export class Container {
  #copy: RootCopy;
  #nspawn: ChildProcess;
  #exited = false;
  #halted = false;

  private constructor(readonly name: string, copy: RootCopy, nspawn: ChildProcess, readonly logFile: string, public leaderPid: number) {
    this.#copy = copy;
    this.#nspawn = nspawn;
    nspawn.once("exit", () => (this.#exited = true));
  }

  /** The host path of the container's `/`. */
  get root(): string {
    return this.#copy.dir;
  }

  /** The Debian release booted. */
  get suite(): Suite {
    return this.#copy.suite;
  }

  /** The major version of the systemd running as PID 1 (252 on bookworm, 257 on trixie). */
  get systemdVersion(): number {
    return SUITE_SYSTEMD[this.#copy.suite];
  }

  /** The host PID of systemd-nspawn (the process this harness started). */
  get nspawnPid(): number {
    return this.#nspawn.pid!;
  }

  /** Boots a fresh container and waits until systemd says running or degraded. */
  static async boot(opts: BootOptions = {}): Promise<Container> {
    installExitHooks();
    const name = `${opts.name ?? "stagehand-test"}-${randomBytes(3).toString("hex")}`;
    sweepStale();
    const copy = overlayRoot(`${name}-`, opts.suite ?? defaultSuite());
    const logFile = join(dirname(copy.dir), "console.log");
    const marker = join(dirname(copy.dir), MARKER);
    let nspawn: ChildProcess | undefined;
    let container: Container | undefined;
    try {
      opts.prepare?.(copy.dir);
      const logFd = openSync(logFile, "w");
      try {
        // Own cgroups first (see CGROUP_PRELUDE), then exec nspawn: same PID.
        nspawn = spawn("sh", ["-c", CGROUP_PRELUDE, "sh", name, "-D", copy.dir, "--register=no", "--keep-unit", "--boot", "-M", name, "--console=read-only", ...(opts.nspawnArgs ?? [])], {
          stdio: ["ignore", logFd, logFd],
        });
      } finally {
        closeSync(logFd);
      }
      const deadline = Date.now() + (opts.bootTimeoutMs ?? 90_000);
      let leader: number | undefined;
      let exited = false;
      nspawn.once("exit", () => (exited = true));
      while (leader === undefined) {
        if (exited) throw new Error(`systemd-nspawn exited during boot:\n${tail(logFile)}`);
        if (Date.now() > deadline) throw new Error(`container ${name} did not start PID 1 in time:\n${tail(logFile)}`);
        await sleep(100);
        leader = findLeader(nspawn.pid!);
      }
      writeFileSync(marker, JSON.stringify({ owner: process.pid, nspawn: nspawn.pid, name }));
      container = new Container(name, copy, nspawn, logFile, leader);
      live.add(container);
      let state = "";
      for (;;) {
        if (container.#exited) throw new Error(`container ${name} stopped during boot:\n${tail(logFile)}`);
        try {
          state = container.exec(["systemctl", "is-system-running"], { timeoutMs: 10_000 }).stdout.trim();
        } catch (e) {
          // A busy PID 1 (loading thousands of units, or a loaded machine) may not answer in time:
          // that is "not up yet", not a failed boot; the deadline below still bounds the wait.
          if (!/ETIMEDOUT/.test(String((e as Error)?.message))) throw e;
          state = "not answering";
        }
        if (state === "running" || state === "degraded") break;
        if (Date.now() > deadline) {
          const failed = container.exec(["systemctl", "--failed", "--no-legend"]).stdout;
          const jobs = container.exec(["systemctl", "list-jobs", "--no-legend"]).stdout;
          throw new Error(`container ${name} not up after ${opts.bootTimeoutMs ?? 90_000} ms (state '${state}')\nfailed:\n${failed}\njobs:\n${jobs}\n${tail(logFile)}`);
        }
        await sleep(250);
      }
      return container;
    } catch (e) {
      if (container) await container.halt();
      else {
        if (nspawn?.pid && nspawn.exitCode === null) {
          try { process.kill(nspawn.pid, "SIGKILL"); } catch { /* gone */ }
          await new Promise((r) => (nspawn!.exitCode !== null ? r(undefined) : nspawn!.once("exit", r)));
        }
        copy.dispose();
      }
      throw e;
    }
  }

  /**
   * Runs a command inside (as root unless `opts.user`), with a clean environment plus `opts.env`.
   * It joins the container's namespaces but not its cgroups: services that look at their caller's
   * cgroup (logind 257) refuse it; run such commands under `systemd-run --wait --pipe`.
   */
  exec(argv: string[], opts: ExecOptions = {}): ExecResult {
    const env = { PATH: DEFAULT_PATH, HOME: "/root", LANG: "C.UTF-8", TERM: "dumb", ...opts.env };
    const envArgs = ["env", "-i", ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
    const inner = opts.user !== undefined ? ["runuser", "-u", opts.user, "--", ...envArgs, ...argv] : [...envArgs, ...argv];
    const nsArgs = ["-t", String(this.leaderPid), "-a"];
    if (opts.cwd) nsArgs.push(`--wdns=${opts.cwd}`);
    const r = spawnSync("nsenter", [...nsArgs, "--", ...inner], {
      input: opts.input, encoding: "utf8", timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024,
    });
    if (r.error) throw new Error(`nsenter ${argv.join(" ")}: ${r.error.message}`);
    return { status: r.status ?? 128 + 9, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  }

  /** Runs a shell script inside with /bin/sh -c. */
  sh(script: string, opts?: ExecOptions): ExecResult {
    return this.exec(["/bin/sh", "-c", script], opts);
  }

  /** Runs a command (argv, or a shell script if a string); returns stdout, throws on non-zero exit. */
  must(cmd: string[] | string, opts?: ExecOptions): string {
    const argv = typeof cmd === "string" ? ["/bin/sh", "-c", cmd] : cmd;
    const r = this.exec(argv, opts);
    if (r.status !== 0) throw new Error(`in ${this.name}: '${argv.join(" ")}' exited ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    return r.stdout;
  }

  /** Writes a file inside the container (parents created). */
  writeFile(path: string, content: string | Uint8Array, mode = 0o644): void {
    const host = join(this.root, path);
    mkdirSync(dirname(host), { recursive: true });
    writeFileSync(host, content);
    chmodSync(host, mode);
  }

  /** Copies a host file into the container. */
  copyIn(hostPath: string, containerPath: string, mode?: number): void {
    const host = join(this.root, containerPath);
    mkdirSync(dirname(host), { recursive: true });
    copyFileSync(hostPath, host);
    if (mode !== undefined) chmodSync(host, mode);
  }

  /** Copies the compiled binary to /usr/local/bin/stagehand inside; returns that path. */
  installStagehand(binary = join(REPO_ROOT, "dist", "stagehand")): string {
    if (!existsSync(binary)) throw new Error(`${binary} is missing: run 'bun run build' first`);
    this.copyIn(binary, "/usr/local/bin/stagehand", 0o755);
    return "/usr/local/bin/stagehand";
  }

  /** The last lines of the console log. */
  consoleTail(lines = 40): string {
    return tail(this.logFile, lines);
  }

  /**
   * Powers the container off (SIGRTMIN+4 to its PID 1), kills nspawn if it has not exited within
   * `timeoutMs`, then removes the overlay. Safe to call twice.
   */
  async halt(timeoutMs = 30_000): Promise<void> {
    if (this.#halted) return;
    if (!this.#exited) {
      try { process.kill(this.leaderPid, SIGRTMIN_PLUS_4); } catch { /* already gone */ }
      const deadline = Date.now() + timeoutMs;
      while (!this.#exited && Date.now() < deadline) await sleep(100);
      if (!this.#exited) {
        try { process.kill(this.nspawnPid, "SIGKILL"); } catch { /* gone */ }
        while (!this.#exited && alive(this.nspawnPid)) await sleep(50);
      }
    }
    this.#finish();
  }

  /** Synchronous last-resort halt for process exit: SIGKILL nspawn, wait briefly, dispose. */
  haltSync(): void {
    if (this.#halted) return;
    if (!this.#exited && alive(this.nspawnPid)) {
      try { process.kill(this.nspawnPid, "SIGKILL"); } catch { /* gone */ }
      spawnSync("sh", ["-c", `i=0; while kill -0 ${this.nspawnPid} 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done`]);
    }
    this.#finish();
  }

  #finish(): void {
    this.#halted = true;
    live.delete(this);
    // Best effort: remove this container's (now empty) cgroups, deepest first.
    spawnSync("sh", ["-c", `find /sys/fs/cgroup -mindepth 2 -maxdepth 6 -type d -path "*/${CGROUP_PARENT}/$1.scope" 2>/dev/null | while read -r d; do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done; true`, "sh", this.name]);
    this.#copy.dispose();
  }
}

/** Marks a container's directory with who owns it, so a later run can clean up after a killed one. */
const MARKER = "stagehand-container.json";

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return "";
  }
}

/**
 * Removes what a test process killed outright (SIGKILL, e.g. by the runner's timeout) left behind:
 * only directories this harness marked, whose owner process is gone; their nspawn is killed only if
 * it still runs our machine name.
 */
function sweepStale(): void {
  for (const entry of readdirSync("/tmp")) {
    const marker = join("/tmp", entry, MARKER);
    if (!existsSync(marker)) continue;
    let m: { owner: number; nspawn: number; name: string };
    try {
      m = JSON.parse(readFileSync(marker, "utf8"));
    } catch {
      continue;
    }
    if (alive(m.owner) && cmdline(m.owner) !== "") continue;
    if (cmdline(m.nspawn).includes(`-M ${m.name} `) || cmdline(m.nspawn).endsWith(`-M ${m.name}`)) {
      try { process.kill(m.nspawn, "SIGKILL"); } catch { /* gone */ }
      spawnSync("sh", ["-c", `i=0; while kill -0 ${m.nspawn} 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done`]);
    }
    const dir = join("/tmp", entry, "root");
    spawnSync("umount", ["-R", dir]);
    spawnSync("umount", ["-l", dir]);
    rmSync(join("/tmp", entry), { recursive: true, force: true });
  }
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no console log)";
  }
}

/** Boots a container, runs `fn`, and always halts it. */
export async function withContainer<T>(fn: (c: Container) => Promise<T> | T, opts?: BootOptions): Promise<T> {
  const c = await Container.boot(opts);
  try {
    return await fn(c);
  } finally {
    await c.halt();
  }
}

/** Removes a directory tree inside the container. */
export function removeInside(c: Container, path: string): void {
  rmSync(join(c.root, path), { recursive: true, force: true });
}
