import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { executeGraph, validateGraph } from "../../../src/graph/executor.ts";
import { DEFAULT_SHELL, loadGraph } from "../../../src/graph/declarations.ts";
import { builtins } from "../../../src/cli/builtins.ts";
import type { BuiltinStep, Graph, RunMode, StepContext, StepDeclaration } from "../../../src/graph/step.ts";
import { step } from "./helpers.ts";
import { tempDir } from "../tmp.ts";

function ctx(mode: RunMode = "activate") {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const c: StepContext = { systemConfig: "/nix/store/x-system", root: "/", mode, env: { PATH: process.env.PATH }, stdout: (l) => stdout.push(l), stderr: (l) => stderr.push(l) };
  return { c, stdout, stderr };
}

const graph = (steps: StepDeclaration[]): Graph => ({ steps, shell: DEFAULT_SHELL });

/** A builtin that records what it was asked to do. */
function recorder(log: string[], fail = false): BuiltinStep<string> {
  return {
    options: { what: { required: true } },
    plan: (_c, options) => ({ lines: [`would do ${options.what}`], data: options.what! }),
    apply: (_c, plan) => { log.push(`applied ${plan.data}`); return fail ? 3 : 0; },
  };
}

test("steps run in dependency order and report outcomes with durations", async () => {
  const dir = tempDir("exec-");
  const log = join(dir, "log");
  const g = graph([step("b", ["a"], { text: `echo b >> ${log}` }), step("a", [], { text: `echo a >> ${log}` })]);
  const { c } = ctx();
  const r = await executeGraph(g, c, new Map());
  assert.is(r.status, 0);
  assert.is(readFileSync(log, "utf8"), "a\nb\n");
  assert.equal(r.outcomes.map((o) => [o.name, o.status]), [["a", "ok"], ["b", "ok"]]);
  assert.ok(r.outcomes.every((o) => o.durationMs >= 0));
});

test("a failed step is reported as NixOS does, later steps still run, status is non-zero", async () => {
  const dir = tempDir("exec-");
  const g = graph([
    step("first", [], { text: "false\necho still-runs-rest-of-snippet" }),
    step("second", ["first"], { text: `touch ${dir}/second` }),
  ]);
  const { c, stdout } = ctx();
  const r = await executeGraph(g, c, new Map());
  assert.is(r.status, 1);
  assert.ok(stdout.includes("Activation script snippet 'first' failed (1)"), stdout.join("\n"));
  assert.ok(existsSync(join(dir, "second")));
  assert.is(r.outcomes[1]!.status, "ok");
});

test("an explicit exit status is reported", async () => {
  const { c, stdout } = ctx();
  const r = await executeGraph(graph([step("x", [], { text: "exit 7" })]), c, new Map());
  assert.is(r.outcomes[0]!.exitCode, 7);
  assert.ok(stdout.includes("Activation script snippet 'x' failed (7)"));
});

test("shell steps see systemConfig, and NIXOS_ACTION only in dry-activate", async () => {
  const dir = tempDir("exec-");
  const g = graph([step("env", [], { supportsDryActivation: true, text: `echo "$systemConfig ${"$"}{NIXOS_ACTION:-none}" >> ${dir}/env` })]);
  await executeGraph(g, ctx("activate").c, new Map());
  await executeGraph(g, ctx("dry-activate").c, new Map());
  assert.is(readFileSync(join(dir, "env"), "utf8"), "/nix/store/x-system none\n/nix/store/x-system dry-activate\n");
});

test("dry-activate skips steps without dry support and only plans builtins", async () => {
  const dir = tempDir("exec-");
  const log: string[] = [];
  const g = graph([
    step("shell-no-dry", [], { text: `touch ${dir}/ran` }),
    step("b", [], { kind: "builtin", builtin: "rec", supportsDryActivation: true, options: { what: "x at ${systemConfig}" }, text: undefined }),
  ]);
  const { c, stdout } = ctx("dry-activate");
  const r = await executeGraph(g, c, new Map([["rec", recorder(log)]]));
  assert.is(r.status, 0);
  assert.not.ok(existsSync(join(dir, "ran")));
  assert.equal(log, []);
  assert.ok(stdout.includes("would do x at /nix/store/x-system"));
  assert.is(r.outcomes.find((o) => o.name === "shell-no-dry")!.status, "skipped");
});

test("dry-activate fails a builtin step whose plan has errors, as applying it would; later steps still run", async () => {
  const erring: BuiltinStep = { options: {}, plan: () => ({ lines: ["error: not setting up ‘x’"], data: 0, failed: true }), apply: () => 1 };
  const g = graph([
    step("b", [], { kind: "builtin", builtin: "e", supportsDryActivation: true, text: undefined }),
    step("c", ["b"], { kind: "builtin", builtin: "rec", supportsDryActivation: true, options: { what: "c" }, text: undefined }),
  ]);
  const { c, stdout } = ctx("dry-activate");
  const r = await executeGraph(g, c, new Map([["e", erring], ["rec", recorder([])]]));
  assert.is(r.status, 1);
  assert.equal(r.outcomes.map((o) => [o.name, o.status, o.exitCode]), [["b", "failed", 1], ["c", "ok", 0]]);
  assert.equal(stdout, ["error: not setting up ‘x’", "Activation script snippet 'b' failed (1)", "would do c"]);
});

test("builtins apply their plan; a failing apply is reported", async () => {
  const log: string[] = [];
  const g = graph([step("b", [], { kind: "builtin", builtin: "rec", options: { what: "y" }, text: undefined })]);
  const { c, stdout } = ctx();
  const r = await executeGraph(g, c, new Map([["rec", recorder(log, true)]]));
  assert.equal(log, ["applied y"]);
  assert.is(r.status, 1);
  assert.ok(stdout.includes("Activation script snippet 'b' failed (3)"));
});

test("a planner that throws fails its step only", async () => {
  const thrower: BuiltinStep = { options: {}, plan: () => { throw new Error("spec.json:3: bad name"); }, apply: () => 0 };
  const g = graph([step("bad", [], { kind: "builtin", builtin: "t", text: undefined }), step("after", ["bad"], { text: "true" })]);
  const { c, stderr } = ctx();
  const r = await executeGraph(g, c, new Map([["t", thrower]]));
  assert.is(r.status, 1);
  assert.ok(stderr.some((l) => l.includes("spec.json:3: bad name")));
  assert.is(r.outcomes[1]!.status, "ok");
});

test("nothing runs when the graph is invalid", async () => {
  const dir = tempDir("exec-");
  const g = graph([step("a", [], { text: `touch ${dir}/ran` }), step("b", ["missing"])]);
  let threw = false;
  try { await executeGraph(g, ctx().c, new Map()); } catch { threw = true; }
  assert.ok(threw);
  assert.not.ok(existsSync(join(dir, "ran")));
});

test("an unknown builtin is rejected before anything runs", async () => {
  const g = graph([step("x", [], { kind: "builtin", builtin: "nope", text: undefined })]);
  try { await executeGraph(g, ctx().c, new Map()); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /unknown builtin 'nope'/); }
});

test("a builtin's options are checked before anything runs: an unknown, a missing or a bad one names file and key", async () => {
  const dir = tempDir("exec-");
  const flagged: BuiltinStep = { options: { path: { required: true }, diff: { values: ["true", "false"] } }, plan: () => ({ lines: [], data: 0 }), apply: () => 0 };
  const cases: [Record<string, string>, RegExp][] = [
    [{ path: "/x", pth: "/y" }, /^g\.toml: steps\.b\.options\.pth: unknown option of builtin 'f' \(known: diff, path\)$/],
    [{ diff: "true" }, /^g\.toml: steps\.b\.options\.path: required by builtin 'f'/],
    [{ path: "" }, /^g\.toml: steps\.b\.options\.path: required by builtin 'f'/],
    [{ path: "/x", diff: "yes" }, /^g\.toml: steps\.b\.options\.diff: expected one of "true", "false"$/],
    [{ path: "/x", constructor: "x" }, /^g\.toml: steps\.b\.options\.constructor: unknown option/],
  ];
  for (const [options, re] of cases) {
    const g = graph([
      step("a", [], { text: `touch ${dir}/ran` }),
      { ...step("b", ["a"]), kind: "builtin", builtin: "f", options, text: undefined, source: "g.toml" },
    ]);
    try {
      await executeGraph(g, ctx().c, new Map([["f", flagged]]));
      assert.unreachable(JSON.stringify(options));
    } catch (e) {
      assert.match((e as Error).message, re);
    }
    assert.not.ok(existsSync(join(dir, "ran")), "nothing ran");
  }
});

test("the shipped builtins declare their options: the etc and users steps as NixOS renders them pass", () => {
  const g = loadGraph([join(import.meta.dir, "../../../activation-scripts")]);
  const order = validateGraph(g, builtins());
  assert.ok(order.some((s) => s.builtin === "etc"));
  const typo = { ...g, steps: g.steps.map((s) => (s.name === "etc" ? { ...s, options: { ect: "${systemConfig}/etc" } } : s)) };
  assert.throws(() => validateGraph(typo, builtins()), /steps\.etc\.options\.ect: unknown option of builtin 'etc' \(known: diff, etc\)/);
});

test("${root} in an option names the root's / (the builtin reads it inside the root): it becomes empty, never the host path of the root", async () => {
  const g = graph([step("b", [], { kind: "builtin", builtin: "rec", supportsDryActivation: true, options: { what: "${root}/spec.json in ${systemConfig}" }, text: undefined })]);
  for (const root of ["/", "/mnt/sysroot"]) {
    const { c, stdout } = ctx("dry-activate");
    await executeGraph(g, { ...c, root }, new Map([["rec", recorder([])]]));
    assert.equal(stdout, ["would do /spec.json in /nix/store/x-system"], root);
  }
});

test("with --root, a shell step is refused, never run on this machine (it would act on its /); builtins still run", async () => {
  const dir = tempDir("exec-root-");
  const marker = join(dir, "ran");
  const log: string[] = [];
  const g = graph([
    step("snippet", [], { text: `touch ${marker}`, supportsDryActivation: true }),
    { ...step("b", ["snippet"]), kind: "builtin", builtin: "rec", options: { what: "b" }, supportsDryActivation: true },
  ]);
  for (const mode of ["activate", "dry-activate"] as const) {
    const { c, stderr } = ctx(mode);
    const r = await executeGraph(g, { ...c, root: join(dir, "root") }, new Map([["rec", recorder(log)]]));
    assert.is(r.status, 1);
    assert.equal(r.outcomes.map((o) => [o.name, o.status]), [["snippet", "failed"], ["b", "ok"]]);
    assert.match(stderr.join("\n"), /snippet: a shell step acts on this machine's \/, not on --root /);
    assert.not.ok(existsSync(marker), `${mode}: the snippet did not run`);
  }
  assert.equal(log, ["applied b"]);
});

test("with --root, a dry run refuses a shell step without dry support too: it says what the real run will do", async () => {
  const dir = tempDir("exec-root-dry-");
  const g = graph([step("snippet", [], { text: `touch ${join(dir, "ran")}`, supportsDryActivation: false })]);
  const runs = [];
  for (const mode of ["activate", "dry-activate"] as const) {
    const { c, stderr } = ctx(mode);
    const r = await executeGraph(g, { ...c, root: join(dir, "root") }, new Map());
    runs.push([r.status, r.outcomes.map((o) => [o.name, o.status, o.reason]), stderr]);
  }
  assert.equal(runs[1], runs[0]);
  assert.is(runs[0]![0], 1);
  assert.not.ok(existsSync(join(dir, "ran")));
});

test("a snippet larger than one argument may be (128 KiB) runs, sees stdin at EOF, and its children do not inherit the script's descriptor", async () => {
  const dir = tempDir("exec-");
  const big = `# ${"x".repeat(300_000)}\n`;
  const text = `${big}read -r line || echo stdin-eof > ${dir}/stdin\nls /proc/self/fd > ${dir}/fds\numask > ${dir}/umask\nfalse\necho rest > ${dir}/rest`;
  const { c, stdout } = ctx();
  const r = await executeGraph(graph([step("big", [], { text }), step("later", ["big"], { text: `touch ${dir}/later` })]), c, new Map());
  assert.equal(r.outcomes.map((o) => [o.name, o.status, o.exitCode]), [["big", "failed", 1], ["later", "ok", 0]]);
  assert.ok(stdout.includes("Activation script snippet 'big' failed (1)"), "the ERR trap's status, the snippet not aborted");
  assert.is(readFileSync(join(dir, "stdin"), "utf8"), "stdin-eof\n");
  assert.is(readFileSync(join(dir, "umask"), "utf8"), "0022\n");
  assert.is(readFileSync(join(dir, "rest"), "utf8"), "rest\n");
  // ls's own descriptors: 0, 1, 2 and the one it lists /proc/self/fd with (3); the script's fd 3 is closed first.
  assert.equal(readFileSync(join(dir, "fds"), "utf8").trim().split("\n").length, 4);
});

test("a shell step that cannot be started fails with 127 and a message; the rest still run", async () => {
  const dir = tempDir("exec-");
  for (const interpreter of ["/bin/bash\0x", join(dir, "missing-shell")]) {
    const g: Graph = { steps: [step("a", [], { text: "true" }), step("b", ["a"], { text: "true" })], shell: { ...DEFAULT_SHELL, interpreter } };
    const { c, stdout, stderr } = ctx();
    const r = await executeGraph(g, c, new Map());
    assert.is(r.status, 1);
    assert.equal(r.outcomes.map((o) => [o.name, o.exitCode]), [["a", 127], ["b", 127]]);
    assert.ok(stdout.includes("Activation script snippet 'a' failed (127)"), stdout.join("\n"));
    assert.match(stderr[0] ?? "", /^cannot run .* for step 'a': /);
  }
});

test("`return` at a snippet's top level is an error, as in NixOS's activate script: the step fails and goes on", async () => {
  const dir = tempDir("exec-");
  const { c } = ctx();
  const r = await executeGraph(graph([step("ret", [], { text: `false\nreturn 0\necho rest > ${dir}/rest` })]), c, new Map());
  assert.equal(r.outcomes.map((o) => [o.name, o.status]), [["ret", "failed"]]);
  assert.is(readFileSync(join(dir, "rest"), "utf8"), "rest\n");
});

test("a step with a name longer than a memfd's (249 bytes) runs", async () => {
  const { c } = ctx();
  const r = await executeGraph(graph([step("a".repeat(300), [], { text: "true" })]), c, new Map());
  assert.equal(r.outcomes.map((o) => o.exitCode), [0]);
});

test("a snippet killed by a signal reports 128+N as a shell does", async () => {
  const { c } = ctx();
  const g = graph([step("k9", [], { text: "kill -KILL $$" }), step("k15", [], { text: "kill -TERM $$" })]);
  const r = await executeGraph(g, c, new Map());
  assert.equal(r.outcomes.map((o) => [o.name, o.exitCode]), [["k15", 143], ["k9", 137]]);
});

test.run();
