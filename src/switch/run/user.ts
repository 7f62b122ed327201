/**
 * User service managers (ng since NixOS PR #507588). The system switch asks logind who is logged
 * in and re-runs this binary once per user, as that user, with a cleared environment; the child
 * compares /etc/systemd/user of the old and new generation, re-executes the user manager over the
 * user's bus, stops/reloads/restarts/starts the changed user units and restarts
 * nixos-activation.service (per-user activation such as home-manager); then takes over the units
 * that move from the user's own unit directories to /etc/systemd/user (ng's post-activation pass).
 */
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { QUICK_CALL_TIMEOUT_MS } from "../../dbus/connection.ts";
import { listUsers, userProperties } from "../../systemd/login1.ts";
import { MANAGER_IFACE, SYSTEMD_BUS_NAME, SYSTEMD_PATH, SystemdManager } from "../../systemd/manager.ts";
import { diskUnitDirectory } from "../../units/dir.ts";
import { type Action, parseAction, requiredEnv } from "../host/contract.ts";
import type { JobReport, JobVerb, SwitchSystemd } from "./types.ts";
import { EXIT, SwitchExit } from "../host/exit.ts";
import { SwitchLists } from "../state/lists.ts";
import type { SwitchLog } from "./log.ts";
import { errorText, persistLists } from "./phases.ts";
import { listsToPersist, planSwitch, planUserMigration, sortUnits, USER_UNIT_DIR, userConfigUnitDir, userDryActivateLines, userMigrationCandidates, userUnitsLine } from "../plan/index.ts";
import type { SwitchSummary } from "./summary.ts";
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
    const code = await new Promise<number>((resolve) => {
      const child = spawn(cmd!, args, {
        uid: u.uid,
        gid: props.gid,
        stdio: "inherit",
        env: {
          XDG_RUNTIME_DIR: props.runtimePath,
          [PARENT_EXE_VAR]: exe,
          TOPLEVEL: p.toplevel,
          OLD_TOPLEVEL: p.oldToplevel,
          NIXOS_ACTION: p.action,
        },
      });
      child.once("error", (e) => {
        p.log.error(`Error: Failed to spawn user activation for ${u.name}: ${e.message}`);
        resolve(1);
      });
      child.once("exit", (c, sig) => resolve(c ?? (sig ? 128 : 1)));
    });
    p.summary.users.push({ name: u.name, exitCode: code });
    if (code !== 0) {
      p.log.warn(`warning: user activation for ${u.name} failed`);
      status = EXIT.unitsFailed;
    }
  }
  return status;
}

/** Prints "VERB the following user units: A, B" (nothing for an empty set). */
function printUnits(log: SwitchLog, verb: string, units: Iterable<string>): void {
  const line = userUnitsLine(verb, units);
  if (line !== undefined) log.line(line);
}

/** The child: the per-user switch, run as the user. Resolves to its exit status. */
export async function runUserSwitch(parentExe: string, log: SwitchLog, env = process.env): Promise<number> {
  let self = "";
  try { self = selfExe(); } catch { /* compared below */ }
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
  mkdirSync(listDir, { recursive: true });
  chmodSync(listDir, 0o700);
  const lists = new SwitchLists(listDir, dry);

  // Bounded waits: a user manager that stays quiet must not hold the system switch for minutes.
  const manager = await SystemdManager.connect({ address: `unix:path=${join(runtimeDir, "bus")}`, reloadTimeoutMs: 30_000, reexecTimeoutMs: 30_000 });
  const systemd = switchSystemd(manager);
  try {
    const active = await systemd.activeUnits();
    const oldDir = diskUnitDirectory(join(oldToplevel, "etc/systemd/user"));
    const newDir = diskUnitDirectory(join(toplevel, "etc/systemd/user"));
    // Before the main pass (which skips them): active units defined outside /etc/systemd/user
    // that the new generation now ships there; handled after the per-user activation below.
    const candidates = userMigrationCandidates(active, oldDir, newDir, await configUnitDir(manager));
    const plan = planSwitch({
      old: oldDir,
      new: newDir,
      active,
      managedPrefix: USER_UNIT_DIR,
      lists: { start: lists.read("start"), restart: lists.read("restart"), reload: lists.read("reload") },
    });
    delete plan.skip[ACTIVATION_SERVICE]; // restarted unconditionally below
    const hidden = new Set(plan.hidden);
    const visibleStart = Object.keys(plan.start).filter((u) => !hidden.has(u));

    if (dry) {
      // As ng: the migration pass depends on what the per-user activation does, so it has no dry lines.
      for (const line of userDryActivateLines(plan)) log.line(line);
      return EXIT.ok;
    }

    persistLists(lists, listsToPersist(plan));

    let status = 0;
    const finished: JobReport[] = [];
    const phase = async (verb: JobVerb, units: string[], quiet = false) => {
      const pending: Promise<JobReport>[] = [];
      for (const unit of units) {
        try {
          pending.push((await systemd.submit(verb, unit)).done);
        } catch (e) {
          if (!quiet) {
            log.error(`Failed to ${verb} user unit ${unit}: ${errorText(e)}`);
            status = EXIT.unitsFailed;
          }
        }
      }
      finished.push(...(await Promise.all(pending)));
    };

    // Stop before re-exec, so ExecStop runs with the old definition.
    printUnits(log, "stopping", Object.keys(plan.stop));
    await phase("stop", Object.keys(plan.stop), true);
    printUnits(log, "NOT restarting", Object.keys(plan.skip));

    await bestEffort(systemd, "reexecute");
    await bestEffort(systemd, "resetFailed");
    await bestEffort(systemd, "reload");

    printUnits(log, "reloading", Object.keys(plan.reload));
    await phase("reload", Object.keys(plan.reload));
    lists.remove("reload");
    printUnits(log, "restarting", Object.keys(plan.restart));
    await phase("restart", Object.keys(plan.restart));
    lists.remove("restart");
    printUnits(log, "starting", visibleStart);
    await phase("start", Object.keys(plan.start));
    lists.remove("start");

    if (existsSync(join(toplevel, "etc/systemd/user", ACTIVATION_SERVICE))) {
      log.line(`restarting the following user units: ${ACTIVATION_SERVICE}`);
      try {
        const r = await (await systemd.submit("restart", ACTIVATION_SERVICE)).done;
        finished.push(r);
      } catch (e) {
        log.error(`Failed to restart ${ACTIVATION_SERVICE}: ${errorText(e)}`);
        status = EXIT.unitsFailed;
      }
    }

    // ng's second pass: the per-user activation (home-manager's sd-switch) may have removed the
    // user's own copy of a migrating unit, and stopped it; once the /etc copy wins, take it over.
    if (candidates.length > 0) {
      await bestEffort(systemd, "reload"); // in case the per-user activation did not daemon-reload
      const m = planUserMigration(candidates, await systemd.activeUnits(), newDir, plan);
      printUnits(log, "NOT restarting (post-activation)", Object.keys(m.skip));
      printUnits(log, "reloading (post-activation)", Object.keys(m.reload));
      await phase("reload", Object.keys(m.reload));
      printUnits(log, "restarting (post-activation)", Object.keys(m.restart));
      await phase("restart", Object.keys(m.restart));
      printUnits(log, "starting (post-activation)", Object.keys(m.start).filter((u) => !hidden.has(u)));
      await phase("start", Object.keys(m.start));
    }

    const failed: string[] = [];
    for (const r of finished) {
      if (r.result === "timeout" || r.result === "failed" || r.result === "dependency") {
        log.error(`Failed to ${r.job} user unit ${r.unit}`);
        failed.push(r.unit);
        status = EXIT.unitsFailed;
      }
    }
    if (failed.length > 0) {
      const names = sortUnits(failed);
      log.warn(`warning: the following user units failed: ${names.join(", ")}`);
      log.warn(`See \`systemctl --user status ${names.join(" ")}\` for details.`);
    }
    return status;
  } finally {
    systemd.close();
    manager.close();
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

/** ng ignores the results of these calls on the user manager (it sends no Reloading signal). */
async function bestEffort(systemd: SwitchSystemd, what: "reexecute" | "resetFailed" | "reload"): Promise<void> {
  try {
    await systemd[what]();
  } catch { /* as ng: `_ = systemd.reexecute()` */ }
}
