/**
 * The NixOS module's activation graph, rendered by the same Nix the module uses
 * (nixos/lib/activation-graph.nix and nixos/lib/stagehand-steps.nix, evaluated with nix-instantiate)
 * from a realistic `system.activationScripts` fixture, runs in exactly the order NixOS's generated
 * `activate` script would. The oracle is lib/strings-with-deps.nix's textClosureList, re-stated in
 * nixos/lib/text-closure-order.nix and also evaluated by real Nix.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import TOML from "@iarna/toml";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseDeclarations } from "../../../src/graph/declarations.ts";
import { orderSteps } from "../../../src/graph/order.ts";

const ROOT = join(import.meta.dir, "../../..");
const FIXTURE = join(import.meta.dir, "fixtures/activation-scripts.json");
const ETC = "/nix/store/00000000000000000000000000000000-etc/etc";
const SPEC = "/nix/store/00000000000000000000000000000000-users-groups.json";

/** Evaluates a Nix expression strictly and returns its value as JSON. */
function nixEval(expr: string): unknown {
  const r = spawnSync("nix-instantiate", ["--eval", "--strict", "--json", "--expr", expr], { cwd: ROOT, encoding: "utf8" });
  if (r.error) throw new Error(`cannot run nix-instantiate (Debian package nix-bin; test/setup-host.sh installs it): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`nix-instantiate failed:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

const fixtureExpr = `(builtins.fromJSON (builtins.readFile ${FIXTURE}))`;

/** The graph module.nix renders, as a Nix value (module.nix adds `shell` and writes it as TOML). */
function renderedGraph(scripts = fixtureExpr): { steps: Record<string, Record<string, unknown>> } {
  return nixEval(`
    let s = import ./nixos/lib/stagehand-steps.nix { etc = "${ETC}"; usersSpec = "${SPEC}"; };
    in import ./nixos/lib/activation-graph.nix {
      activationScripts = ${scripts};
      inherit (s) builtinSteps extraSteps;
      shell = { interpreter = "/bin/bash"; path = [ "/nix/store/00000000000000000000000000000000-coreutils" ]; preamble = ""; };
    }`) as { steps: Record<string, Record<string, unknown>> };
}

/** NixOS's own order for the same snippets. */
function textClosureOrder(scripts = fixtureExpr): string[] {
  return nixEval(`import ./nixos/lib/text-closure-order.nix ${scripts}`) as string[];
}

/** What stagehand runs: the rendered graph written as TOML, loaded by stagehand's loader, ordered. */
function stagehandOrder(graph: object): string[] {
  const text = TOML.stringify(graph as TOML.JsonMap);
  const { steps } = parseDeclarations("activation-graph.toml", text);
  return orderSteps(steps).map((s) => s.name);
}

test("the oracle reproduces lib/strings-with-deps.nix's documented example", () => {
  const order = textClosureOrder(`{
    a = { deps = [ "b" "c" "e" ]; text = "a"; };
    b = { deps = [ ]; text = "b"; };
    c = { deps = [ "b" ]; text = "c"; };
    d = { deps = [ "c" ]; text = "d"; };
    e = { deps = [ "c" ]; text = "e"; };
  }`);
  // The documented result for [ "a" "b" "c" ] is b c e a; NixOS asks for every name, so d follows.
  assert.equal(order, ["b", "c", "e", "a", "d"]);
});

test("stagehand runs the rendered graph in NixOS's textClosureMap order", () => {
  const graph = renderedGraph();
  const ours = stagehandOrder(graph);
  const nixos = textClosureOrder();
  assert.equal(ours.filter((n) => n !== "users-homes"), nixos);
  // The directories the Perl users snippet created first are created right where it created them.
  assert.is(ours.indexOf("users-homes") + 1, ours.indexOf("users"));
});

test("every snippet keeps its deps as `after` and its supportsDryActivation", () => {
  const fixture = JSON.parse(readFileSync(FIXTURE, "utf8")) as Record<string, string | { deps?: string[]; supportsDryActivation?: boolean; text: string }>;
  const { steps } = renderedGraph();
  for (const [name, v] of Object.entries(fixture)) {
    const step = steps[name]!;
    assert.ok(step, `step ${name} rendered`);
    const deps = typeof v === "string" ? [] : v.deps ?? [];
    assert.equal(step.after, deps, `${name}.after`);
    if (name === "etc" || name === "users") continue;
    const dry = typeof v === "string" ? false : v.supportsDryActivation ?? false;
    assert.is(step.supportsDryActivation, dry, `${name}.supportsDryActivation`);
    assert.is(step.kind, "shell");
    assert.is(step.text, typeof v === "string" ? v : v.text);
  }
});

test("users and etc become builtin steps over the generation's store paths; no Perl is left", () => {
  const graph = renderedGraph();
  assert.equal(graph.steps.etc, {
    kind: "builtin", builtin: "etc", options: { etc: ETC }, after: ["users", "groups", "specialfs"],
    supportsDryActivation: true, description: "link /etc to the generation's etc tree (replaces setup-etc.pl)",
  });
  assert.is(graph.steps.users!.builtin, "users");
  assert.equal(graph.steps.users!.options, { spec: SPEC });
  assert.is(graph.steps.groups!.kind, "shell");
  const toml = TOML.stringify(graph as TOML.JsonMap);
  assert.not.match(toml, /\/bin\/perl|-setup-etc\.pl|-update-users-groups\.pl/);
  const { steps, shell } = parseDeclarations("activation-graph.toml", toml);
  assert.is(shell?.interpreter, "/bin/bash");
  assert.is(steps.find((s) => s.name === "users")!.kind, "builtin");
});

test("a snippet depending on an unknown snippet fails evaluation, naming both", () => {
  try {
    renderedGraph(`{ a = { deps = [ "nope" ]; text = ""; }; }`);
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /system\.activationScripts\.a depends on unknown snippet\(s\): nope/);
  }
});

test("string snippets and a set without users/etc render unchanged", () => {
  const graph = renderedGraph(`{ b = "echo b"; a = { deps = [ "b" ]; text = "echo a"; supportsDryActivation = true; }; }`);
  assert.equal(graph.steps.b, { kind: "shell", text: "echo b", after: [], supportsDryActivation: false });
  assert.equal(stagehandOrder(graph), textClosureOrder(`{ b = "echo b"; a = { deps = [ "b" ]; text = "echo a"; }; }`));
});

test.run();
