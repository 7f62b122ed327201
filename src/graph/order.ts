/**
 * Orders steps as NixOS's `textClosureMap` does, so a graph rendered from `system.activationScripts`
 * runs in exactly the order NixOS's generated `activate` script would: visit step names in sorted
 * order, and before each step, its dependencies in the order they were declared (depth first).
 * Unlike Nix, a cycle or an unknown dependency is an error naming the steps, raised before anything runs.
 */
import { byteCompare } from "../text/bytewise.ts";
import type { StepDeclaration } from "./step.ts";

/** A graph that cannot be ordered. */
export class GraphError extends Error {
  override name = "GraphError";
}

/**
 * Returns the steps in execution order. `before` edges are folded into the later step's `after`
 * list (appended after its own `after`, in sorted order), so independent steps keep a stable order.
 */
export function orderSteps(steps: readonly StepDeclaration[]): StepDeclaration[] {
  const byName = new Map<string, StepDeclaration>();
  for (const s of steps) byName.set(s.name, s);

  const deps = new Map<string, string[]>();
  for (const s of steps) deps.set(s.name, [...s.after]);
  const beforeEdges = [...steps].sort((a, b) => byteCompare(a.name, b.name));
  for (const s of beforeEdges) {
    for (const later of s.before) {
      const list = deps.get(later);
      if (!list) throw new GraphError(`step '${s.name}' (${s.source}) must run before unknown step '${later}'`);
      if (!list.includes(s.name)) list.push(s.name);
    }
  }
  for (const s of steps) {
    for (const d of deps.get(s.name)!) {
      if (!byName.has(d)) throw new GraphError(`step '${s.name}' (${s.source}) depends on unknown step '${d}'`);
    }
  }

  const state = new Map<string, "visiting" | "done">();
  const order: StepDeclaration[] = [];
  const stack: string[] = [];
  const visit = (name: string): void => {
    const st = state.get(name);
    if (st === "done") return;
    if (st === "visiting") {
      const cycle = [...stack.slice(stack.indexOf(name)), name];
      throw new GraphError(`dependency cycle between steps: ${cycle.join(" -> ")}`);
    }
    state.set(name, "visiting");
    stack.push(name);
    for (const d of deps.get(name)!) visit(d);
    stack.pop();
    state.set(name, "done");
    order.push(byName.get(name)!);
  };
  for (const name of [...byName.keys()].sort(byteCompare)) visit(name); // as Nix's attrNames: bytewise
  return order;
}
