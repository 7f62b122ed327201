import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { GraphError, MAX_STEPS, orderSteps } from "../../../src/graph/order.ts";
import { step } from "./helpers.ts";

const names = (steps: { name: string }[]) => steps.map((s) => s.name);

test("independent steps run in sorted name order, whatever the declaration order", () => {
  assert.equal(names(orderSteps([step("c"), step("a"), step("b")])), ["a", "b", "c"]);
});

test("dependencies run first, depth first, in declared order (NixOS textClosureMap)", () => {
  const steps = [step("etc", ["users", "groups", "specialfs"]), step("groups", ["users"]), step("users"), step("specialfs"), step("binsh", ["stdio"]), step("stdio")];
  assert.equal(names(orderSteps(steps)), ["stdio", "binsh", "users", "groups", "specialfs", "etc"]);
});

test("before edges make the named step wait", () => {
  const steps = [step("a"), step("z", [], { before: ["a"] })];
  assert.equal(names(orderSteps(steps)), ["z", "a"]);
});

test("an unknown dependency names both steps", () => {
  assert.throws(() => orderSteps([step("etc", ["users"])]), (e: Error) => e instanceof GraphError && /'etc'.*unknown step 'users'/.test(e.message));
});

test("an unknown before target is an error", () => {
  assert.throws(() => orderSteps([step("a", [], { before: ["nope"] })]), /unknown step 'nope'/);
});

test("a cycle is an error that names every step in it", () => {
  const steps = [step("a", ["b"]), step("b", ["c"]), step("c", ["a"]), step("d")];
  assert.throws(() => orderSteps(steps), (e: Error) => e instanceof GraphError && e.message.includes("a -> b -> c -> a"));
});

test("a self-dependency is a cycle", () => {
  assert.throws(() => orderSteps([step("a", ["a"])]), /a -> a/);
});

test("the order is deterministic for a large random graph", () => {
  const steps = Array.from({ length: 200 }, (_, i) => step(`s${String(i).padStart(3, "0")}`, i > 0 ? [`s${String((i * 7) % i).padStart(3, "0")}`] : []));
  const a = names(orderSteps(steps));
  const b = names(orderSteps([...steps].reverse()));
  assert.equal(a, b);
  const pos = new Map(a.map((n, i) => [n, i]));
  for (const s of steps) for (const d of s.after) assert.ok(pos.get(d)! < pos.get(s.name)!, `${d} before ${s.name}`);
});

/**
 * 300 steps with random `after` and `before` edges, acyclic (each edge goes from a lower rank to a
 * higher one, and names are given to ranks at random, so name order is not the answer), declared shuffled.
 */
function seededGraph() {
  let x = 20240611;
  const pick = (n: number) => Math.floor(((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * n); // high bits: an LCG's low bits cycle
  const shuffle = <T>(a: T[]) => { for (let i = a.length - 1; i > 0; i--) { const j = pick(i + 1); [a[i], a[j]] = [a[j]!, a[i]!]; } return a; };
  const ids = shuffle(Array.from({ length: 300 }, (_, i) => `s${String(i).padStart(3, "0")}`));
  const steps = ids.map((name, rank) => {
    const after = rank ? Array.from({ length: pick(4) }, () => ids[pick(rank)]!) : [];
    const before = rank < 299 ? Array.from({ length: pick(3) }, () => ids[rank + 1 + pick(299 - rank)]!) : [];
    return step(name, [...new Set(after)], { before: [...new Set(before)] });
  });
  return shuffle(steps);
}

test("the order of a seeded random graph with before edges is pinned (textClosureMap's, as the recursive visit gave it)", () => {
  const order = names(orderSteps(seededGraph())).join(" ");
  assert.is(createHash("sha256").update(order).digest("hex").slice(0, 16), "1117e641080cc9ae");
});

test("a chain as long as the largest graph accepted is ordered (the visit keeps its own stack)", () => {
  const steps = Array.from({ length: MAX_STEPS }, (_, i) => step(`s${i}`, i ? [`s${i - 1}`] : []));
  const order = orderSteps(steps);
  assert.is(order[0]!.name, "s0");
  assert.is(order[MAX_STEPS - 1]!.name, `s${MAX_STEPS - 1}`);
});

test("a graph of more steps than accepted is a GraphError, before any ordering", () => {
  const steps = Array.from({ length: MAX_STEPS + 1 }, (_, i) => step(`s${i}`));
  assert.throws(() => orderSteps(steps), (e: Error) => e instanceof GraphError && e.message === `the graph has ${MAX_STEPS + 1} steps, more than the ${MAX_STEPS} accepted`);
});

test.run();
