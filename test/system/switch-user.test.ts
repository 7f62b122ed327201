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
import type { GenerationSpec } from "../harness/generation.ts";
import { assertContains, assertLacks, bootSwitchMachine, switchTo } from "./switch-helpers.ts";

let c: Container;
let uid = "";

test.before(async () => {
  ({ c } = await bootSwitchMachine("user"));
  c.writeFile("/usr/lib/systemd/user/dbus.socket", "[Unit]\nDescription=D-Bus User Message Bus Socket\n[Socket]\nListenStream=%t/bus\n[Install]\nWantedBy=sockets.target\n");
  c.writeFile("/usr/lib/systemd/user/dbus.service", "[Unit]\nDescription=D-Bus User Message Bus\nRequires=dbus.socket\n[Service]\nExecStart=/usr/bin/dbus-daemon --session --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only\n");
  c.must("mkdir -p /usr/lib/systemd/user/sockets.target.wants && ln -sf ../dbus.socket /usr/lib/systemd/user/sockets.target.wants/dbus.socket");
  c.must("rm -f /etc/xdg/systemd/user");
  c.must("useradd -m alice && loginctl enable-linger alice");
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

test("the per-user child refuses to run outside a switch", () => {
  const r = c.sh(`runuser -u alice -- env __NIXOS_SWITCH_TO_CONFIGURATION_PARENT_EXE=/bin/true XDG_RUNTIME_DIR=/run/user/${uid} TOPLEVEL=/x OLD_TOPLEVEL=/y NIXOS_ACTION=test /usr/local/bin/stagehand 2>&1`);
  assert.is.not(r.status, 0);
  assertContains(r.stdout, "This program is not meant to be called from outside of switch-to-configuration.");
});

test.run();
