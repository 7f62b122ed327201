/**
 * `stagehand systemd ...`: a diagnostic front-end to the D-Bus systemd client, so the client can
 * be exercised by hand and in tests exactly as the switch uses it (jobs awaited via JobRemoved).
 */
import { parseArgs, UsageError } from "../args.ts";
import { err, out } from "../../output/lines.ts";
import { DBusCallError, DBusDisconnectedError, DBusTimeoutError } from "../../dbus/connection.ts";
import { describeJobResult, jobSucceeded } from "../../systemd/job-result.ts";
import type { JobType } from "../../systemd/job-result.ts";
import { runJob } from "../../systemd/jobs.ts";
import { listUsers, userProperties } from "../../systemd/login1.ts";
import { SystemdManager } from "../../systemd/manager.ts";
import { sortBytewise } from "../../text/bytewise.ts";

const JOB_VERBS: Record<string, JobType> = {
  start: "start", stop: "stop", restart: "restart", reload: "reload",
  "try-restart": "try-restart", "reload-or-restart": "reload-or-restart",
};

/** Runs `stagehand systemd SUBCOMMAND ...`. */
export async function run(args: string[]): Promise<number> {
  const p = parseArgs(args, [], ["all"]);
  const [sub, ...rest] = p.positionals;
  if (sub === undefined) throw new UsageError("systemd needs a subcommand: list-units, show, start, stop, restart, reload, try-restart, reload-or-restart, daemon-reload, daemon-reexec, list-users");
  const known = ["list-units", "show", "list-users", "daemon-reload", "daemon-reexec", ...Object.keys(JOB_VERBS)];
  if (!known.includes(sub)) throw new UsageError(`unknown systemd subcommand '${sub}'`);
  let manager: SystemdManager;
  try {
    manager = await SystemdManager.connect();
  } catch (e) {
    err(`stagehand systemd: cannot reach systemd over D-Bus: ${(e as Error).message}`);
    return 1;
  }
  try {
    return await dispatch(manager, sub, rest, p.flags.has("all"));
  } catch (e) {
    if (e instanceof DBusCallError || e instanceof DBusDisconnectedError || e instanceof DBusTimeoutError) {
      err(`stagehand systemd ${sub}: ${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    manager.close();
  }
}

async function dispatch(m: SystemdManager, sub: string, rest: string[], all: boolean): Promise<number> {
  if (sub === "list-units") {
    const units = await m.listUnitsByPatterns(all ? [] : ["active", "activating", "deactivating", "reloading", "failed"], rest);
    sortBytewise(units, (u) => u.name);
    const w = Math.max(4, ...units.map((u) => u.name.length));
    out(`${"UNIT".padEnd(w)} LOAD       ACTIVE       SUB          DESCRIPTION`);
    for (const u of units) {
      out(`${u.name.padEnd(w)} ${u.loadState.padEnd(10)} ${u.activeState.padEnd(12)} ${u.subState.padEnd(12)} ${u.description}`);
    }
    out(`${units.length} units listed.`);
    return 0;
  }
  if (sub === "show") {
    if (rest.length !== 1) throw new UsageError("systemd show needs exactly one UNIT");
    const p = await m.unitProperties(rest[0]!);
    const line = (k: string, v: unknown) => out(`${k}=${v}`);
    line("Id", p.id);
    line("Description", p.description);
    line("LoadState", p.loadState);
    line("ActiveState", p.activeState);
    line("SubState", p.subState);
    line("FragmentPath", p.fragmentPath);
    line("DropInPaths", p.dropInPaths.join(" "));
    line("ActiveEnterTimestamp", p.activeEnterTimestamp);
    if (p.mainPID !== undefined) {
      line("MainPID", p.mainPID);
      line("ExecMainStatus", p.execMainStatus);
      line("NRestarts", p.nRestarts);
      line("Result", p.result);
    }
    return 0;
  }
  if (sub === "list-users") {
    for (const u of await listUsers(m.bus)) {
      const p = await userProperties(m.bus, u.path);
      out(`${u.uid} ${u.name} gid=${p.gid} runtime=${p.runtimePath}`);
    }
    return 0;
  }
  if (sub === "daemon-reload") {
    await m.reload();
    out("daemon-reload: done");
    return 0;
  }
  if (sub === "daemon-reexec") {
    await m.reexecute();
    out("daemon-reexec: done");
    return 0;
  }
  const type = JOB_VERBS[sub];
  if (type === undefined) throw new UsageError(`unknown systemd subcommand '${sub}'`);
  if (rest.length === 0) throw new UsageError(`systemd ${sub} needs at least one UNIT`);
  let status = 0;
  // One job per unit, all enqueued before any is awaited (as a switch does).
  const outcomes = await Promise.all(rest.map((unit) => runJob(m, type, unit)));
  for (const o of outcomes) {
    out(describeJobResult(type, o.unit, o.result));
    if (!jobSucceeded(o.result)) status = 1;
  }
  return status;
}
