/** `stagehand activate ... --json`, run by the built binary on a fixture graph, against docs/schemas/activate.schema.json. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { graphFixture } from "./graph-fixture.ts";
import { assertInvalid, assertValid, lastLineDocument, mutated, stagehand } from "./validate.ts";

type Outcome = { name: string; status: string; exitCode: number; reason?: string; plan?: string[] };
type Run = { status: number; steps: Outcome[] };

function activate(dry: boolean, badSpec = false): Run {
  const f = graphFixture({ badSpec });
  const r = stagehand(["activate", ...(dry ? ["--dry"] : []), "--graph", f.graph, "--root", f.root, "--json", f.system]);
  const doc = lastLineDocument(r.stdout, "activate --json") as Run;
  assert.is(r.status, doc.status, "the document's status is the exit status");
  return doc;
}

const byName = (run: Run, name: string) => run.steps.find((s) => s.name === name)!;
let dry: Run;

test("--dry: ok, failed and skipped steps and a builtin's plan match the schema", () => {
  dry = activate(true);
  assertValid("activate", dry, "activate --dry --json");
  assert.is(dry.status, 1);
  // Shell steps act on this machine's /, so with --root they are refused (failed, with the reason).
  assert.is(byName(dry, "greet").status, "failed");
  assert.match(byName(dry, "greet").reason ?? "", /acts on this machine's \/, not on --root/);
  assert.is(byName(dry, "fails").status, "failed");
  assert.is(byName(dry, "users").status, "ok");
  // A builtin without dry support is skipped in a dry run (a shell step would be refused first).
  assert.is(byName(dry, "nodry").status, "skipped");
  assert.ok(Array.isArray(byName(dry, "users").plan), "the users step carries its plan");
});

test("a real run into a scratch root, and a builtin that fails on a bad spec, match the schema", () => {
  const real = activate(false);
  assertValid("activate", real, "activate --json");
  // As root the users step writes the scratch root's databases; unprivileged (a Nix build's
  // checkPhase) it cannot chown them and fails, which the schema must describe just as well.
  if (process.geteuid?.() === 0) assert.is(byName(real, "users").status, "ok", JSON.stringify(real));
  const bad = activate(false, true);
  assertValid("activate", bad, "activate --json (bad spec)");
  assert.is(byName(bad, "users").status, "failed");
  assert.type(byName(bad, "users").reason, "string");
});

test("negative: a wrong type, an unknown status, ok with a non-zero code, skipped without a reason", () => {
  assertInvalid("activate", mutated(dry, (d) => { d.status = "1"; }), "status as a string");
  assertInvalid("activate", mutated(dry, (d) => { d.steps[0].durationMs = "3"; }), "durationMs as a string");
  assertInvalid("activate", mutated(dry, (d) => { d.steps[0].status = "done"; }), "an unknown step status");
  assertInvalid("activate", mutated(dry, (d) => { const s = d.steps.find((x: Outcome) => x.status === "ok"); s.exitCode = 2; }), "ok with exit code 2");
  assertInvalid("activate", mutated(dry, (d) => { const s = d.steps.find((x: Outcome) => x.status === "skipped"); delete s.reason; }), "skipped without a reason");
  assertInvalid("activate", mutated(dry, (d) => { d.version = 1; }), "an unknown top-level field");
});

test.run();
