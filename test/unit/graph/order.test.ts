import { test } from "uvu";
import * as assert from "uvu/assert";
import { GraphError, orderSteps } from "../../../src/graph/order.ts";
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

test.run();
