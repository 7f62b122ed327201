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
 * The most steps a graph may have. A NixOS system declares a few dozen activation scripts; tens
 * of thousands means a broken generator, and each step costs a process and its output lines at
 * every boot. Refused before anything runs, as any unusable graph.
 */
export const MAX_STEPS = 10_000;

/**
 * Returns the steps in execution order. `before` edges are folded into the later step's `after`
 * list (appended after its own `after`, in sorted order), so independent steps keep a stable order.
 */
export function orderSteps(steps: readonly StepDeclaration[]): StepDeclaration[] {
  if (steps.length > MAX_STEPS) throw new GraphError(`the graph has ${steps.length} steps, more than the ${MAX_STEPS} accepted`);
  const byName = new Map<string, StepDeclaration>();
  for (const s of steps) byName.set(s.name, s);

  const deps = new Map<string, string[]>();
  for (const s of steps) deps.set(s.name, [...s.after]);
  // Beside each list, its names as a set: one `before` edge costs O(1), not a scan of the list.
  const listed = new Map<string, Set<string>>();
  const beforeEdges = [...steps].sort((a, b) => byteCompare(a.name, b.name));
  for (const s of beforeEdges) {
    for (const later of s.before) {
      const list = deps.get(later);
      if (!list) throw new GraphError(`step '${s.name}' (${s.source}) must run before unknown step '${later}'`);
      let names = listed.get(later);
      if (!names) listed.set(later, (names = new Set(list)));
      if (!names.has(s.name)) {
        names.add(s.name);
        list.push(s.name);
      }
    }
  }
  for (const s of steps) {
    for (const d of deps.get(s.name)!) {
      if (!byName.has(d)) throw new GraphError(`step '${s.name}' (${s.source}) depends on unknown step '${d}'`);
    }
  }

  // Depth first with an explicit stack (a long chain would overflow the call stack): `path` is the
  // steps being visited, `next` the index of each one's next dependency.
  const state = new Map<string, "visiting" | "done">();
  const order: StepDeclaration[] = [];
  for (const start of [...byName.keys()].sort(byteCompare)) { // as Nix's attrNames: bytewise
    if (state.get(start) === "done") continue;
    state.set(start, "visiting");
    const path = [start];
    const next = [0];
    while (path.length > 0) {
      const top = path.length - 1;
      const name = path[top]!;
      const ds = deps.get(name)!;
      if (next[top]! < ds.length) {
        const d = ds[next[top]!++]!;
        const st = state.get(d);
        if (st === "done") continue;
        if (st === "visiting") {
          const cycle = [...path.slice(path.indexOf(d)), d];
          throw new GraphError(`dependency cycle between steps: ${cycle.join(" -> ")}`);
        }
        state.set(d, "visiting");
        path.push(d);
        next.push(0);
      } else {
        path.pop();
        next.pop();
        state.set(name, "done");
        order.push(byName.get(name)!);
      }
    }
  }
  return order;
}
