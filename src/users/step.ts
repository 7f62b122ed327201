/**
 * The builtin step `users` (NixOS: system.activationScripts.users). Option `spec` is the path of
 * the users-groups.json NixOS writes. Plan: load, validate, plan (pure); apply: lock, sweep what a
 * killed run left, write and print.
 */
import { resolve } from "node:path";
import { isHostRoot, resolveInRoot } from "../fs/root.ts";
import type { BuiltinStep, StepContext, StepPlan } from "../graph/step.ts";
import { readCurrent } from "./load.ts";
import { lockUserDatabases } from "./lock.ts";
import { planUsers, type UsersPlanData } from "./plan.ts";
import { hashPassword } from "./sha512crypt.ts";
import { loadSpec, SpecError } from "./spec.ts";
import { ensureHomes, hasUsersTemps, invalidateNscd, sweepUsersTemps, writeDatabases } from "./write.ts";

/** Loads the spec and the root's files and plans the run. */
export function planUsersStep(root: string, specPath: string, dry: boolean): StepPlan<UsersPlanData> {
  const spec = loadSpec(specPath);
  const data = planUsers(spec, readCurrent(root, spec), { dry, hashPassword });
  // What the etc step resolves owner names against (an /etc file owned by a user this run adds).
  const wouldWrite = new Map([["/etc/passwd", data.next.passwd], ["/etc/group", data.next.group]]);
  return { lines: data.messages, data, wouldWrite };
}

/**
 * Under the databases' lock (/etc/.pwd.lock, as passwd and useradd take it): removes our temporary
 * files a killed run left, writes the planned files (refusing if they changed since planning) and
 * makes the homes while those files are being made durable; then nscd. A run with no file to write
 * and nothing to sweep takes no lock (a no-op activation pays nothing for it); it still enforces
 * shadow's mode and the homes. Messages go to stderr as the Perl script's did. Returns 1 when a
 * home could not be made (the databases are written by then).
 */
export async function applyUsersPlan(root: string, plan: StepPlan<UsersPlanData>, stderr: (l: string) => void, env: Record<string, string | undefined>): Promise<number> {
  for (const l of plan.lines) stderr(l);
  const lock = plan.data.changed.length > 0 || hasUsersTemps(root) ? lockUserDatabases(root) : undefined;
  if (lock?.movedAside) stderr(`warning: /etc/.pwd.lock was not a regular file; moved to ${lock.movedAside}`);
  let homesOk = false;
  try {
    if (lock) sweepUsersTemps(root);
    // Homes are owned by number, so they are made while the new files' fsyncs run (before
    // /etc/passwd is published, as the Perl script made them).
    await writeDatabases(root, plan.data, () => { homesOk = ensureHomes(root, plan.data, stderr); });
  } finally {
    lock?.release();
  }
  invalidateNscd(root, plan.data, env);
  return homesOk ? 0 : 1;
}

/** The builtin step registered as `users`. */
export const usersStep: BuiltinStep<UsersPlanData> = {
  options: { spec: { required: true } },
  plan(ctx: StepContext, options: Record<string, string>) {
    const spec = options.spec;
    if (!spec) throw new SpecError("the users step needs option `spec` (the users-groups.json path)");
    // The spec is the generation's (`${systemConfig}/users-groups.json`): inside the root it acts on.
    const path = isHostRoot(ctx.root) ? resolve(spec) : resolveInRoot(ctx.root, spec);
    return planUsersStep(ctx.root, path, ctx.mode === "dry-activate");
  },
  apply(ctx, plan) {
    return applyUsersPlan(ctx.root, plan, ctx.stderr, ctx.env);
  },
};
