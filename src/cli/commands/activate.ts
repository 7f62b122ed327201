/**
 * `stagehand activate [--dry] [--graph FILE]... [--root DIR] [--json] SYSTEM`: what a generation's
 * `activate` (and `dry-activate`) script runs. The graph comes from `SYSTEM/activation-graph.toml`
 * unless `--graph` names files or directories (paths of this machine). With `--root DIR`, SYSTEM is
 * a path inside DIR, as the builtins read it (`${systemConfig}/etc`), and is resolved there; shell
 * steps, which would act on this machine's `/`, are refused (graph/executor.ts).
 */
import { mkdirSync, realpathSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { symlinkAtomic } from "../../fs/atomic.ts";
import { canonicalInRoot, isHostRoot, resolveInRoot } from "../../fs/root.ts";
import { sweepTemps } from "../../fs/staged.ts";
import { loadGraph } from "../../graph/declarations.ts";
import { executeGraph } from "../../graph/executor.ts";
import { flag, has, parseArgs, UsageError } from "../args.ts";
import { builtins } from "../builtins.ts";
import { cliContext, requireRoot } from "../context.ts";
import { out } from "../../output/lines.ts";

/** The graph file a generation carries. */
const GRAPH_FILE = "activation-graph.toml";

/** Points `ROOT/run/current-system` at the generation, atomically (NixOS's last activation act). */
function setCurrentSystem(root: string, systemConfig: string): void {
  const link = resolveInRoot(root, "/run/current-system", false);
  mkdirSync(dirname(link), { recursive: true });
  sweepTemps(dirname(link));
  symlinkAtomic(isHostRoot(root) ? realpathSync(systemConfig) : canonicalInRoot(root, systemConfig), link, true);
}

export async function run(args: string[]): Promise<number> {
  const p = parseArgs(args, ["graph", "root"], ["dry", "json"]);
  if (p.positionals.length !== 1) throw new UsageError("activate takes one SYSTEM path");
  const systemConfig = p.positionals[0]!;
  const root = flag(p, "root") ?? "/";
  const dry = has(p, "dry");
  if (!isHostRoot(root) && !isAbsolute(systemConfig)) throw new UsageError(`with --root, SYSTEM is a path inside ${root} and must be absolute: ${systemConfig}`);
  // --graph names paths of this machine; the generation's own graph is inside the root.
  const given = p.flags.get("graph");
  const graph = given ? loadGraph(given) : loadGraph([join(systemConfig, GRAPH_FILE)], isHostRoot(root) ? undefined : root);
  if (!dry && isHostRoot(root)) requireRoot("activate");
  const ctx = cliContext(systemConfig, root, dry ? "dry-activate" : "activate");
  const result = await executeGraph(graph, ctx, builtins());
  if (!dry) setCurrentSystem(root, systemConfig);
  if (has(p, "json")) out(JSON.stringify({ status: result.status, steps: result.outcomes }));
  return result.status;
}
