/**
 * switch-test.nix, ported (part 3): "socket-activated services", "mounts", "timers", "targets",
 * "paths". Unit files are written as NixOS generates them; the socket test server is a Perl
 * script (the Debian rootfs has Perl, not Python) with the same behaviour: "hello" per connection.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import type { GenerationSpec } from "../harness/generation.ts";
import { assertContains, assertLacks, bootSwitchMachine, show, switchTo } from "./switch-helpers.ts";

let c: Container;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before(async () => {
  ({ c } = await bootSwitchMachine("units"));
  c.writeFile("/usr/local/bin/socket-test", "#!/usr/bin/perl\nuse strict;\nopen(my $s, '+<&=', 3) or die \"no fd 3: $!\";\nwhile (accept(my $c, $s)) { syswrite($c, 'hello'); close($c); }\n", 0o755);
  c.writeFile("/usr/local/bin/socket-client", "#!/usr/bin/perl\nuse IO::Socket::UNIX;\nmy $s = IO::Socket::UNIX->new(Peer => '/run/test.sock') or die \"connect: $!\";\nlocal $/; print <$s>;\n", 0o755);
});
test.after(async () => {
  await c?.halt();
});

function socketGen(name: string, service: string, unitExtra = ""): GenerationSpec {
  return {
    name,
    units: {
      "socket-activated.service": `[Unit]\nDescription=A socket-activated service\n${unitExtra}[Service]\nExecStart=/usr/local/bin/socket-test\nExecReload=/bin/true\n${service}`,
      "socket-activated.socket": "[Unit]\n[Socket]\nListenStream=/run/test.sock\nSocketMode=0777\n",
    },
    wantedBy: { "socket-activated.socket": ["sockets.target"] },
  };
}
const simpleSocket = socketGen("simple-socket", "X-StopIfChanged=false\n");
const simpleSocketServiceModified = socketGen("simple-socket-service-modified", "X-StopIfChanged=false\nX-Test=test\n");
const simpleSocketStopIfChanged = socketGen("simple-socket-stop-if-changed", "");
const simpleSocketReloadTrigger = socketGen("simple-socket-stop-if-changed-and-reloadtrigger", "", "X-Reload-Triggers=test\n");

const hello = () => c.must(["/usr/local/bin/socket-client"]);
const sockExists = () => c.sh("[ -S /run/test.sock ]").status === 0;

test("socket-activated services", () => {
  assert.not.ok(sockExists());
  let out = switchTo(c, simpleSocket);
  assertContains(out, "the following new units were started: socket-activated.socket\n");
  assert.ok(sockExists());

  // Changing a non-activated service does nothing
  out = switchTo(c, simpleSocketServiceModified);
  for (const m of ["stopping the following units:", "NOT restarting", "reloading the following units:", "\nrestarting the following units:", "\nstarting the following units:", "the following new units were started:"]) assertLacks(out, m);
  assert.ok(sockExists());
  assert.is(hello(), "hello");

  // Changing an activated service with stopIfChanged=false restarts the service
  const pid = show(c, "socket-activated.service", ["MainPID"]).MainPID;
  out = switchTo(c, simpleSocket);
  assertContains(out, "\nrestarting the following units: socket-activated.service\n");
  assert.is.not(show(c, "socket-activated.service", ["MainPID"]).MainPID, pid, "restarted: a new main PID");
  assert.ok(sockExists());
  assert.is(hello(), "hello");

  // With stopIfChanged=true, service and socket are stopped and the socket started
  out = switchTo(c, simpleSocketStopIfChanged);
  assertContains(out, "stopping the following units: socket-activated.service, socket-activated.socket\n");
  assertContains(out, "\nstarting the following units: socket-activated.socket\n");
  assert.ok(sockExists());
  assert.is(hello(), "hello");

  // Changing a reload trigger of a socket-activated unit only reloads it
  const pid2 = show(c, "socket-activated.service", ["MainPID"]).MainPID;
  out = switchTo(c, simpleSocketReloadTrigger);
  assertContains(out, "reloading the following units: socket-activated.service\n");
  assert.is(show(c, "socket-activated.service", ["MainPID"]).MainPID, pid2, "reloaded, same main PID");
  assert.ok(sockExists());
  assert.is(hello(), "hello");
});

function mountGen(name: string, what: string, options: string): GenerationSpec {
  return {
    name,
    units: { "testmount.mount": `[Unit]\nDescription=Testmount\n[Mount]\nOptions=${options}\nType=${what}\nWhat=${what}\nWhere=/testmount\n` },
    wantedBy: { "testmount.mount": ["local-fs.target"] },
  };
}

test("mounts", () => {
  switchTo(c, mountGen("mount", "tmpfs", "size=1M"));
  assertContains(c.must("mount | grep 'on /testmount'"), "size=1024k");
  // Changing options reloads the unit
  let out = switchTo(c, mountGen("mountOptionsModified", "tmpfs", "size=10M"));
  assertContains(out, "reloading the following units: testmount.mount\n");
  assertContains(c.must("mount | grep 'on /testmount'"), "size=10240k");
  // Changing anything but Options= restarts the unit
  out = switchTo(c, mountGen("mountModified", "ramfs", "size=10M"));
  assertContains(out, "\nrestarting the following units: testmount.mount\n");
  assertContains(c.must("mount | grep 'on /testmount'"), "ramfs");
});

const timerService = "[Unit]\n[Service]\nExecStart=/bin/true\nType=oneshot\n";
function timerGen(name: string, onCalendar: string): GenerationSpec {
  return {
    name,
    units: { "test-timer.timer": `[Unit]\n[Timer]\nOnCalendar=${onCalendar}\n`, "test-timer.service": timerService },
    wantedBy: { "test-timer.timer": ["timers.target"] },
  };
}
const timerModified = timerGen("timerModified", "Fri 2012-11-23 16:00:00");

test("timers", () => {
  switchTo(c, timerGen("timer", "@1395716396"));
  assertContains(c.must("systemctl show test-timer.timer"), "OnCalendar=2014-03-25 02:59:56 UTC");
  const out = switchTo(c, timerModified);
  assertContains(out, "\nrestarting the following units: test-timer.timer\n");
  assertContains(c.must("systemctl show test-timer.timer"), "OnCalendar=Fri 2012-11-23 16:00:00");
});

function targetGen(name: string, targetUnit: string): GenerationSpec {
  return {
    name,
    units: {
      "test-target.target": `[Unit]\n${targetUnit}`,
      "test-service.service": "[Unit]\nBindsTo=test-target.target\n[Service]\nExecStart=/bin/sleep infinity\n",
    },
    wantedBy: { "test-target.target": ["multi-user.target"] },
  };
}

test("targets", () => {
  // Modifying some special targets like hybrid-sleep.target does nothing
  let out = switchTo(c, { name: "hybridSleepModified", units: { "hybrid-sleep.target": "[Unit]\nDescription=Hybrid Suspend+Hibernate\nDocumentation=man:systemd.special(7)\nDefaultDependencies=no\nRequires=systemd-hybrid-sleep.service\nAfter=systemd-hybrid-sleep.service\nStopWhenUnneeded=yes\nX-Test=true\n" } });
  assertContains(out, "stopping the following units: test-timer.timer\n");
  assertLacks(out, "hybrid-sleep.target");

  // Adding a new target starts it
  out = switchTo(c, targetGen("target", ""));
  assertContains(out, "the following new units were started: test-target.target\n");

  // Changing a target doesn't print anything (filtered), and does not restart it
  c.must("systemctl start test-service.service");
  out = switchTo(c, targetGen("targetModified", "X-Test=true\n"));
  assertLacks(out, "test-target.target");
  assert.is(c.sh("systemctl is-active test-service.service").status, 0, "target was not restarted");

  // With X-StopOnReconfiguration, the target gets stopped and started
  out = switchTo(c, targetGen("targetModifiedStopOnReconfig", "X-StopOnReconfiguration=true\n"));
  assert.is.not(c.sh("systemctl is-active test-service.service").status, 0, "target was restarted (BindsTo stopped the service)");
  assert.is(show(c, "test-target.target", ["ActiveState"]).ActiveState, "active");

  // Remove the target by switching to the old configuration
  out = switchTo(c, timerModified);
  assertContains(out, "stopping the following units: test-target.target\n");
  assertContains(out, "the following new units were started: test-timer.timer\n");
});

function pathGen(name: string, file: string): GenerationSpec {
  return {
    name,
    units: {
      "test-watch.path": `[Unit]\n[Path]\nPathExists=${file}\n`,
      "test-watch.service": "[Unit]\n[Service]\nExecStart=/usr/bin/touch /testpath-modified\nRemainAfterExit=true\nType=oneshot\n",
    },
    wantedBy: { "test-watch.path": ["paths.target"] },
  };
}

async function waitUntil(cmd: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (c.sh(cmd).status === 0) return;
    await sleep(50);
  }
  throw new Error(`never true: ${cmd}`);
}

test("paths", async () => {
  const out = switchTo(c, pathGen("path", "/testpath"));
  assertContains(out, "stopping the following units: test-timer.timer\n");
  assertContains(out, "the following new units were started: test-watch.path\n");
  assert.is.not(c.sh("test -f /testpath-modified").status, 0);
  // touch the file, the unit is triggered
  c.must("touch /testpath");
  await waitUntil("test -f /testpath-modified");
  c.must("rm /testpath /testpath-modified");
  c.must("systemctl stop test-watch.service");
  switchTo(c, pathGen("pathModified", "/testpath2"));
  c.must("touch /testpath");
  await sleep(500);
  assert.is.not(c.sh("test -f /testpath-modified").status, 0, "the old path no longer triggers");
  c.must("touch /testpath2");
  await waitUntil("test -f /testpath-modified");
});

test.run();
