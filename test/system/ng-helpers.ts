/**
 * Helpers of the tests that compare stagehand with NixOS's Rust switch-to-configuration-ng (the
 * oracle, test/harness/ng.ts): a trixie container with both installed, running either on a
 * generation the same way, and the comparison of their output with the known, deliberate
 * differences (docs/differences.md) taken out — each named where it is handled.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Container } from "../harness/container.ts";
import { buildGeneration, type Generation, type GenerationSpec, prepareBooted } from "../harness/generation.ts";
import { ensureNg, installNg, ngWrapper } from "../harness/ng.ts";

/** Shell quoting. */
export const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** What one switch program did. */
export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Boots a trixie container (ng needs its glibc) on `base`, with stagehand and ng installed.
 * `storeOnTmpfs`: the container's /nix/store is a tmpfs (mounted on the host below the overlay's
 * root, so the harness's recursive unmount takes it away): for tests that build hundreds of
 * generations, whose files would otherwise cost more to remove from the overlay than to make.
 */
export async function bootNgMachine(name: string, base: GenerationSpec, o: { storeOnTmpfs?: boolean } = {}): Promise<{ c: Container; base: Generation }> {
  const ng = ensureNg(); // several minutes the first time, then cached by a hash of ng's sources
  let gen!: Generation;
  const c = await Container.boot({
    name,
    suite: "trixie",
    prepare: (root) => {
      if (o.storeOnTmpfs) {
        const store = join(root, "nix/store");
        mkdirSync(store, { recursive: true });
        execFileSync("mount", ["-t", "tmpfs", "-o", "mode=0755,size=2g", "tmpfs", store]);
      }
      gen = buildGeneration(root, base);
      prepareBooted(root, gen);
    },
  });
  c.installStagehand();
  installNg(c, ng);
  return { c, base: gen };
}

/** The two ways to switch to `gen`: its own wrapper (stagehand) and the same wrapper running ng. */
export function switchPrograms(c: Container, gen: Generation): { ng: string; stagehand: string } {
  return { ng: ngWrapper(c.root, gen.toplevel), stagehand: `${gen.toplevel}/bin/switch-to-configuration` };
}

/** Options of `runProgram`. */
export interface RunOptions {
  env?: Record<string, string>;
  /**
   * /run/nixos/{start,restart,reload}-list to write first (an interrupted switch); every other
   * `*-list` file there is removed. Undefined: the list files are left as they are.
   */
  lists?: Partial<Record<"start" | "restart" | "reload", string[]>>;
  /** Extra arguments after the action. */
  args?: string[];
}

/** Runs `wrapper ACTION` inside (stdout and stderr apart), after setting up the list files. */
export function runProgram(c: Container, wrapper: string, action: string, o: RunOptions = {}): Run {
  const lines = o.lists ? ["mkdir -p /run/nixos", "rm -f /run/nixos/*-list"] : [];
  for (const [k, units] of Object.entries(o.lists ?? {})) {
    if (units.length) lines.push(`printf '%s\\n' ${units.map(q).join(" ")} > /run/nixos/${k}-list`);
  }
  const r = c.exec(["/bin/sh", "-c", `${lines.join("\n")}\nexec ${q(wrapper)} ${[action, ...(o.args ?? [])].map(q).join(" ")}`], {
    env: o.env ?? {}, timeoutMs: 300_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A run for a failure report. */
export function showRun(label: string, r: Run): string {
  return `--- ${label}: exit ${r.status}\n[stdout]\n${r.stdout}[stderr]\n${r.stderr}`;
}

/**
 * Loaded units matching the shell-quoted `patterns`: `unit load active sub`, sorted. A socket's
 * SubState is `running` while its service runs and `listening` otherwise, but after a systemd
 * re-exec it comes back as either (seen with the same switch done twice by the same program), so
 * for sockets both count as `listening`.
 */
export function unitStates(c: Container, patterns: string): string {
  const out = c.must(`systemctl list-units --all --plain --no-legend --no-pager ${patterns} | awk '{print $1, $2, $3, $4}' | LC_ALL=C sort`);
  return out.replace(/^(\S+\.socket \S+ active) running$/gm, "$1 listening");
}

/**
 * Difference (docs/planner.md: where ng iterates a hash map its order is random, stagehand's is sorted):
 * ng turns swaps off, and submits each list's jobs, in the order of a HashMap. So a run of swap
 * lines (each with its "Failed to stop swapping" line), and a run of "Failed to ..." lines, are
 * compared as sets; `swapsSorted` checks stagehand's own order.
 */
const SWAP_LINE = /^(would stop swap device|stopping swap device): /;
const FAILED_LINE = /^Failed to /;

/** Sorts the runs of lines whose order ng leaves to its hash maps. */
export function normalizeOrder(text: string): string {
  const lines = text.split("\n");
  const out: string[] = [];
  for (let i = 0; i < lines.length;) {
    if (SWAP_LINE.test(lines[i]!)) {
      const groups: string[][] = [];
      while (i < lines.length && SWAP_LINE.test(lines[i]!)) {
        const g = [lines[i++]!];
        while (i < lines.length && lines[i]!.startsWith("Failed to stop swapping to ")) g.push(lines[i++]!);
        groups.push(g);
      }
      out.push(...groups.sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0)).flat());
    } else if (FAILED_LINE.test(lines[i]!)) {
      const run: string[] = [];
      while (i < lines.length && FAILED_LINE.test(lines[i]!)) run.push(lines[i++]!);
      out.push(...run.sort());
    } else out.push(lines[i++]!);
  }
  return out.join("\n");
}

/** stagehand prints swaps in sorted order. */
export function swapsSorted(r: Run): boolean {
  const swaps = r.stderr.split("\n").filter((l) => SWAP_LINE.test(l));
  return swaps.every((l, i) => i === 0 || swaps[i - 1]! <= l);
}

/**
 * Difference: a fatal error (exit 1) is worded by stagehand, `Error: PATH: why`, where ng prints
 * anyhow's chain (`Error: Failed to open unit file PATH` / `Caused by: ...`). What comes before
 * it must be the same, and both must name the same file.
 */
function splitFatal(stderr: string): { before: string; path?: string } {
  const at = stderr.search(/^Error: /m);
  if (at < 0) return { before: stderr };
  return { before: stderr.slice(0, at), path: /\/[^\s:]+/.exec(stderr.slice(at))?.[0] };
}

/**
 * Not a difference: both print `systemctl status` of failed units (on stdout), whose journal
 * lines, times, durations, invocation IDs, PIDs and even the order of its TriggeredBy= list vary
 * from run to run. Only each unit's header and its Loaded:/Active: lines (without the time) are
 * compared.
 */
export function normalizeStatus(text: string): string {
  return text.split("\n")
    .filter((l) => /^[×●○↻▲] \S/.test(l) || /^\s+(Loaded|Active): /.test(l))
    .map((l) => l.replace(/ since [^;]*; .* ago$/, ""))
    .join("\n");
}

/** Same exit status and output, up to the named differences above. */
export function sameRun(x: Run, y: Run): boolean {
  const a = x;
  const b = y;
  if (a.status !== b.status || normalizeOrder(normalizeStatus(a.stdout)) !== normalizeOrder(normalizeStatus(b.stdout))) return false;
  if (a.status === 1) {
    const fa = splitFatal(a.stderr);
    const fb = splitFatal(b.stderr);
    if (fa.path !== undefined || fb.path !== undefined) return normalizeOrder(fa.before) === normalizeOrder(fb.before) && fa.path === fb.path;
  }
  return normalizeOrder(a.stderr) === normalizeOrder(b.stderr);
}

/**
 * Difference: an activation-script restart request for an active unit whose file the new
 * generation lacks makes ng abort (exit 1, `Error: Failed to open unit file
 * NEW/etc/systemd/system/UNIT`) before the request list is removed, so every later switch aborts
 * the same way; stagehand restarts the unit as asked and goes on. Returns the unit when this is
 * the case and each side printed what it should: the same lines up to ng's error, then stagehand
 * exits with one of `expectStatus`, the unit on its `prefix` line.
 */
export function restartRequestWithoutFile(ng: Run, sh: Run, toplevel: string, requested: string[], prefix: string, expectStatus: number[]): string | undefined {
  const m = /^Error: Failed to open unit file (\S+)$/m.exec(ng.stderr);
  const dir = `${toplevel}/etc/systemd/system/`;
  if (ng.status !== 1 || !m || !m[1]!.startsWith(dir)) return undefined;
  const file = m[1]!.slice(dir.length);
  const unit = requested.find((u) => u === file || u.replace(/@[^.]*\./, "@.") === file);
  if (unit === undefined || !expectStatus.includes(sh.status)) return undefined;
  if (!sh.stderr.startsWith(ng.stderr.slice(0, m.index))) return undefined;
  const line = sh.stderr.split("\n").find((l) => l.startsWith(prefix));
  return line?.slice(prefix.length).split(", ").includes(unit) ? unit : undefined;
}

/**
 * Difference (stagehand commit 2db7343): a unit on the reload list (an interrupted switch's
 * reload-list, or a noauto fstab entry whose options changed) that systemd has not loaded makes
 * ng abort after the activation (exit 1, `Error: Failed to get unit UNIT` / `Unit UNIT not
 * loaded.`), leaving the list so that every later switch aborts the same way; stagehand takes the
 * unloaded unit as inactive: it is not reloaded (nor started), and the switch goes on. Returns the
 * unit when this is the case and each side printed what it should: the same lines up to ng's
 * error, then stagehand exits 0 or 4 without reloading the unit.
 */
export function reloadOfUnloadedUnit(ng: Run, sh: Run): string | undefined {
  const m = /^Error: Failed to get unit (\S+)\n\nCaused by:\n\s+Unit \S+ not loaded\.$/m.exec(ng.stderr);
  if (ng.status !== 1 || !m || ![0, 4].includes(sh.status)) return undefined;
  const unit = m[1]!;
  if (!sh.stderr.startsWith(ng.stderr.slice(0, m.index))) return undefined;
  const line = sh.stderr.split("\n").find((l) => l.startsWith("reloading the following units: "));
  return line?.slice("reloading the following units: ".length).split(", ").includes(unit) ? undefined : unit;
}
