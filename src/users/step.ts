/**
 * The builtin step `users` (NixOS: system.activationScripts.users). Option `spec` is the path of
 * the users-groups.json NixOS writes. Plan: load, validate, plan (pure); apply: write and print.
 */
import { resolve } from "node:path";
import type { BuiltinStep, StepContext, StepPlan } from "../graph/step.ts";
import { readCurrent } from "./load.ts";
import { planUsers, type UsersPlanData } from "./plan.ts";
import { hashPassword } from "./sha512crypt.ts";
import { loadSpec, SpecError } from "./spec.ts";
import { ensureHomes, invalidateNscd, writeDatabases } from "./write.ts";

/** Loads the spec and the root's files and plans the run. */
export function planUsersStep(root: string, specPath: string, dry: boolean): StepPlan<UsersPlanData> {
  const spec = loadSpec(specPath);
  const data = planUsers(spec, readCurrent(root, spec), { dry, hashPassword });
  return { lines: data.messages, data };
}

/** Writes the planned files, then homes and nscd; messages go to stderr as the Perl script's did. */
export function applyUsersPlan(root: string, plan: StepPlan<UsersPlanData>, stderr: (l: string) => void, env: Record<string, string | undefined>): number {
  for (const l of plan.lines) stderr(l);
  writeDatabases(root, plan.data);
  ensureHomes(root, plan.data);
  invalidateNscd(root, plan.data, env);
  return 0;
}

export const usersStep: BuiltinStep<UsersPlanData> = {
  plan(ctx: StepContext, options: Record<string, string>) {
    const spec = options.spec;
    if (!spec) throw new SpecError("the users step needs option `spec` (the users-groups.json path)");
    return planUsersStep(ctx.root, resolve(spec), ctx.mode === "dry-activate");
  },
  apply(ctx, plan) {
    return applyUsersPlan(ctx.root, plan, ctx.stderr, ctx.env);
  },
};
