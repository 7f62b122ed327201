/**
 * The vocabulary of the activation graph: a step is declared (data, from TOML), planned (pure) and
 * applied (effects). Every concern of an activation — /etc, users, a NixOS shell snippet — is a step.
 */

/** How a step is carried out. */
export type StepKind = "builtin" | "shell";

/** A step as declared in `activation-scripts/*.toml` or a generation's graph file. */
export interface StepDeclaration {
  name: string;
  kind: StepKind;
  /** Steps that must run before this one (NixOS `deps`). */
  after: string[];
  /** Steps that must run after this one. */
  before: string[];
  /** Whether the step runs (in its dry form) during `dry-activate`. */
  supportsDryActivation: boolean;
  description?: string;
  /** shell: the snippet, run by the graph's shell. */
  text?: string;
  /** builtin: the name of the TypeScript implementation (`etc`, `users`, ...). */
  builtin?: string;
  /** builtin: its options, with `${systemConfig}` (and `${root}`, the root's `/`: "") expanded at run time. */
  options: Record<string, string>;
  /** `file` or `file:line`, for error messages. */
  source: string;
}

/** How shell steps run: NixOS runs every snippet in one bash with a fixed PATH. */
export interface ShellSettings {
  interpreter: string;
  /** Directories whose `bin` and `sbin` make up PATH; empty keeps the caller's PATH. */
  path: string[];
  /** Text run before each snippet (NixOS sources its activation `lib.sh` here). */
  preamble: string;
}

/** A whole graph: its steps and how to run shell steps. */
export interface Graph {
  steps: StepDeclaration[];
  shell: ShellSettings;
}

/** What a run of the graph is for. */
export type RunMode = "activate" | "dry-activate";

/** What a step may look at. Effects are confined to `apply`. */
export interface StepContext {
  /** The generation being activated (`$systemConfig`, the toplevel store path). */
  systemConfig: string;
  /** The root the activation acts on: `/`, or `/sysroot` in the initrd, or a test directory. */
  root: string;
  mode: RunMode;
  env: Record<string, string | undefined>;
  /** Progress and messages, as NixOS's activation prints them. */
  stdout(line: string): void;
  stderr(line: string): void;
  /**
   * In a dry run, the files earlier steps would have written (StepPlan.wouldWrite), by path inside
   * the root: a later step plans against them, as it reads them after those steps in a real run.
   */
  planned?: ReadonlyMap<string, string>;
}

/** The pure half's result: human lines (what dry-activate prints) and structured data for `apply`. */
export interface StepPlan<T = unknown> {
  lines: string[];
  data: T;
  /** The plan has errors (what it cannot do, said in `lines`): a dry run fails the step, as applying it would. */
  failed?: boolean;
  /** Files applying it would write that later steps read (path inside the root -> text): see StepContext.planned. */
  wouldWrite?: ReadonlyMap<string, string>;
}

/** One option a builtin step takes (all options are strings). */
export interface BuiltinOption {
  /** A step naming the builtin must set it, to a non-empty string. */
  required?: boolean;
  /** The values it may take when it is a choice (a flag: "true", "false"); any string otherwise. */
  values?: readonly string[];
}

/** A step implemented in TypeScript. */
export interface BuiltinStep<T = unknown> {
  /** The options it takes, by key: checked with the graph, before any step runs. */
  options: Readonly<Record<string, BuiltinOption>>;
  /** Computes what the step would do, touching nothing. May throw on bad input. */
  plan(ctx: StepContext, options: Record<string, string>): Promise<StepPlan<T>> | StepPlan<T>;
  /** Carries the plan out; returns an exit status (0 = success). */
  apply(ctx: StepContext, plan: StepPlan<T>): Promise<number> | number;
}

/** How one step ended. */
export interface StepOutcome {
  name: string;
  status: "ok" | "failed" | "skipped";
  exitCode: number;
  durationMs: number;
  /** Why a step was skipped or failed. */
  reason?: string;
  /** The plan's lines, for builtin steps. */
  plan?: string[];
}
