/**
 * Runs an ordered graph with NixOS activation semantics: every step runs even when an earlier one
 * failed; a failure is reported as NixOS reports a failed snippet, and the run's status is non-zero.
 * In dry-activate mode, steps that do not support dry activation are skipped and builtin steps only
 * print their plan.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, writeFileSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { memfdCreate } from "../fs/libc.ts";
import { orderSteps, GraphError } from "./order.ts";
import { isHostRoot } from "../fs/root.ts";
import { DeclarationError } from "./errors.ts";
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
 * Checks a builtin step's options against what its implementation declares: no unknown key, every
 * required one set, a choice one of its values. A typo is found before any step has changed anything.
 */
function checkOptions(step: StepDeclaration, impl: BuiltinStep): void {
  const key = (k: string) => `steps.${step.name}.options.${k}`;
  for (const [k, v] of Object.entries(step.options)) {
    const known = Object.hasOwn(impl.options, k) ? impl.options[k] : undefined;
    if (!known) throw new DeclarationError(step.source, key(k), `unknown option of builtin '${step.builtin}' (known: ${Object.keys(impl.options).sort().join(", ")})`);
    if (known.values && !known.values.includes(v)) throw new DeclarationError(step.source, key(k), `expected one of ${known.values.map((x) => JSON.stringify(x)).join(", ")}`);
  }
  for (const [k, o] of Object.entries(impl.options)) {
    if (o.required && !step.options[k]) throw new DeclarationError(step.source, key(k), `required by builtin '${step.builtin}' (a non-empty string)`);
  }
}

/**
 * Checks a graph before anything runs: it can be ordered, every builtin step has an
 * implementation, and its options are ones that implementation takes. Returns the execution order.
 */
export function validateGraph(graph: Graph, builtins: BuiltinRegistry): StepDeclaration[] {
  const order = orderSteps(graph.steps);
  for (const s of order) {
    if (s.kind !== "builtin") continue;
    const impl = builtins.get(s.builtin!);
    if (!impl) {
      throw new GraphError(`step '${s.name}' (${s.source}) names unknown builtin '${s.builtin}' (known: ${[...builtins.keys()].sort().join(", ")})`);
    }
    checkOptions(s, impl);
  }
  return order;
}

/**
 * Replaces `${systemConfig}` and `${root}` in a builtin's options. A builtin reads its option paths
 * inside the root already, so `${root}` names the root's `/` and becomes "": `${root}/x` is `/x`
 * inside the root (as the host path `ROOT/x` it would be read as `ROOT/ROOT/x`).
 */
function expandOptions(options: Record<string, string>, ctx: StepContext): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(options)) {
    out[k] = v.replaceAll("${systemConfig}", ctx.systemConfig).replaceAll("${root}", "");
  }
  return out;
}

/** The descriptor a shell step's script is handed to the interpreter on (stdio's fourth entry). */
const SCRIPT_FD = 3;

/** The script one shell step runs: NixOS's per-snippet status bookkeeping around the snippet text. */
function shellScript(step: StepDeclaration, shell: ShellSettings): string {
  return [
    // The interpreter reads the script through its own descriptor: fd 3 is closed so the
    // snippet's children do not inherit it.
    `exec ${SCRIPT_FD}<&-`,
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

/** A shell's status for a child that ended by `signal`: 128 + its number (137 for SIGKILL). */
function signalStatus(signal: NodeJS.Signals): number {
  return 128 + (osConstants.signals[signal] ?? 0);
}

/**
 * Runs one shell step with inherited stdio; resolves to its exit status. The script is never an
 * argument (one argument is capped at 128 KiB, MAX_ARG_STRLEN): it is an anonymous memory file on
 * fd 3 that the interpreter runs as its script (`/proc/self/fd/3`: /dev/fd is only a link to it,
 * which an early-boot /dev may lack). A regular file, written whole before the start, so nothing
 * of ours can block writing it or see EPIPE (a pipe of Bun's is a socket, which /proc/self/fd
 * cannot open). A step that cannot be started fails with 127, as a shell reports it.
 */
function runShell(step: StepDeclaration, ctx: StepContext, shell: ShellSettings): Promise<number> {
  const cannotRun = (e: unknown): number => {
    ctx.stderr(`cannot run ${shell.interpreter} for step '${step.name}': ${(e as Error).message}`);
    return 127;
  };
  let child: ChildProcess;
  let fd: number | undefined;
  try {
    // The name only shows in /proc (memfd names are capped at 249 bytes; step names are not).
    fd = memfdCreate("stagehand-step");
    writeFileSync(fd, shellScript(step, shell));
    // Run as a script file, not sourced: `return` at its top level is an error, as in NixOS's activate.
    child = spawn(shell.interpreter, [`/proc/self/fd/${SCRIPT_FD}`], {
      env: shellEnv(ctx, shell),
      stdio: ["ignore", "inherit", "inherit", fd],
    });
  } catch (e) {
    return Promise.resolve(cannotRun(e));
  } finally {
    if (fd !== undefined) closeSync(fd); // the child has its own copy
  }
  return new Promise((resolve) => {
    child.on("error", (e) => resolve(cannotRun(e)));
    child.on("exit", (code, signal) => resolve(code ?? (signal ? signalStatus(signal) : 1)));
  });
}

/** Runs one step; in a dry run, what its plan would write goes into `written` (StepContext.planned). */
async function runStep(
  step: StepDeclaration, ctx: StepContext, graph: Graph, builtins: BuiltinRegistry, written?: Map<string, string>,
): Promise<Omit<StepOutcome, "name" | "durationMs">> {
  const dry = ctx.mode === "dry-activate";
  if (step.kind === "shell" && !isHostRoot(ctx.root)) {
    // A snippet acts on `/` (`install -d /root`, …): run here it would change this machine, not DIR.
    // Refused before the dry-run skip, so a dry run says what the real run will do with it.
    const reason = `a shell step acts on this machine's /, not on --root ${ctx.root}; run the activation inside it (nixos-enter, chroot)`;
    ctx.stderr(`${step.name}: ${reason}`);
    return { status: "failed", exitCode: 1, reason };
  }
  if (dry && !step.supportsDryActivation) {
    return { status: "skipped", exitCode: 0, reason: "does not support dry activation" };
  }
  if (step.kind === "shell") {
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
    for (const [path, text] of plan.wouldWrite ?? []) written?.set(path, text);
    return plan.failed ? { status: "failed", exitCode: 1, reason: "the plan has errors", plan: plan.lines } : { status: "ok", exitCode: 0, plan: plan.lines };
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
  // A dry run applies nothing: later steps see what earlier ones would have written instead.
  const written = ctx.mode === "dry-activate" ? new Map<string, string>() : undefined;
  const stepCtx: StepContext = written ? { ...ctx, planned: written } : ctx;
  for (const step of order) {
    const start = performance.now();
    const r = await runStep(step, stepCtx, graph, builtins, written);
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
