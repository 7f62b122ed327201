/**
 * The builtin steps a graph may name. Each concern registers its step here, so `graph/` stays
 * independent of what the steps do.
 */
import type { BuiltinRegistry } from "../graph/executor.ts";
import type { BuiltinStep } from "../graph/step.ts";
import { usersStep } from "../users/step.ts";
import { etcStep } from "../etc/step.ts";

const registry = new Map<string, BuiltinStep>();

/** The registry of builtin steps. */
export function builtins(): BuiltinRegistry {
  return registry;
}

/** Adds a builtin step implementation under `name`. */
function registerBuiltin(name: string, step: BuiltinStep): void {
  registry.set(name, step as BuiltinStep);
}

registerBuiltin("users", usersStep);
registerBuiltin("etc", etcStep);
