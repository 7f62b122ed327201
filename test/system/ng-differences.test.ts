/**
 * Where stagehand deliberately differs from NixOS's Rust switch-to-configuration-ng
 * (docs/differences.md, docs/switch.md and docs/planner.md "Differences from ng", and the ng bugs
 * listed in ../shared/reference/README.md), each
 * difference named and each side's expected behaviour checked, with both programs run the same
 * way in the same trixie container. The random differential test (ng-differential.test.ts)
 * compares everything else.
 *
 * @suites trixie
 *
 * Not exercised here: a D-Bus connection lost mid-switch (stagehand stops at once with exit 1; ng
 * has no such handling to compare with, and cutting the bus of a running container's PID 1 takes
 * the container with it); `switch-faults.test.ts` covers stagehand's side.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import { buildGeneration, type Generation, type GenerationSpec, markBooted } from "../harness/generation.ts";
import { bootNgMachine, q, type Run, runProgram, sameRun, showRun, switchPrograms } from "./ng-helpers.ts";

let c: Container;
let base: Generation;

const SERVICE = "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\nExecReload=/bin/true\n";
const BASE: GenerationSpec = { name: "ngd-base", units: { "r-all.target": "[Unit]\nDescription=ng differences\n" } };

test.before(async () => {
  ({ c, base } = await bootNgMachine("ng-differences", BASE));
});
test.after(async () => {
  await c?.halt();
});

/** Makes `spec` the running generation (no switch program involved) and starts `start`. */
function enter(spec: GenerationSpec, start: string[] = []): Generation {
  const gen = buildGeneration(c.root, spec);
  c.must("rm -f /run/nixos/*-list; systemctl stop 'r-*' 'mnt-r*' 2>/dev/null; systemctl reset-failed 'r-*' 'mnt-r*' 2>/dev/null; true");
  markBooted(c, gen);
  if (start.length) c.must(["systemctl", "start", ...start]);
  return gen;
}

/** Runs ng and then stagehand on `gen` from the same state (re-entered with `from` before each). */
function both(gen: Generation, action: string, from?: () => void, o: Parameters<typeof runProgram>[3] = {}): { ng: Run; sh: Run } {
  const p = switchPrograms(c, gen);
  from?.();
  const ng = runProgram(c, p.ng, action, o);
  from?.();
  const sh = runProgram(c, p.stagehand, action, o);
  return { ng, sh };
}

const report = (r: { ng: Run; sh: Run }) => `${showRun("ng", r.ng)}\n${showRun("stagehand", r.sh)}`;

test("difference: DISTRO_ID is compared literally (ng builds a regular expression from it)", () => {
  enter(BASE);
  c.must("mv /etc/NIXOS /etc/NIXOS.off && grep -qx 'ID=debian' /etc/os-release");
  try {
    // Without /etc/NIXOS, os-release's ID decides: "deb.an" matches "debian" as ng's regex only.
    const dotted = buildGeneration(c.root, { ...BASE, name: "ngd-distro-dot", distroId: "deb.an" });
    const r = both(dotted, "dry-activate", undefined, { env: { NIXOS_NO_SYNC: "1" } });
    assert.is(r.ng.status, 0, report(r));
    assert.ok(r.ng.stderr.includes("would activate the configuration...\n"), report(r));
    assert.is.not(r.sh.status, 0, report(r));
    assert.is(r.sh.stderr, "This is not a NixOS installation!\n", report(r));
    // The literal ID: both accept, alike.
    const literal = buildGeneration(c.root, { ...BASE, name: "ngd-distro-literal", distroId: "debian" });
    const same = both(literal, "dry-activate", undefined, { env: { NIXOS_NO_SYNC: "1" } });
    assert.ok(sameRun(same.ng, same.sh) && same.ng.status === 0, report(same));
  } finally {
    c.must("mv /etc/NIXOS.off /etc/NIXOS");
  }
});

test("difference: extra flags after the action (ng ignores them; stagehand's --explain adds reasons)", () => {
  enter({ ...BASE, units: { ...BASE.units, "r-a.service": SERVICE } }, ["r-a.service"]);
  const next = buildGeneration(c.root, { ...BASE, name: "ngd-flags", units: { ...BASE.units, "r-a.service": SERVICE + "Environment=X=1\n" } });
  const env = { NIXOS_NO_SYNC: "1" };
  const plain = both(next, "dry-activate", undefined, { env });
  assert.ok(sameRun(plain.ng, plain.sh), report(plain));
  assert.ok(plain.ng.stderr.includes("would stop the following units: r-a.service\n"), report(plain));
  const explained = both(next, "dry-activate", undefined, { env, args: ["--explain"] });
  assert.is(explained.ng.stderr, plain.ng.stderr, `ng ignores --explain\n${report(explained)}`);
  assert.is(explained.ng.status, 0);
  assert.is(explained.sh.status, 0);
  assert.ok(explained.sh.stderr.includes("would stop the following units: r-a.service\n  r-a.service: [Service] Environment= added; stopped and started\n"), report(explained));
  assert.is(explained.sh.stderr.split("\n").filter((l) => !l.startsWith("  ")).join("\n"), plain.sh.stderr, "stagehand adds lines only");
});

test("difference: unit syntax as systemd reads it, not as ng's INI library (quotes, inline comments, ':')", () => {
  // ng's rust-ini strips quotes, cuts values at " ;"/" #" and takes ':' as a key separator; systemd
  // keeps the quotes (for most keys), has no inline comments and ignores a line without '='.
  // stagehand reads as systemd does.
  const unit = (x: string) => `${SERVICE}${x}\n`;
  const cases: { name: string; old: string; next: string; ng: string; sh: string }[] = [
    // ng: "a" == a (nothing to do); stagehand: the value changed (restart).
    { name: "quotes", old: 'X-Test="a"', next: "X-Test=a", ng: "", sh: "would stop the following units: r-q.service\n" },
    // ng: " ;" and " #" start an inline comment, so a ;1 == a ;2 (nothing); systemd has no inline comments.
    { name: "inline-semicolon", old: "X-Test=a ;1", next: "X-Test=a ;2", ng: "", sh: "would stop the following units: r-q.service\n" },
    { name: "inline-hash", old: "X-Test=a #1", next: "X-Test=a #2", ng: "", sh: "would stop the following units: r-q.service\n" },
    // ng: X-Colon=a -> X-Colon=b (restart); stagehand: both lines ignored, as systemd does (nothing).
    { name: "colon", old: "X-Colon:a", next: "X-Colon:b", ng: "would stop the following units: r-q.service\n", sh: "" },
  ];
  for (const k of cases) {
    enter({ ...BASE, units: { ...BASE.units, "r-q.service": unit(k.old) } }, ["r-q.service"]);
    const next = buildGeneration(c.root, { ...BASE, name: `ngd-syntax-${k.name}`, units: { ...BASE.units, "r-q.service": unit(k.next) } });
    const r = both(next, "dry-activate", undefined, { env: { NIXOS_NO_SYNC: "1" } });
    assert.is(r.ng.status, 0, report(r));
    assert.is(r.sh.status, 0, report(r));
    assert.is(r.ng.stderr.includes("would stop the following units: r-q.service\n") ? "would stop the following units: r-q.service\n" : "", k.ng, `${k.name}: ng\n${report(r)}`);
    assert.is(r.sh.stderr.includes("would stop the following units: r-q.service\n") ? "would stop the following units: r-q.service\n" : "", k.sh, `${k.name}: stagehand\n${report(r)}`);
  }
});

test("difference: an activation restart request for a unit without a file (ng aborts, stagehand restarts it)", () => {
  const spec: GenerationSpec = { ...BASE, units: { ...BASE.units, "r-gone.service": SERVICE } };
  const start = () => enter(spec, ["r-gone.service"]);
  const next = buildGeneration(c.root, { ...BASE, name: "ngd-gone", dryActivationRestartList: ["r-gone.service"], activationRestartList: ["r-gone.service"] });
  const dry = both(next, "dry-activate", start, { env: { NIXOS_NO_SYNC: "1" } });
  assert.is(dry.ng.status, 1, report(dry));
  assert.match(dry.ng.stderr, `Error: Failed to open unit file ${next.toplevel}/etc/systemd/system/r-gone.service`);
  assert.is(dry.sh.status, 0, report(dry));
  assert.ok(dry.sh.stderr.includes("would stop the following units: r-gone.service\n"), report(dry));
  assert.ok(dry.sh.stderr.includes("would restart the following units: r-gone.service\n"), report(dry));
  // A real switch: ng stops after the activation, leaving the request list behind; stagehand restarts the unit.
  const p = switchPrograms(c, next);
  start();
  const ng = runProgram(c, p.ng, "test");
  assert.is(ng.status, 1, showRun("ng", ng));
  assert.is(c.sh("test -s /run/nixos/activation-restart-list").status, 0, "ng leaves the request list");
  c.must("rm -f /run/nixos/activation-restart-list");
  start();
  const sh = runProgram(c, p.stagehand, "test");
  assert.ok([0, 4].includes(sh.status), showRun("stagehand", sh));
  assert.ok(sh.stderr.includes("restarting the following units: r-gone.service\n"), showRun("stagehand", sh));
  assert.is(c.sh("test -e /run/nixos/activation-restart-list").status, 1, "stagehand consumes the request list");
});

test("difference (ng bug): a noauto fstab entry whose options change (ng aborts on every later switch, stagehand goes on)", () => {
  const fstab = (size: string) => `tmpfs /mnt/r-noauto tmpfs noauto,size=${size} 0 0\n`;
  const old: GenerationSpec = { ...BASE, name: "ngd-noauto-old", fstab: fstab("1m") };
  const start = () => enter(old);
  const next = buildGeneration(c.root, { ...BASE, name: "ngd-noauto-new", fstab: fstab("2m") });
  const again = buildGeneration(c.root, { ...BASE, name: "ngd-noauto-again", fstab: fstab("2m"), units: { ...BASE.units, "r-x.service": SERVICE } });
  const dry = both(next, "dry-activate", start, { env: { NIXOS_NO_SYNC: "1" } });
  assert.ok(sameRun(dry.ng, dry.sh), `the plan is the same\n${report(dry)}`);
  assert.ok(dry.ng.stderr.includes("would reload the following units: mnt-r\\x2dnoauto.mount\n"), report(dry));
  const p = switchPrograms(c, next);
  start();
  const ng = runProgram(c, p.ng, "test");
  assert.is(ng.status, 1, showRun("ng", ng));
  assert.match(ng.stderr, "mnt-r\\x2dnoauto.mount");
  const ngAgain = runProgram(c, switchPrograms(c, again).ng, "test");
  assert.is(ngAgain.status, 1, `ng is wedged: the next switch aborts too\n${showRun("ng", ngAgain)}`);
  c.must("rm -f /run/nixos/*-list");
  start();
  const sh = runProgram(c, p.stagehand, "test");
  assert.is(sh.status, 0, showRun("stagehand", sh));
  // As ng would: a unit dropped from the reload list leaves the (now empty) list file.
  assert.is(c.sh("cat /run/nixos/*-list 2>/dev/null").stdout, "", "no unit left on a list");
  const shAgain = runProgram(c, switchPrograms(c, again).stagehand, "test");
  assert.is(shAgain.status, 0, showRun("stagehand", shAgain));
});

test("difference: a unit on an interrupted switch's reload list that systemd has not loaded (ng aborts, stagehand drops it)", () => {
  const next = buildGeneration(c.root, { ...BASE, name: "ngd-reload-unloaded", units: { ...BASE.units, "r-r.service": SERVICE } });
  const p = switchPrograms(c, next);
  const lists = { reload: ["r-notloaded.service"] };
  enter(BASE);
  const ng = runProgram(c, p.ng, "test", { lists });
  assert.is(ng.status, 1, showRun("ng", ng));
  assert.ok(ng.stderr.includes("Error: Failed to get unit r-notloaded.service\n\nCaused by:\n    Unit r-notloaded.service not loaded.\n"), showRun("ng", ng));
  assert.is(c.sh("cat /run/nixos/reload-list").stdout, "r-notloaded.service\n", "ng leaves the list: the next switch aborts the same way");
  enter(BASE);
  const sh = runProgram(c, p.stagehand, "test", { lists });
  assert.is(sh.status, 0, showRun("stagehand", sh));
  assert.not.ok(sh.stderr.includes("reloading the following units"), showRun("stagehand", sh));
  assert.is(c.sh("cat /run/nixos/reload-list 2>/dev/null").stdout, "", "stagehand leaves no unit on the list");
});

test("difference: logind unreachable (ng dies after the activation, stagehand reports it and goes on, exit 4)", () => {
  const spec: GenerationSpec = { ...BASE, units: { ...BASE.units, "r-l.service": SERVICE } };
  const start = () => enter(spec, ["r-l.service"]);
  const next = buildGeneration(c.root, { ...BASE, name: "ngd-logind", units: { ...BASE.units, "r-l.service": SERVICE + "Environment=X=1\n" } });
  const p = switchPrograms(c, next);
  c.must("systemctl mask --runtime --now systemd-logind.service");
  try {
    start();
    const ng = runProgram(c, p.ng, "test");
    const ngState = c.sh("systemctl is-active r-l.service").stdout.trim();
    start();
    const sh = runProgram(c, p.stagehand, "test");
    const shState = c.sh("systemctl is-active r-l.service").stdout.trim();
    const r = { ng, sh };
    assert.ok(ng.stderr.includes("Unable to list users with logind: "), report(r));
    assert.ok(![0, 4].includes(ng.status), `ng dies (exit errno)\n${report(r)}`);
    assert.is(ngState, "inactive", "ng leaves the stopped unit stopped until the next switch");
    assert.ok(sh.stderr.includes("Unable to list users with logind: "), report(r));
    assert.is(sh.status, 4, report(r));
    assert.is(shState, "active", "stagehand starts it again");
  } finally {
    c.must("systemctl unmask --runtime systemd-logind.service && systemctl start systemd-logind.service");
  }
});

test("difference: progress lines also go to the journal (ng journals only its start and end)", () => {
  const spec: GenerationSpec = { ...BASE, units: { ...BASE.units, "r-j.service": SERVICE } };
  const next = buildGeneration(c.root, { ...BASE, name: "ngd-journal", units: { ...BASE.units, "r-j.service": SERVICE + "Environment=X=1\n" } });
  const p = switchPrograms(c, next);
  const journal: Record<string, string> = {};
  for (const [who, wrapper] of [["ng", p.ng], ["stagehand", p.stagehand]] as const) {
    enter(spec, ["r-j.service"]);
    const cursor = c.must("journalctl -n0 --show-cursor -q | sed -n 's/^-- cursor: //p'").trim();
    const r = runProgram(c, wrapper, "test");
    assert.is(r.status, 0, showRun(who, r));
    c.must("journalctl --sync");
    journal[who] = c.must(`journalctl -t nixos -o cat --after-cursor=${q(cursor)}`);
  }
  assert.ok(journal.ng!.includes(`switching to system configuration ${next.toplevel}`), journal.ng);
  assert.not.ok(journal.ng!.includes("stopping the following units: r-j.service"), journal.ng);
  assert.ok(journal.stagehand!.includes(`switching to system configuration ${next.toplevel}`), journal.stagehand);
  assert.ok(journal.stagehand!.includes("stopping the following units: r-j.service"), journal.stagehand);
});

test("difference: a file where /run/nixos should be (ng fails at every switch until it is removed; stagehand moves it aside)", () => {
  enter(BASE);
  const env = { NIXOS_NO_SYNC: "1" };
  const plant = () => c.must("rm -rf /run/nixos /run/nixos.broken-*; printf 'stray\\n' > /run/nixos");
  try {
    const r = both(base, "dry-activate", plant, { env });
    assert.is.not(r.ng.status, 0, report(r));
    assert.match(r.ng.stderr, /Failed to create \/run\/nixos directory/, report(r));
    assert.is(r.sh.status, 0, report(r));
    assert.match(r.sh.stderr, /^warning: \/run\/nixos was not a directory; moved to \/run\/nixos\.broken-\d+$/m, report(r));
    assert.is(c.must("cat /run/nixos.broken-*"), "stray\n", "nothing lost");
    assert.is(c.must("stat -c %a /run/nixos").trim(), "755");
  } finally {
    c.must("rm -rf /run/nixos.broken-*; mkdir -p /run/nixos");
  }
});

test("difference (ng bug): the switch lock file is root's alone (ng makes it 0644, so any user can hold the lock and block every switch)", () => {
  enter(BASE);
  const LOCK = "/run/nixos/switch-to-configuration.lock";
  const env = { NIXOS_NO_SYNC: "1" };
  const p = switchPrograms(c, base);
  // What any local user can do: open the lock file read-only and hold flock(2) on it.
  const holdAsNobody = () => c.sh(`setsid -f setpriv --reuid=65534 --regid=65534 --clear-groups flock -n ${LOCK} sleep 60 </dev/null >/dev/null 2>&1; sleep 0.5; pgrep -u 65534 -f 'flock -n ${LOCK}' >/dev/null`);
  const release = () => c.sh("pkill -u 65534 -f 'flock -n' ; pkill -u 65534 -x sleep; true");
  try {
    // ng creates the file with its default mode: 0644 under the usual umask.
    c.must(`rm -f ${LOCK}`);
    assert.is(runProgram(c, p.ng, "dry-activate", { env }).status, 0);
    assert.is(c.must(`stat -c %a ${LOCK}`).trim(), "644");
    assert.is(holdAsNobody().status, 0, "nobody holds ng's lock");
    const blocked = both(base, "dry-activate", undefined, { env });
    assert.is(blocked.ng.status, 11, report(blocked));
    assert.is(blocked.ng.stderr, "Could not acquire lock\n", report(blocked));
    release();
    // stagehand makes a missing lock file 0600 and narrows one left 0644: nobody can open it again.
    assert.is(runProgram(c, p.stagehand, "dry-activate", { env }).status, 0);
    assert.is(c.must(`stat -c %a ${LOCK}`).trim(), "600", "stagehand narrowed ng's file");
    c.must(`rm -f ${LOCK}`);
    assert.is(runProgram(c, p.stagehand, "dry-activate", { env }).status, 0);
    assert.is(c.must(`stat -c '%a %u' ${LOCK}`).trim(), "600 0");
    assert.is.not(holdAsNobody().status, 0, "nobody cannot open stagehand's lock file");
    const free = both(base, "dry-activate", undefined, { env });
    assert.ok(free.ng.status === 0 && free.sh.status === 0, report(free));
  } finally {
    release();
  }
});

test.run();
