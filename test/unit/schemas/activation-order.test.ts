/** `stagehand plan --graph FILE... --json`, run by the built binary, against docs/schemas/activation-order.schema.json. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { graphFixture } from "./graph-fixture.ts";
import { assertInvalid, assertValid, mutated, REPO_ROOT, stagehand, wholeDocument } from "./validate.ts";

type Order = { steps: { name: string; kind: string; builtin?: string }[] };

function order(...graphs: string[]): Order {
  const r = stagehand(["plan", ...graphs.flatMap((g) => ["--graph", g]), "--json"]);
  assert.is(r.status, 0, r.stderr);
  return wholeDocument(r, "plan --graph --json") as Order;
}

let repo: Order;

test("the repository's activation-scripts graph matches the schema", () => {
  repo = order(join(REPO_ROOT, "activation-scripts"));
  assertValid("activation-order", repo);
  assert.ok(repo.steps.some((s) => s.kind === "builtin") && repo.steps.some((s) => s.kind === "shell"), "both kinds present");
});

test("a graph of shell and builtin steps with after and before matches the schema", () => {
  const doc = order(graphFixture().graph);
  assertValid("activation-order", doc);
  assert.equal(doc.steps.map((s) => s.name).sort(), ["fails", "greet", "nodry", "users"]);
});

test("negative: a wrong type, a shell step naming a builtin, a builtin step without one, an unknown field", () => {
  const shell = repo.steps.findIndex((s) => s.kind === "shell");
  const builtin = repo.steps.findIndex((s) => s.kind === "builtin");
  assertInvalid("activation-order", mutated(repo, (d) => { d.steps[0].supportsDryActivation = "true"; }), "a string for a boolean");
  assertInvalid("activation-order", mutated(repo, (d) => { d.steps[0].after = "users"; }), "after as a string");
  assertInvalid("activation-order", mutated(repo, (d) => { d.steps[0].kind = "perl"; }), "an unknown kind");
  assertInvalid("activation-order", mutated(repo, (d) => { d.steps[shell].builtin = "etc"; }), "a shell step with a builtin");
  assertInvalid("activation-order", mutated(repo, (d) => { delete d.steps[builtin].builtin; }), "a builtin step without its builtin");
  assertInvalid("activation-order", mutated(repo, (d) => { d.steps[0].text = "echo"; }), "an unknown step field");
});

test.run();
