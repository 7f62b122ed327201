/**
 * Runs an ordered graph with NixOS activation semantics: every step runs even when an earlier one
 * failed; a failure is reported as NixOS reports a failed snippet, and the run's status is non-zero.
 * In dry-activate mode, steps that do not support dry activation are skipped and builtin steps only
 * print their plan.
 */
import { spawn } from "node:child_process";
import { orderSteps, GraphError } from "./order.ts";
import { isHostRoot } from "../fs/root.ts";
import type { BuiltinStep, Graph, ShellSettings, StepContext, StepDeclaration, StepOutcome } from "./step.ts";

/** The result of running a graph. */
export interface GraphRun {
  outcomes: StepOutcome[];
  /** 0 when every step that ran succeeded, 1 otherwise (the status NixOS's `activate` exits with). */
  status: number;
}

/** The implementations the graph's builtin steps may name. */
export type BuiltinRegistry = ReadonlyMap<string, BuiltinStep>;

/**
 * Checks a graph before anything runs: it can be ordered, and every builtin step has an
 * implementation. Returns the execution order.
 */
export function validateGraph(graph: Graph, builtins: BuiltinRegistry): StepDeclaration[] {
  const order = orderSteps(graph.steps);
  for (const s of order) {
    if (s.kind === "builtin" && !builtins.has(s.builtin!)) {
      throw new GraphError(`step '${s.name}' (${s.source}) names unknown builtin '${s.builtin}' (known: ${[...builtins.keys()].sort().join(", ")})`);
    }
  }
  return order;
}

/** Replaces `${systemConfig}` and `${root}` in a builtin's options. */
function expandOptions(options: Record<string, string>, ctx: StepContext): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(options)) {
    out[k] = v.replaceAll("${systemConfig}", ctx.systemConfig).replaceAll("${root}", ctx.root);
  }
  return out;
}

/** The script one shell step runs: NixOS's per-snippet status bookkeeping around the snippet text. */
function shellScript(step: StepDeclaration, shell: ShellSettings): string {
  return [
    "_localstatus=0",
    // As NixOS's activate script: a failing command marks the snippet failed but does not abort it.
    "trap '_localstatus=$?' ERR",
    "umask 0022",
    shell.preamble,
    `#### Activation script snippet ${step.name}:`,
    step.text ?? "",
    "",
    'exit "$_localstatus"',
  ].join("\n");
}

function shellEnv(ctx: StepContext, shell: ShellSettings): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.env)) if (v !== undefined) env[k] = v;
  env.systemConfig = ctx.systemConfig;
  if (shell.path.length > 0) env.PATH = ["/empty", ...shell.path.flatMap((p) => [`${p}/bin`, `${p}/sbin`])].join(":");
  if (ctx.mode === "dry-activate") env.NIXOS_ACTION = "dry-activate";
  return env;
}

/** Runs one shell step with inherited stdio; resolves to its exit status. */
function runShell(step: StepDeclaration, ctx: StepContext, shell: ShellSettings): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(shell.interpreter, ["-c", shellScript(step, shell)], {
      env: shellEnv(ctx, shell),
      stdio: ["ignore", "inherit", "inherit"],
    });
    child.on("error", (e) => {
      ctx.stderr(`cannot run ${shell.interpreter} for step '${step.name}': ${e.message}`);
      resolve(127);
    });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

async function runStep(
  step: StepDeclaration, ctx: StepContext, graph: Graph, builtins: BuiltinRegistry,
): Promise<Omit<StepOutcome, "name" | "durationMs">> {
  const dry = ctx.mode === "dry-activate";
  if (dry && !step.supportsDryActivation) {
    return { status: "skipped", exitCode: 0, reason: "does not support dry activation" };
  }
  if (step.kind === "shell") {
    if (!isHostRoot(ctx.root)) {
      // A snippet acts on `/` (`install -d /root`, …): run here it would change this machine, not DIR.
      const reason = `a shell step acts on this machine's /, not on --root ${ctx.root}; run the activation inside it (nixos-enter, chroot)`;
      ctx.stderr(`${step.name}: ${reason}`);
      return { status: "failed", exitCode: 1, reason };
    }
    const code = await runShell(step, ctx, graph.shell);
    return { status: code === 0 ? "ok" : "failed", exitCode: code };
  }
  const impl = builtins.get(step.builtin!)!;
  let plan;
  try {
    plan = await impl.plan(ctx, expandOptions(step.options, ctx));
  } catch (e) {
    ctx.stderr(`${step.name}: ${(e as Error).message}`);
    return { status: "failed", exitCode: 1, reason: (e as Error).message };
  }
  if (dry) {
    for (const line of plan.lines) ctx.stdout(line);
    return { status: "ok", exitCode: 0, plan: plan.lines };
  }
  try {
    const code = await impl.apply(ctx, plan);
    return { status: code === 0 ? "ok" : "failed", exitCode: code, plan: plan.lines };
  } catch (e) {
    ctx.stderr(`${step.name}: ${(e as Error).message}`);
    return { status: "failed", exitCode: 1, reason: (e as Error).message, plan: plan.lines };
  }
}

/**
 * Validates, orders and runs a graph. Throws GraphError before running anything when the graph
 * is unusable; otherwise runs every step and reports each outcome.
 */
export async function executeGraph(
  graph: Graph, ctx: StepContext, builtins: BuiltinRegistry,
  onOutcome?: (o: StepOutcome) => void,
): Promise<GraphRun> {
  const order = validateGraph(graph, builtins);
  const outcomes: StepOutcome[] = [];
  let status = 0;
  for (const step of order) {
    const start = performance.now();
    const r = await runStep(step, ctx, graph, builtins);
    const outcome: StepOutcome = { name: step.name, durationMs: performance.now() - start, ...r };
    if (outcome.status === "failed") {
      status = 1;
      ctx.stdout(`Activation script snippet '${step.name}' failed (${outcome.exitCode})`);
    }
    outcomes.push(outcome);
    onOutcome?.(outcome);
  }
  return { outcomes, status };
}
