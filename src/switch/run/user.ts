/**
 * User service managers (ng since NixOS PR #507588). The system switch asks logind who is logged
 * in and re-runs this binary once per user, as that user, with a cleared environment; the child
 * compares /etc/systemd/user of the old and new generation, re-executes the user manager over the
 * user's bus, stops/reloads/restarts/starts the changed user units and restarts
 * nixos-activation.service (per-user activation such as home-manager); then takes over the units
 * that move from the user's own unit directories to /etc/systemd/user (ng's post-activation pass).
 */
import { spawn } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { QUICK_CALL_TIMEOUT_MS } from "../../dbus/connection.ts";
import { listUsers, userProperties } from "../../systemd/login1.ts";
import { MANAGER_IFACE, SYSTEMD_BUS_NAME, SYSTEMD_PATH, SystemdManager } from "../../systemd/manager.ts";
import { diskUnitDirectory } from "../../units/dir.ts";
import { type Action, parseAction, requiredEnv } from "../host/contract.ts";
import type { ManagerConnection } from "./types.ts";
import { EXIT, SwitchExit } from "../host/exit.ts";
import { ensureRunDir } from "../host/lock.ts";
import { SwitchLists, sweepListTemps } from "../state/lists.ts";
import type { SwitchLog } from "./log.ts";
import { executePlan, persistLists } from "./phases.ts";
import { type ActiveUnit, listsToPersist, planSwitch, planUserMigration, sortUnits, USER_UNIT_DIR, userConfigUnitDir, userDryActivateLines, userMigrationCandidates, withdraw } from "../plan/index.ts";
import { emptySummary, type SwitchSummary } from "./summary.ts";
import { switchSystemd } from "./systemd-adapter.ts";

/** The variable that marks the per-user child and names the parent's executable. */
export const PARENT_EXE_VAR = "__NIXOS_SWITCH_TO_CONFIGURATION_PARENT_EXE";

const ACTIVATION_SERVICE = "nixos-activation.service";

/** How to run this program again: the executable, plus the script when running from source. */
function selfCommand(): string[] {
  const script = process.argv[1];
  const fromSource = script !== undefined && /\.(ts|js|mjs)$/.test(script) && existsSync(script);
  return fromSource ? [process.execPath, script] : [process.execPath];
}

/** The canonical path of the running executable (what the child checks its parent against). */
function selfExe(): string {
  return realpathSync("/proc/self/exe");
}

export interface UserSwitchParent {
  manager: SystemdManager;
  log: SwitchLog;
  action: Action;
  toplevel: string;
  oldToplevel: string;
  summary: SwitchSummary;
  /** The longest one user's switch may take (USER_SWITCH_TIMEOUT_MS). */
  timeoutMs?: number;
}

/**
 * The longest one user's switch may take. It drives that user's own service manager, which the
 * user controls (and the child runs as the user, who may stop it), while the system switch waits
 * with the changed services stopped and its lock held: it must not wait for good, as ng does.
 */
export const USER_SWITCH_TIMEOUT_MS = 5 * 60_000;

/** The status runUserChild gives a child it stopped at the deadline (timeout(1)'s). */
export const USER_CHILD_TIMED_OUT = 124;

/**
 * Runs one user's switch child (`argv`, output inherited) and resolves to its exit status: 1 when
 * it cannot be spawned, 128 when a signal ended it, USER_CHILD_TIMED_OUT when it was still running
 * `timeoutMs` after its start and was killed.
 */
export function runUserChild(argv: string[], opts: { uid?: number; gid?: number; env: Record<string, string> }, timeoutMs: number, report: { error(e: Error): void; timeout(): void }): Promise<number> {
  return new Promise<number>((resolve) => {
    let timedOut = false;
    const child = spawn(argv[0]!, argv.slice(1), { ...opts, stdio: "inherit" });
    const timer = setTimeout(() => {
      timedOut = true;
      report.timeout();
      child.kill("SIGKILL");
    }, timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      report.error(e);
      resolve(1);
    });
    child.once("exit", (c, sig) => {
      clearTimeout(timer);
      resolve(timedOut ? USER_CHILD_TIMED_OUT : c ?? (sig ? 128 : 1));
    });
  });
}

/** Runs the per-user switch for every logged-in user; resolves to 0, or 4 if any failed. */
export async function switchUsers(p: UserSwitchParent): Promise<number> {
  let users;
  try {
    users = await listUsers(p.manager.bus);
  } catch (e) {
    // ng dies here; we report it and go on, so the system units still get started.
    p.log.error(`Unable to list users with logind: ${(e as Error).message}`);
    return EXIT.unitsFailed;
  }
  let status = 0;
  const exe = selfExe();
  const [cmd, ...args] = selfCommand();
  for (const u of users) {
    let props;
    try {
      props = await userProperties(p.manager.bus, u.path);
    } catch (e) {
      // ng fails the whole switch here; one user's logind record must not keep units stopped.
      p.log.error(`Error: Failed to get GID or runtime directory for ${u.name}: ${(e as Error).message}`);
      status = EXIT.unitsFailed;
      continue;
    }
    p.log.line(`reloading user units for ${u.name}...`);
    const timeoutMs = p.timeoutMs ?? USER_SWITCH_TIMEOUT_MS;
    const code = await runUserChild([cmd!, ...args], {
      uid: u.uid,
      gid: props.gid,
      env: {
        XDG_RUNTIME_DIR: props.runtimePath,
        [PARENT_EXE_VAR]: exe,
        TOPLEVEL: p.toplevel,
        OLD_TOPLEVEL: p.oldToplevel,
        NIXOS_ACTION: p.action,
      },
    }, timeoutMs, {
      error: (e) => p.log.error(`Error: Failed to spawn user activation for ${u.name}: ${e.message}`),
      timeout: () => p.log.warn(`warning: user activation for ${u.name} did not finish within ${Math.round(timeoutMs / 1000)} s; stopped`),
    });
    p.summary.users.push({ name: u.name, exitCode: code });
    if (code !== 0) {
      p.log.warn(`warning: user activation for ${u.name} failed`);
      status = EXIT.unitsFailed;
    }
  }
  return status;
}

/** What the per-user switch needs of the machine; tests pass a fake manager. */
export interface UserHost {
  /** The canonical path of the running executable (the parent's must be the same). */
  selfExe(): string;
  /** Connects to the user's manager on `$XDG_RUNTIME_DIR/bus`. */
  connect(runtimeDir: string): Promise<UserManagerConnection>;
}

/** A user manager's connection: the switch's view, and the manager's configuration unit directory. */
export interface UserManagerConnection extends ManagerConnection {
  /** The user's $XDG_CONFIG_HOME/systemd/user per the manager's environment (undefined if unreadable, as ng). */
  configUnitDir(): Promise<string | undefined>;
}

/** The machine: the user manager over D-Bus. */
const MACHINE_USER_HOST: UserHost = {
  selfExe,
  async connect(runtimeDir) {
    // Bounded waits: a user manager that stays quiet must not hold the system switch for minutes.
    const manager = await SystemdManager.connect({ address: `unix:path=${join(runtimeDir, "bus")}`, reloadTimeoutMs: 30_000, reexecTimeoutMs: 30_000 });
    const systemd = switchSystemd(manager);
    return {
      systemd,
      configUnitDir: () => configUnitDir(manager),
      close() { systemd.close(); manager.close(); },
    };
  },
};

/** The child: the per-user switch, run as the user. Resolves to its exit status. */
export async function runUserSwitch(parentExe: string, log: SwitchLog, env: Record<string, string | undefined> = process.env, host: UserHost = MACHINE_USER_HOST): Promise<number> {
  let self = "";
  try { self = host.selfExe(); } catch { /* compared below */ }
  if (parentExe !== self) {
    throw new SwitchExit(EXIT.error, ["This program is not meant to be called from outside of switch-to-configuration."]);
  }
  const toplevel = requiredEnv(env, "TOPLEVEL");
  const oldToplevel = requiredEnv(env, "OLD_TOPLEVEL");
  const action = parseAction(requiredEnv(env, "NIXOS_ACTION"));
  if (!action) throw new SwitchExit(EXIT.error, [`Error: invalid action ${env.NIXOS_ACTION}`]);
  const runtimeDir = env.XDG_RUNTIME_DIR;
  if (!runtimeDir) throw new SwitchExit(EXIT.error, ["Error: XDG_RUNTIME_DIR must be set and non-empty for the user scope"]);
  const dry = action === "dry-activate";

  const listDir = join(runtimeDir, "nixos");
  const listDirAside = ensureRunDir(listDir, 0o700);
  if (listDirAside) log.warn(`warning: ${listDir} was not a directory; moved to ${listDirAside}`);
  // The system switch holds its lock while this child runs: no other switch writes here now.
  if (!dry) sweepListTemps(listDir);
  const lists = new SwitchLists(listDir, dry, (l) => log.warn(l));

  const connection = await host.connect(runtimeDir);
  const { systemd } = connection;
  try {
    const active = await systemd.activeUnits();
    const oldDir = diskUnitDirectory(join(oldToplevel, "etc/systemd/user"));
    const newDir = diskUnitDirectory(join(toplevel, "etc/systemd/user"));
    // Before the main pass (which skips them): active units defined outside /etc/systemd/user
    // that the new generation now ships there; handled after the per-user activation.
    const candidates = userMigrationCandidates(active, oldDir, newDir, await connection.configUnitDir());
    const plan = planSwitch({
      old: oldDir,
      new: newDir,
      active,
      managedPrefix: USER_UNIT_DIR,
      lists: { start: lists.read("start"), restart: lists.read("restart"), reload: lists.read("reload") },
    });
    withdraw(plan.skip, ACTIVATION_SERVICE); // restarted unconditionally after the start phase

    if (dry) {
      // As ng: the migration pass depends on what the per-user activation does, so it has no dry lines.
      for (const line of userDryActivateLines(plan)) log.line(line);
      return EXIT.ok;
    }

    persistLists(lists, listsToPersist(plan));
    return await executePlan({
      plan, sortUnits, systemd, lists, log,
      summary: emptySummary(action, toplevel),
      scope: {
        kind: "user",
        ...(existsSync(join(toplevel, "etc/systemd/user", ACTIVATION_SERVICE)) ? { activationService: ACTIVATION_SERVICE } : {}),
        ...(candidates.length > 0 ? { migration: (activeAfter: Record<string, ActiveUnit>) => planUserMigration(candidates, activeAfter, newDir, plan) } : {}),
      },
    });
  } finally {
    connection.close();
  }
}

/** The user's $XDG_CONFIG_HOME/systemd/user per the user manager's environment (undefined if unreadable, as ng). */
async function configUnitDir(manager: SystemdManager): Promise<string | undefined> {
  try {
    const env = await manager.bus.getProperty<unknown>(SYSTEMD_BUS_NAME, SYSTEMD_PATH, MANAGER_IFACE, "Environment", { timeoutMs: QUICK_CALL_TIMEOUT_MS });
    return Array.isArray(env) ? userConfigUnitDir(env.map(String)) : undefined;
  } catch {
    return undefined;
  }
}
