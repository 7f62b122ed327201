/**
 * User service managers (ng since NixOS PR #507588): a lingering user has a systemd --user
 * listed by logind; the switch re-runs itself as that user and applies /etc/systemd/user changes.
 * Emulation: the rootfs lacks Debian's dbus-user-session, so the test installs its two user units
 * (a per-user bus at $XDG_RUNTIME_DIR/bus, as NixOS has) before the user manager starts; and it
 * removes Debian's /etc/xdg/systemd/user link to /etc/systemd/user (NixOS has none), through which
 * systemd would report FragmentPath under /etc/xdg and the unit would not count as NixOS-managed.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import { buildGeneration, type GenerationSpec } from "../harness/generation.ts";
import { assertContains, assertLacks, bootSwitchMachine, nixos, runSwitch, switchTo } from "./switch-helpers.ts";

let c: Container;
let uid = "";

test.before(async () => {
  ({ c } = await bootSwitchMachine("user"));
  c.writeFile("/usr/lib/systemd/user/dbus.socket", "[Unit]\nDescription=D-Bus User Message Bus Socket\n[Socket]\nListenStream=%t/bus\n[Install]\nWantedBy=sockets.target\n");
  c.writeFile("/usr/lib/systemd/user/dbus.service", "[Unit]\nDescription=D-Bus User Message Bus\nRequires=dbus.socket\n[Service]\nExecStart=/usr/bin/dbus-daemon --session --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only\n");
  c.must("mkdir -p /usr/lib/systemd/user/sockets.target.wants && ln -sf ../dbus.socket /usr/lib/systemd/user/sockets.target.wants/dbus.socket");
  c.must("rm -f /etc/xdg/systemd/user");
  // In a transient unit: commands of the harness run from outside the container's cgroup tree, and
  // logind 257 refuses such a caller (SetUserLinger: EUNATCH); 252 did not look.
  c.must("useradd -m alice && systemd-run --wait --pipe --quiet loginctl enable-linger alice");
  uid = c.must("id -u alice").trim();
  for (let i = 0; i < 200 && c.sh(`test -S /run/user/${uid}/bus && systemctl is-active user@${uid}.service`).status !== 0; i++) await new Promise((r) => setTimeout(r, 100));
  c.must(`systemctl is-active user@${uid}.service`);
});
test.after(async () => {
  await c?.halt();
});

const userctl = (args: string) => c.sh(`runuser -u alice -- env XDG_RUNTIME_DIR=/run/user/${uid} systemctl --user ${args}`);
const hello = (name: string, x: string): GenerationSpec => ({
  name,
  etc: { "systemd/user/hello.service": `[Unit]\n[Service]\nExecStart=/bin/true\nRemainAfterExit=true\nType=oneshot\nX-Test=${x}\n` },
});

test("user units: a changed unit is stopped and started in the user's manager", () => {
  let out = switchTo(c, hello("userA", "1"));
  assertContains(out, "reloading user units for alice...\n");
  assert.is(userctl("start hello.service").status, 0, userctl("status hello.service").stdout);
  const before = userctl("show -P InvocationID hello.service").stdout.trim();
  out = switchTo(c, hello("userB", "2"));
  assertContains(out, "reloading user units for alice...\n");
  assertContains(out, "stopping the following user units: hello.service\n");
  assertContains(out, "starting the following user units: hello.service\n");
  assertLacks(out, "warning: user activation for alice failed");
  assert.is(userctl("is-active hello.service").stdout.trim(), "active");
  assert.is.not(userctl("show -P InvocationID hello.service").stdout.trim(), before, "restarted");
  // removed from /etc/systemd/user: stopped
  out = switchTo(c, { name: "userC" });
  assertContains(out, "stopping the following user units: hello.service\n");
});

test("user units: units moving from ~/.config/systemd/user to /etc/systemd/user are taken over after the per-user activation", () => {
  // Two home-manager units, active from the user's own directory; the new generation ships both in
  // /etc/systemd/user, and its nixos-activation.service plays home-manager's sd-switch: it removes
  // the user's copies and stops one of them.
  const home = "/home/alice/.config/systemd/user";
  const own = "[Unit]\n[Service]\nType=oneshot\nRemainAfterExit=true\nExecStart=/bin/true\nX-Owner=home\n";
  c.must(`mkdir -p ${home}`);
  c.writeFile(`${home}/mig.service`, own);
  c.writeFile(`${home}/gone.service`, own);
  c.must("chown -R alice:alice /home/alice/.config");
  assert.is(userctl("daemon-reload").status, 0);
  assert.is(userctl("start mig.service gone.service").status, 0, userctl("status mig.service gone.service").stdout);
  assert.is(userctl("show -P FragmentPath mig.service").stdout.trim(), `${home}/mig.service`);
  const before = userctl("show -P InvocationID mig.service").stdout.trim();

  const etcCopy = "[Unit]\n[Service]\nType=oneshot\nRemainAfterExit=true\nExecStart=/bin/true\nX-Owner=nixos\n";
  const gen = buildGeneration(c.root, nixos({
    name: "userMig",
    etc: {
      "systemd/user/mig.service": etcCopy,
      "systemd/user/gone.service": etcCopy,
      "systemd/user/nixos-activation.service":
        "[Service]\nType=oneshot\nExecStart=/bin/rm -f %h/.config/systemd/user/mig.service %h/.config/systemd/user/gone.service\nExecStart=/bin/systemctl --user stop gone.service\n",
    },
  }));

  // dry-activate: ng's system dry run ends before the user managers; and its per-user child, run
  // dry, has no lines for the migration (it depends on what the per-user activation will do).
  let r = runSwitch(c, gen, "dry-activate");
  assert.is(r.status, 0, r.out);
  assertLacks(r.out, "user units");
  const child = c.sh(`runuser -u alice -- env __NIXOS_SWITCH_TO_CONFIGURATION_PARENT_EXE=/usr/local/bin/stagehand XDG_RUNTIME_DIR=/run/user/${uid} TOPLEVEL=${gen.toplevel} OLD_TOPLEVEL=$(readlink -f /run/current-system) NIXOS_ACTION=dry-activate /usr/local/bin/stagehand 2>&1`);
  assert.is(child.status, 0, child.stdout);
  assert.is(child.stdout, "");
  assert.is(userctl("show -P FragmentPath mig.service").stdout.trim(), `${home}/mig.service`);

  r = runSwitch(c, gen, "test");
  assert.is(r.status, 0, r.out);
  // The main pass leaves them alone (not loaded from /etc/systemd/user).
  assertLacks(r.out, "stopping the following user units");
  assertLacks(r.out, "\nrestarting the following user units: mig.service");
  assertContains(r.out, "restarting the following user units: nixos-activation.service\n");
  assertContains(r.out, "restarting (post-activation) the following user units: mig.service\n");
  assertContains(r.out, "starting (post-activation) the following user units: gone.service\n");
  assertLacks(r.out, "NOT restarting (post-activation)");
  assertLacks(r.out, "warning: user activation for alice failed");
  assert.ok(r.out.indexOf("nixos-activation.service\n") < r.out.indexOf("(post-activation)"), "after the per-user activation");
  for (const unit of ["mig.service", "gone.service"]) {
    assert.is(userctl(`is-active ${unit}`).stdout.trim(), "active", unit);
    assert.is(userctl(`show -P FragmentPath ${unit}`).stdout.trim(), `/etc/systemd/user/${unit}`, unit);
  }
  assert.is.not(userctl("show -P InvocationID mig.service").stdout.trim(), before, "mig.service restarted");
});

test("the per-user child refuses to run outside a switch", () => {
  const r = c.sh(`runuser -u alice -- env __NIXOS_SWITCH_TO_CONFIGURATION_PARENT_EXE=/bin/true XDG_RUNTIME_DIR=/run/user/${uid} TOPLEVEL=/x OLD_TOPLEVEL=/y NIXOS_ACTION=test /usr/local/bin/stagehand 2>&1`);
  assert.is.not(r.status, 0);
  assertContains(r.stdout, "This program is not meant to be called from outside of switch-to-configuration.");
});

test.run();
