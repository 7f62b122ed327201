/**
 * A system switch from start to end, in ng's order: contract, NixOS check, /run/nixos and the
 * lock, pre-switch check (`check` stops), boot loader (`switch`, `boot`), syncfs, (`boot` stops),
 * init interface version, then plan and either print it (`dry-activate`) or carry it out.
 */
import { join } from "node:path";
import { pipelinedAll } from "../../dbus/pipeline.ts";
import { InputFileError } from "../../fs/read.ts";
import { SystemdManager } from "../../systemd/manager.ts";
import { diskUnitDirectory, type SharedFileStates, type UnitDirectory } from "../../units/dir.ts";
import { runActivation } from "./activation.ts";
import { installBootloader, installsBootloader } from "../host/bootloader.ts";
import { runPreSwitchCheck } from "../host/checks.ts";
import { type Action, readSwitchEnv, requireNixos, type SwitchEnv } from "../host/contract.ts";
import { DEBT_FILE, loadDebt, saveDebt, updateDebt } from "../state/debt.ts";
import type { ManagerConnection, SwitchSystemd } from "./types.ts";
import { EXIT, SwitchExit } from "../host/exit.ts";
import { checkInitInterfaceVersion } from "../host/interface-version.ts";
import { SwitchLists, sweepListTemps, SYSTEM_RUN_DIR } from "../state/lists.ts";
import { acquireSwitchLock, ensureRunDir } from "../host/lock.ts";
import type { SwitchLog } from "./log.ts";
import { DEPRECATED_ACTIVATION_LISTS, executePlan, persistLists } from "./phases.ts";
import { canonicalOrUnknown, generationUnitDirectory, readFstab } from "../load.ts";
import { type ActiveUnit, applyActivationRequests, dryActivateAfter, dryActivateBefore, listsToPersist, newAndFailedUnits, type PlanInput, planSwitchReadingFragments, type PrintOptions, reloadsAfterDaemonReload, sortUnits, type UnitPlan } from "../plan/index.ts";
import { type LineSink, runChild } from "./run-command.ts";
import { emptySummary, type SwitchSummary } from "./summary.ts";
import { swapoff } from "./swap.ts";
import { syncStore } from "../host/sync.ts";
import { switchSystemd } from "./systemd-adapter.ts";
import { switchUsers, type UserSwitchParent } from "./user.ts";

/** Where the system switch keeps its state. */
export const RUN_DIR = SYSTEM_RUN_DIR;

/** What a system switch needs of the machine; tests pass a temporary root and a fake manager. */
export interface SystemHost {
  /** The root the switch's paths are under (/etc, /run, /proc/1/exe): "/" on a machine. */
  root: string;
  /** Connects to the system's service manager. */
  connect(): Promise<SystemManagerConnection>;
}

/** The system manager's connection: the switch's view, and the users' switches over logind. */
export interface SystemManagerConnection extends ManagerConnection {
  /** Runs the per-user switch for every logged-in user; resolves to 0, or 4 if any failed. */
  switchUsers(p: Omit<UserSwitchParent, "manager">): Promise<number>;
}

/** The machine: systemd and logind over the system bus. */
const MACHINE_SYSTEM_HOST: SystemHost = {
  root: "/",
  async connect() {
    const manager = await SystemdManager.connect();
    const systemd = switchSystemd(manager);
    return {
      systemd,
      switchUsers: (p) => switchUsers({ ...p, manager }),
      close() { systemd.close(); manager.close(); },
    };
  },
};

export interface SystemSwitchOptions {
  action: Action;
  log: SwitchLog;
  /** `--explain`: reasons under each dry-activate list. */
  explain?: boolean;
  /** `--diff`: unit file diffs under dry-activate's restart/reload lists. */
  diff?: boolean;
  /** Filled in as the switch goes (for `--json`). */
  summary?: SwitchSummary;
  env?: Record<string, string | undefined>;
}

/**
 * The running /etc/fstab. One that cannot be read as a regular file is taken as empty, with a
 * warning: refusing it would stop every switch before the activation that puts /etc right again.
 */
function readRunningFstab(path: string, log: SwitchLog): string | undefined {
  try {
    return readFstab(path);
  } catch (e) {
    if (!(e instanceof InputFileError)) throw e;
    log.warn(`warning: ${e.message}; taken as empty`);
    return undefined;
  }
}

/** One system switch's settings and where its output goes, read once. */
interface SystemSwitch {
  env: SwitchEnv;
  action: Action;
  log: SwitchLog;
  summary: SwitchSummary;
  explain?: boolean;
  diff?: boolean;
  /** A path of the machine, under the host's root. */
  at(path: string): string;
  runDir: string;
  /** The generation being replaced, for the user managers' old-vs-new comparison. */
  oldToplevel: string;
  /** Children write through us, so a vanished terminal cannot kill them (see run-command.ts). */
  sink: LineSink;
}

/** Runs a system switch; resolves to the exit status (SwitchExit for early exits). */
export async function runSystemSwitch(o: SystemSwitchOptions, host: SystemHost = MACHINE_SYSTEM_HOST): Promise<number> {
  const env: SwitchEnv = readSwitchEnv(o.env ?? process.env);
  const at = (path: string) => join(host.root, path);
  const { action, log } = o;
  const summary = o.summary ?? emptySummary(action, env.toplevel);
  summary.toplevel = env.toplevel;
  const current = canonicalOrUnknown(at("/run/current-system"));
  const sw: SystemSwitch = {
    env, action, log, summary, explain: o.explain, diff: o.diff, at, runDir: at(RUN_DIR),
    oldToplevel: current === "/unknown" ? at("/run/current-system") : current,
    sink: { stdout: (l) => log.childStdout(l), stderr: (l) => log.childStderr(l) },
  };
  process.env.NIXOS_ACTION = action;

  requireNixos(host.root, env.distroId);
  const runDirAside = ensureRunDir(sw.runDir);
  if (runDirAside) sw.log.warn(`warning: ${sw.runDir} was not a directory; moved to ${runDirAside}`);
  const lock = acquireSwitchLock(sw.runDir);
  if (lock.movedAside) sw.log.warn(`warning: ${lock.path} was not a regular file; moved to ${lock.movedAside}`);
  try {
    if (action !== "dry-activate") sweepListTemps(sw.runDir, [DEBT_FILE]);
    if (!env.noCheck) await runPreSwitchCheck(env.preSwitchCheck, env.toplevel, action, sw.sink);
    if (action === "check") return EXIT.ok;
    if (installsBootloader(action)) await installBootloader(env.installBootloader, env.toplevel, sw.sink);
    syncStore(env.noSync);
    if (action === "boot") return EXIT.ok;
    checkInitInterfaceVersion(env.toplevel, at("/run/current-system/init-interface-version"));
    const newPid1 = join(env.systemd, "lib/systemd/systemd");
    if (canonicalOrUnknown(newPid1) === "/unknown") throw new SwitchExit(EXIT.notNixos, []);

    const lists = new SwitchLists(sw.runDir, action === "dry-activate", (l) => sw.log.warn(l));
    const connection = await host.connect();
    try {
      return await switchUnits(sw, connection, lists, newPid1);
    } finally {
      connection.close();
    }
  } finally {
    lock.release();
  }
}

/** Plans the units' switch against the running manager, then prints it (dry-activate) or carries it out. */
async function switchUnits(sw: SystemSwitch, connection: SystemManagerConnection, lists: SwitchLists, newPid1: string): Promise<number> {
  const { env, at, log } = sw;
  const { systemd } = connection;
  // When no unit changed, both generations resolve to the same unit directory: one stat for both.
  // (Read before the activation, which may change /etc; the re-read after it shares nothing.)
  const sharedStates: SharedFileStates = new Map();
  const oldDir = diskUnitDirectory(at("/etc/systemd/system"), { sharedStates });
  const newDir = generationUnitDirectory(env.toplevel, { sharedStates });
  const input: Omit<PlanInput, "active"> = {
    old: oldDir,
    new: newDir,
    oldFstab: readRunningFstab(at("/etc/fstab"), log),
    newFstab: readFstab(join(env.toplevel, "etc/fstab")),
    lists: { start: lists.read("start"), restart: lists.read("restart"), reload: lists.read("reload") },
    displayAllUnits: env.displayAllUnits,
    systemd: {
      currentPid1: canonicalOrUnknown(at("/proc/1/exe")),
      newPid1: canonicalOrUnknown(newPid1),
      currentSystemConf: canonicalOrUnknown(at("/etc/systemd/system.conf")),
      newSystemConf: canonicalOrUnknown(join(env.toplevel, "etc/systemd/system.conf")),
    },
  };
  // ng reads every active unit's FragmentPath; only the units whose turn changes the plan need
  // it (see PlanInput.touched), which on a small change is a few dozen reads instead of thousands.
  const listed = await systemd.activeUnits({ fragments: false });
  const { plan, active: before } = await planSwitchReadingFragments(input, listed, (a, units) => systemd.withFragmentPaths(a, units));
  if (sw.action === "dry-activate") return dryActivate(sw, lists, plan, { before, oldDir, newDir });

  persistLists(lists, listsToPersist(plan));
  const status = await executePlan({
    plan, sortUnits, systemd, lists, log, summary: sw.summary,
    scope: {
      kind: "system",
      planner: {
        applyActivationRequests: (p, r) => applyActivationRequests(p, { ...r, active: before, old: diskUnitDirectory(at("/etc/systemd/system")), new: newDir, dry: false }),
        reloadsAfterDaemonReload: (p, isActive) => reloadsAfterDaemonReload(p, isActive, newDir),
        newAndFailedUnits: (b, a) => newAndFailedUnits(b, a),
      },
      before,
      toplevel: env.toplevel,
      activate: () => runActivation(env.out, false, process.env, sw.sink),
      swapoff,
      switchUsers: () => connection.switchUsers({ log, action: sw.action, toplevel: env.toplevel, oldToplevel: sw.oldToplevel, summary: sw.summary }),
      showStatus: async (units) => {
        await runChild([join(env.systemd, "bin/systemctl"), "status", "--no-pager", "--full", ...units], process.env, sw.sink);
      },
    },
  });
  await recordDebt(systemd, sw.summary, env.toplevel, sw.runDir);
  return status;
}

/** dry-activate: the plan's lines, the dry activation script, and the lines its requests add. */
async function dryActivate(sw: SystemSwitch, lists: SwitchLists, initial: UnitPlan, units: { before: Record<string, ActiveUnit>; oldDir: UnitDirectory; newDir: UnitDirectory }): Promise<number> {
  const { log } = sw;
  const print: PrintOptions = { explain: sw.explain, ...(sw.diff ? { diff: { old: units.oldDir, new: units.newDir } } : {}) };
  for (const l of dryActivateBefore(initial, print)) log.line(l);
  log.line("would activate the configuration...");
  sw.summary.activation = await runActivation(sw.env.out, true, process.env, sw.sink);
  if (lists.exists("dryActivationRestart") || lists.exists("dryActivationReload")) log.warn(DEPRECATED_ACTIVATION_LISTS);
  const plan = applyActivationRequests(initial, {
    restart: lists.read("dryActivationRestart"), reload: lists.read("dryActivationReload"),
    active: units.before, old: units.oldDir, new: units.newDir, dry: true,
  });
  lists.remove("dryActivationRestart");
  lists.remove("dryActivationReload");
  for (const l of dryActivateAfter(plan, print)) log.line(l);
  fillDrySummary(sw.summary, plan);
  return EXIT.ok;
}

function fillDrySummary(s: SwitchSummary, plan: UnitPlan): void {
  s.stopped = sortUnits(Object.keys(plan.stop));
  s.skipped = sortUnits(Object.keys(plan.skip)).map((unit) => ({ unit, reason: plan.skip[unit]! }));
  s.reloaded = sortUnits(Object.keys(plan.reload));
  s.restarted = sortUnits(Object.keys(plan.restart));
  s.started = sortUnits(Object.keys(plan.start));
  s.swapsStopped = plan.swapsToStop.map((x) => x.device);
  s.systemdRestarted = plan.restartSystemd;
}

/** Updates the restart debt after a real switch; never fails the switch. */
async function recordDebt(systemd: SwitchSystemd, s: SwitchSummary, toplevel: string, runDir: string): Promise<void> {
  try {
    const skipped = new Map(s.skipped.map((x) => [x.unit, x.reason] as const));
    const units = [...skipped.keys()];
    const ids = new Map<string, string>();
    (await pipelinedAll(units, (u) => systemd.invocationId(u))).forEach((id, i) => {
      if (id) ids.set(units[i]!, id);
    });
    const settled = [...s.stopped, ...s.restarted, ...s.started].filter((u) => !skipped.has(u));
    saveDebt(runDir, updateDebt(loadDebt(runDir), { toplevel, now: new Date(), skipped, settled, invocationIds: ids }));
  } catch { /* bookkeeping only */ }
}

