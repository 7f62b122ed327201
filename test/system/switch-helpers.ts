/**
 * Shared helpers for the ported switch-test.nix subtests: a booted container running a base
 * generation, generations built on demand, and `switch_to_specialisation` as NixOS's test has it.
 */
import { readFileSync } from "node:fs";
import * as assert from "uvu/assert";
import { Container } from "../harness/container.ts";
import { buildGeneration, type Generation, type GenerationSpec, prepareBooted } from "../harness/generation.ts";

/**
 * NixOS defines sysinit-reactivation.target in its systemd module (Debian's systemd has none);
 * every generation of these tests carries it, as every NixOS generation does.
 */
export const NIXOS_UNITS: Record<string, string> = {
  "sysinit-reactivation.target": "[Unit]\nDescription=Reactivate sysinit units\n",
};

/** A generation spec with NixOS's own units added. */
export function nixos(spec: GenerationSpec): GenerationSpec {
  return { ...spec, units: { ...NIXOS_UNITS, ...spec.units } };
}

/** The base configuration (NixOS test: `machine` without a specialisation). */
export const BASE: GenerationSpec = nixos({ name: "base" });

/** Boots a container on BASE with stagehand installed. */
export async function bootSwitchMachine(name: string): Promise<{ c: Container; base: Generation }> {
  let base!: Generation;
  const c = await Container.boot({
    name: `stc-${name}`,
    prepare: (root) => {
      base = buildGeneration(root, BASE);
      prepareBooted(root, base);
    },
  });
  c.installStagehand();
  // As NixOS's test begins: one switch to the running configuration (activates
  // sysinit-reactivation.target, which nothing starts at boot).
  const r = runSwitch(c, base, "test");
  if (r.status !== 0) assert.unreachable(`boot switch failed with ${r.status}:\n${r.out}${whatTheMachineSaw(c)}`);
  return { c, base };
}

/** Where runSwitch's watcher leaves PID 1's kernel state when a switch runs long (see PID1_WATCH). */
const PID1_STATE = "/run/stagehand-test/pid1-during-switch";

/**
 * Records PID 1's state 10 and 20 s into a switch that still runs (one takes about a second). The
 * intermittent switch-mounts failure was systemd going silent for 114 s after a mount restart:
 * whether PID 1 then sits in epoll_wait (and with which fds and timers armed: the epoll and timerfd
 * fdinfo, its sockets) or is blocked in a system call tells the causes apart. Only /proc is read
 * and nothing is sent to PID 1, so a stall is observed, not ended.
 */
const PID1_SAMPLE = [
  `echo "PID 1 after \${t} s: $(cut -d' ' -f3 /proc/1/stat) wchan=$(cat /proc/1/wchan) syscall=$(cat /proc/1/syscall)"`,
  "cat /proc/1/stack",
  `for f in /proc/1/fd/*; do case $(readlink $f) in *eventpoll*|*timerfd*) echo "fd \${f##*/} $(readlink $f):"; cat /proc/1/fdinfo/\${f##*/};; esac; done`,
  "ss -xpn 2>/dev/null | grep 'pid=1,'",
].join("; ");
const PID1_WATCH = `mkdir -p /run/stagehand-test; rm -f ${PID1_STATE}; sh=$$; ( for t in 10 20; do sleep 10; kill -0 $sh 2>/dev/null || exit 0; { ${PID1_SAMPLE}; } >> ${PID1_STATE} 2>&1; done ) </dev/null >/dev/null 2>&1 & w=$!`;

/** Runs `TOPLEVEL/bin/switch-to-configuration ACTION 2>&1`; returns status and combined output. */
export function runSwitch(c: Container, gen: Generation | string, action = "test", env: Record<string, string> = {}): { status: number; out: string } {
  const top = typeof gen === "string" ? gen : gen.toplevel;
  const r = c.sh(`${PID1_WATCH}; ${top}/bin/switch-to-configuration ${action} 2>&1; s=$?; kill $(cat /proc/$w/task/$w/children 2>/dev/null) $w 2>/dev/null; exit $s`, { env, timeoutMs: 300_000 });
  assert.not.match(r.stdout, "switch-to-configuration line", "Perl-style warnings");
  return { status: r.status, out: r.stdout };
}

/** NixOS's switch_to_specialisation (NIXOS_UNITS added): must succeed (or must fail with `fail`), returns the output. */
export function switchTo(c: Container, spec: GenerationSpec, action = "test", fail = false): string {
  const gen = buildGeneration(c.root, nixos(spec));
  const r = runSwitch(c, gen, action);
  if (fail) assert.is.not(r.status, 0, `switch to ${spec.name} should fail:\n${r.out}`);
  else if (r.status !== 0) assert.unreachable(`switch to ${spec.name} (${action}) failed with ${r.status}:\n${r.out}${whatTheMachineSaw(c)}`);
  return r.out;
}

/**
 * What explains a switch that failed unexpectedly, for the failure message: the end of the
 * container's journal (PID 1's and dbus-daemon's view of the switch), the jobs still queued, the
 * host's load, and PID 1's state if the switch ran long (calls systemd left unanswered for 25 s were
 * seen under CI and in switch-mounts on trixie, where systemd went silent after a mount restart).
 * Each command is bounded: a wedged systemd must not hang the report.
 */
export function whatTheMachineSaw(c: Container): string {
  const run = (label: string, cmd: string) => {
    const r = c.sh(`${cmd} 2>&1`, { timeoutMs: 15_000 });
    return `--- ${label} (exit ${r.status}) ---\n${r.stdout}`;
  };
  let load = "";
  try {
    load = readFileSync("/proc/loadavg", "utf8");
  } catch { /* not Linux */ }
  return [
    "\n=== the machine, after the failure ===",
    `host load: ${load.trim()}`,
    run("journal", "journalctl -b --no-pager -o short-monotonic -n 120"),
    run("jobs", "systemctl list-jobs --no-pager"),
    run("failed units", "systemctl list-units --failed --no-pager --plain"),
    run("PID 1 during the switch (sampled at 10 and 20 s; empty if the switch was quicker)", `cat ${PID1_STATE} 2>/dev/null; true`),
  ].join("\n");
}

export function assertContains(haystack: string, needle: string): void {
  assert.ok(haystack.includes(needle), `expected '${needle}' in:\n---\n${haystack}---`);
}

export function assertLacks(haystack: string, needle: string): void {
  assert.not.ok(haystack.includes(needle), `unexpected '${needle}' in:\n---\n${haystack}---`);
}

/** The six markers NixOS's test checks for "nothing happened". */
const MARKERS = {
  stop: "stopping the following units:",
  skip: "NOT restarting the following changed units:",
  reload: "reloading the following units:",
  restart: "\nrestarting the following units:",
  start: "\nstarting the following units:",
  new: "the following new units were started:",
} as const;

/** Asserts that exactly the given markers (by key) appear, with their exact lines. */
export function assertOnly(out: string, expected: Partial<Record<keyof typeof MARKERS, string>>): void {
  for (const [k, marker] of Object.entries(MARKERS) as [keyof typeof MARKERS, string][]) {
    const line = expected[k];
    if (line === undefined) assertLacks(out, marker);
    else assertContains(out, `${marker} ${line}\n`.replace(/^\n?/, k === "restart" || k === "start" ? "\n" : ""));
  }
}

/** A unit's properties via systemctl show (the test observes with systemd's own tools). */
export function show(c: Container, unit: string, props: string[]): Record<string, string> {
  const out = c.must(["systemctl", "show", unit, `--property=${props.join(",")}`]);
  return Object.fromEntries(out.trim().split("\n").filter(Boolean).map((l) => {
    const i = l.indexOf("=");
    return [l.slice(0, i), l.slice(i + 1)];
  }));
}
