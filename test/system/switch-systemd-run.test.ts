/**
 * The switch run exactly as nixos-rebuild-ng runs it: as a transient service, so a dropped SSH
 * session or a killed nixos-rebuild cannot stop it halfway:
 *
 *   systemd-run -E LOCALE_ARCHIVE -E NIXOS_INSTALL_BOOTLOADER -E NIXOS_NO_CHECK --collect
 *     --no-ask-password --pipe --quiet --service-type=exec
 *     --unit=nixos-rebuild-switch-to-configuration TOPLEVEL/bin/switch-to-configuration switch
 *
 * (remote deployments add --wait and --same-dir). Checked in both forms: stdout and stderr reach the
 * caller, exit codes pass through (0, 1, 2 = activation failed, 4 = units failed, 100), the
 * transient unit is collected after a failure, the -E variables arrive (and an unset one arrives
 * empty, which must not count as set), and SIGKILL to the calling systemd-run mid-switch — with its
 * output reader alive, and with the reader gone too — leaves the switch to finish in its unit, whose
 * journal has the switch's lines.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import { buildGeneration, type Generation, type GenerationSpec } from "../harness/generation.ts";
import { assertContains, bootSwitchMachine, nixos, show } from "./switch-helpers.ts";

const UNIT = "nixos-rebuild-switch-to-configuration";
/** nixos-rebuild-ng's systemd-run arguments for a local switch. */
const LOCAL = ["systemd-run", "-E", "LOCALE_ARCHIVE", "-E", "NIXOS_INSTALL_BOOTLOADER", "-E", "NIXOS_NO_CHECK", "--collect", "--no-ask-password", "--pipe", "--quiet", "--service-type=exec", `--unit=${UNIT}`];
/** ... and for a remote one (over SSH). */
const REMOTE = [...LOCAL, "--wait", "--same-dir"];
const FORMS = { local: LOCAL, remote: REMOTE } as const;
const BOOT_LOADER_MARK = "/run/stagehand-test/bootloader";

let c: Container;
let base: Generation;

test.before(async () => {
  ({ c, base } = await bootSwitchMachine("systemd-run"));
});
test.after(async () => {
  await c?.halt();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Polls a shell condition inside (every 50 ms, up to a minute: a bound, not an assertion on time). */
async function waitUntil(what: string, script: string): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (c.sh(script).status === 0) return;
    await sleep(50);
  }
  throw new Error(`never true: ${what} (${script})`);
}

/** The caller's environment: what nixos-rebuild-ng would have set (LOCALE_ARCHIVE, and the flags). */
function callerEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { LOCALE_ARCHIVE: "/usr/lib/locale/locale-archive", ...extra };
}

/** Runs the switch through systemd-run as nixos-rebuild-ng does; stdout and stderr as the caller saw them. */
function rebuild(form: keyof typeof FORMS, gen: Generation, action = "switch", env: Record<string, string> = {}) {
  const r = c.exec([...FORMS[form], `${gen.toplevel}/bin/switch-to-configuration`, action], { env: callerEnv(env), cwd: "/var", timeoutMs: 300_000 });
  return r;
}

function gen(spec: GenerationSpec): Generation {
  return buildGeneration(c.root, nixos(spec));
}

/**
 * The transient unit goes away (--collect: even after a failure), so the next run may reuse its
 * name. Polled: systemd collects in a later event-loop pass, and systemd-run may return first
 * (seen with --wait on 257 after a failure).
 */
async function assertCollected(context: string): Promise<void> {
  await waitUntil(`${UNIT}.service collected after ${context}`, `[ "$(systemctl show -P LoadState ${UNIT}.service)" = not-found ]`);
}

const hello = (name: string, x: string, extra: Partial<GenerationSpec> = {}): GenerationSpec => ({
  name,
  units: { "hello.service": `[Service]\nType=oneshot\nRemainAfterExit=true\nExecStart=/bin/true\nX-Test=${x}\n` },
  wantedBy: { "hello.service": ["multi-user.target"] },
  ...extra,
});

test("the generations' switch-to-configuration is stagehand's", () => {
  assertContains(c.must(["cat", `${base.toplevel}/bin/switch-to-configuration`]), "exec -a \"$0\" '/usr/local/bin/stagehand' \"$@\"");
});

for (const form of Object.keys(FORMS) as (keyof typeof FORMS)[]) {
  test(`${form} form: output relayed, the -E variables passed, exit codes 0/1/2/4/100 passed through`, async () => {
    c.must(`rm -f ${BOOT_LOADER_MARK}`);
    // 0, with stdout and stderr kept apart as the caller gave them, and NIXOS_INSTALL_BOOTLOADER
    // reaching the boot loader installer through the unit.
    const ok = gen(hello(`${form}-ok`, form, {
      activate: "echo activate-says-stdout; echo activate-says-stderr >&2; echo \"cwd=$PWD\"",
      installBootloader: `mkdir -p /run/stagehand-test && echo "$1 \${NIXOS_INSTALL_BOOTLOADER-unset}" >> ${BOOT_LOADER_MARK}`,
    }));
    let r = rebuild(form, ok, "switch", { NIXOS_INSTALL_BOOTLOADER: "1" });
    assert.is(r.status, 0, r.stdout + r.stderr);
    assertContains(r.stdout, "activate-says-stdout\n");
    assertContains(r.stderr, "activate-says-stderr\n");
    assertContains(r.stderr, "activating the configuration...\n");
    assertContains(r.stderr, "the following new units were started: hello.service\n");
    assert.not.ok(r.stdout.includes("activating the configuration"), "progress lines on stderr only");
    // --same-dir: the remote form runs in the caller's directory, the local one in systemd's "/".
    assertContains(r.stdout, form === "remote" ? "cwd=/var\n" : "cwd=/\n");
    assert.is(c.must(`cat ${BOOT_LOADER_MARK}`), `${ok.toplevel} 1\n`);
    assert.is(c.must("readlink /run/current-system").trim(), ok.toplevel);
    assert.is(show(c, "hello.service", ["ActiveState"]).ActiveState, "active");
    await assertCollected("success");

    // 1: a failing pre-switch check stops the switch. -E NIXOS_NO_CHECK with the variable unset in
    // the caller gives the unit NIXOS_NO_CHECK= (empty): that must not skip the check; =1 does.
    const checked = gen(hello(`${form}-checked`, form, { preSwitchCheck: "echo check-says-no; exit 1" }));
    r = rebuild(form, checked);
    assert.is(r.status, 1, r.stdout + r.stderr);
    assertContains(r.stdout + r.stderr, "check-says-no\n");
    assertContains(r.stderr, "Pre-switch checks failed\n");
    await assertCollected("a failed check");
    r = rebuild(form, checked, "switch", { NIXOS_NO_CHECK: "1" });
    assert.is(r.status, 0, r.stdout + r.stderr);
    await assertCollected("a skipped check");

    // 1: an unknown action.
    r = rebuild(form, ok, "no-such-action");
    assert.is(r.status, 1, r.stdout + r.stderr);
    assertContains(r.stdout + r.stderr, "Usage:");
    await assertCollected("a bad action");

    // 2: the activation script fails; the switch goes on and says so in its status.
    const broken = gen(hello(`${form}-activation-fails`, form, { activate: "echo activation-breaks >&2; false" }));
    r = rebuild(form, broken);
    assert.is(r.status, 2, r.stdout + r.stderr);
    assertContains(r.stderr, "activation-breaks\n");
    assertContains(r.stderr, "Failed to run activate script\n");
    await assertCollected("a failed activation");

    // 4: a unit fails to start; it is named.
    const failing = gen({
      name: `${form}-unit-fails`,
      units: { "broken.service": "[Service]\nType=oneshot\nExecStart=/bin/false\n" },
      wantedBy: { "broken.service": ["multi-user.target"] },
    });
    r = rebuild(form, failing);
    assert.is(r.status, 4, r.stdout + r.stderr);
    assertContains(r.stderr, "warning: the following units failed: broken.service\n");
    await assertCollected("failed units");

    // 100: the new generation's init interface differs.
    const iface = gen({ name: `${form}-interface`, initInterfaceVersion: "systemd 0" });
    r = rebuild(form, iface);
    assert.is(r.status, 100, r.stdout + r.stderr);
    assertContains(r.stderr, "incompatible");
    await assertCollected("an interface mismatch");

    // Back to the base configuration, through the same unit name.
    r = rebuild(form, base, "test");
    assert.is(r.status, 0, r.stdout + r.stderr);
    await assertCollected("the last switch");
  });
}

/**
 * Starts nixos-rebuild-ng's command in the background inside; the activation script of `g` waits
 * at a gate (/run/gate-open). `pipeline` wraps the caller's command line (`CMD`) with its output
 * redirections. Returns when the switch waits at the gate, with the caller's PID.
 */
async function startGated(form: keyof typeof FORMS, g: Generation, pipeline: (cmd: string) => string): Promise<number> {
  c.must("rm -f /run/gate-open /run/gate-reached /run/caller.pid /run/caller.out /run/caller.err /run/reader-gone /run/reader.out");
  const cmd = [...FORMS[form], `${g.toplevel}/bin/switch-to-configuration`, "switch"].map(q).join(" ");
  const env = Object.entries(callerEnv()).map(([k, v]) => `export ${k}=${q(v)}`).join("\n");
  // Written through the host path, so not under /run or /tmp (tmpfs inside).
  c.writeFile("/srv/caller.sh", `#!/bin/sh\n${env}\necho $$ > /run/caller.pid\nexec ${cmd}\n`, 0o755);
  c.writeFile("/srv/start-caller.sh", `#!/bin/sh\ncd /var\n${pipeline("/srv/caller.sh")}\n`, 0o755);
  c.must("setsid /srv/start-caller.sh < /dev/null > /dev/null 2>&1 &");
  await waitUntil("the switch reached the gate", "test -e /run/gate-reached && test -s /run/caller.pid");
  return Number(c.must("cat /run/caller.pid").trim());
}

/** A generation with a new unit NAME.service, whose activation script stops at the gate until the test opens it. */
function gated(name: string): Generation {
  return gen({
    name,
    units: { [`${name}.service`]: "[Service]\nType=oneshot\nRemainAfterExit=true\nExecStart=/bin/true\n" },
    wantedBy: { [`${name}.service`]: ["multi-user.target"] },
    activate: [
      "echo activate-before-gate",
      "touch /run/gate-reached",
      "i=0; while [ ! -e /run/gate-open ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done",
      "echo activate-after-gate",
    ].join("\n"),
  });
}

/** SIGKILL to the caller; it dies, the unit runs on; then the gate opens and the switch finishes in its unit. */
async function killCallerThenFinish(pid: number): Promise<void> {
  assert.is(c.must(`systemctl is-active ${UNIT}.service || true`).trim(), "active");
  assert.match(c.must(`cat /proc/${pid}/comm`), /^systemd-run/, "the PID is the caller's");
  c.must(`kill -KILL ${pid}`);
  await waitUntil("the caller is gone", `! kill -0 ${pid} 2>/dev/null`);
  assert.is(c.must(`systemctl is-active ${UNIT}.service || true`).trim(), "active", "the switch outlives its caller");
  c.must("touch /run/gate-open");
  await waitUntil("the switch finished", `! systemctl is-active --quiet ${UNIT}.service`);
}

/** The journal has the switch's own lines, including those written after the caller died. */
function assertJournalled(g: Generation): void {
  c.must("journalctl --sync");
  const unitLog = c.must(`journalctl --no-pager -o cat -u ${UNIT}.service`);
  assertContains(unitLog, `switching to system configuration ${g.toplevel}\n`);
  assertContains(unitLog, "activate-after-gate\n");
  assertContains(unitLog, `the following new units were started: ${g.name}.service\n`);
  assertContains(unitLog, `finished switching to system configuration ${g.toplevel}\n`);
}

test("local form: SIGKILL to the calling systemd-run mid-switch; the switch completes in its unit", async () => {
  const g = gated("killed-local");
  const pid = await startGated("local", g, (cmd) => `${cmd} > /run/caller.out 2> /run/caller.err`);
  await killCallerThenFinish(pid);
  assert.is(c.must("readlink /run/current-system").trim(), g.toplevel);
  assert.is(show(c, `${g.name}.service`, ["ActiveState"]).ActiveState, "active");
  await assertCollected("a switch whose caller died");
  assertJournalled(g);
  // The unit kept the caller's descriptors: what it wrote after the caller died still arrived.
  assertContains(c.must("cat /run/caller.out"), "activate-after-gate\n");
  assertContains(c.must("cat /run/caller.err"), `the following new units were started: ${g.name}.service\n`);
});

test("remote form: SIGKILL to the caller and its output reader gone (a dropped SSH session); the switch completes", async () => {
  const g = gated("killed-remote");
  // The reader takes one byte and closes the pipe: every later write of the switch meets EPIPE.
  const pid = await startGated("remote", g, (cmd) => `${cmd} 2>&1 | { head -c 1 > /run/reader.out; exec 0<&-; touch /run/reader-gone; }`);
  await waitUntil("the reader is gone", "test -e /run/reader-gone");
  await killCallerThenFinish(pid);
  assert.is(c.must("readlink /run/current-system").trim(), g.toplevel);
  assert.is(show(c, `${g.name}.service`, ["ActiveState"]).ActiveState, "active");
  await assertCollected("a switch whose caller and reader died");
  assertJournalled(g);
  assert.is(c.must("stat -c %s /run/reader.out").trim(), "1");
});

test.run();
