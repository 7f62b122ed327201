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
import { moveAsideUnless, sweepTemps } from "../../fs/staged.ts";
import { loadGraph } from "../../graph/declarations.ts";
import { executeGraph } from "../../graph/executor.ts";
import { flag, has, parseArgs, UsageError } from "../args.ts";
import { builtins } from "../builtins.ts";
import { cliContext, requireRoot } from "../context.ts";
import { err, out } from "../../output/lines.ts";

/** The graph file a generation carries. */
const GRAPH_FILE = "activation-graph.toml";

/**
 * Points `ROOT/run/current-system` at the generation, atomically (NixOS's last activation act).
 * Anything but a link at that name (a directory, a file) is moved aside to `.broken-TIME` with a
 * warning: it would make every later run fail. Returns false, having said why in one line, when
 * the link cannot be set; the steps have run by then, so the caller still reports them.
 */
function setCurrentSystem(root: string, systemConfig: string): boolean {
  let link = join(root, "run/current-system");
  try {
    link = resolveInRoot(root, "/run/current-system", false);
    const target = isHostRoot(root) ? realpathSync(systemConfig) : canonicalInRoot(root, systemConfig);
    mkdirSync(dirname(link), { recursive: true });
    sweepTemps(dirname(link));
    const aside = moveAsideUnless(link, (st) => st.isSymbolicLink());
    if (aside) err(`warning: ${link} was not a symbolic link; moved to ${aside}`);
    symlinkAtomic(target, link, true);
    return true;
  } catch (e) {
    err(`stagehand activate: cannot point ${link} at ${systemConfig}: ${(e as Error).message}`);
    return false;
  }
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
  const status = dry || setCurrentSystem(root, systemConfig) ? result.status : 1;
  if (has(p, "json")) out(JSON.stringify({ status, steps: result.outcomes }));
  return status;
}
