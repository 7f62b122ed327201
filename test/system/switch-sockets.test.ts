/**
 * switch-test.nix, ported: "socket-activated services". NixOS's Python socket server becomes an
 * equivalent Perl one (the rootfs has perl, not python3/socat): it takes the listening socket
 * systemd passes as fd 3 and writes "hello" to every client; the client is Perl's IO::Socket::UNIX.
 * ExecReload appends to /run/socket-reloads (NixOS: /bin/true) so a reload is observable.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import type { GenerationSpec } from "../harness/generation.ts";
import { assertContains, assertLacks, assertOnly, bootSwitchMachine, show, switchTo } from "./switch-helpers.ts";

let c: Container;

const SERVER = `#!/usr/bin/perl
use strict; use IO::Socket::UNIX;
my $l = IO::Socket::UNIX->new_from_fd(3, "+<") or die "no fd 3: $!";
while (my $c = $l->accept) { print $c "hello"; close $c; }
`;

test.before(async () => {
  ({ c } = await bootSwitchMachine("sockets"));
  c.writeFile("/usr/local/bin/socket-test", SERVER, 0o755);
});
test.after(async () => {
  await c?.halt();
});

/** simple-socket and its variants (NixOS: stopIfChanged defaults to false here). */
function simpleSocket(name: string, o: { stopIfChanged?: boolean; xTest?: boolean; reloadTrigger?: boolean } = {}): GenerationSpec {
  return {
    name,
    units: {
      "socket-activated.service": "[Unit]\nDescription=A socket-activated service\n" +
        (o.reloadTrigger ? "X-Reload-Triggers=test\n" : "") +
        "[Service]\nExecStart=/usr/local/bin/socket-test\nExecReload=/bin/sh -c 'echo reload >> /run/socket-reloads'\n" +
        (o.stopIfChanged ? "" : "X-StopIfChanged=false\n") + (o.xTest ? "X-Test=test\n" : ""),
      "socket-activated.socket": "[Socket]\nListenStream=/run/test.sock\nSocketMode=0777\n",
    },
    wantedBy: { "socket-activated.socket": ["sockets.target"] },
  };
}

const hello = () => c.must(["perl", "-MIO::Socket::UNIX", "-e", '$s = IO::Socket::UNIX->new(Peer => "/run/test.sock") or die $!; print <$s>']);
const isSocket = () => c.sh("[ -S /run/test.sock ]").status === 0;
const mainPid = () => show(c, "socket-activated.service", ["MainPID"]).MainPID;

test("socket-activated services", () => {
  switchTo(c, { name: "base" }); // a well-known state after boot, as NixOS's test switches to "" first
  // Socket-activated services don't get started, just the socket
  assert.not.ok(isSocket());
  let out = switchTo(c, simpleSocket("simple-socket"));
  assertLacks(out, "NOT restarting the following changed units:");
  assertLacks(out, "reloading the following units:");
  assertLacks(out, "\nrestarting the following units:");
  assertLacks(out, "\nstarting the following units:");
  assertContains(out, "the following new units were started: socket-activated.socket\n");
  assert.ok(isSocket());
  assert.is(show(c, "socket-activated.service", ["ActiveState"]).ActiveState, "inactive");

  // Changing a non-activated service does nothing
  out = switchTo(c, simpleSocket("simple-socket-service-modified", { xTest: true }));
  assertOnly(out, {});
  assert.ok(isSocket());
  // The unit is properly activated when the socket is accessed
  assert.is(hello(), "hello", "Socket was not properly activated");
  const pid1 = mainPid();
  assert.is.not(pid1, "0");

  // Changing an activated service with stopIfChanged=false restarts the service
  out = switchTo(c, simpleSocket("simple-socket"));
  assertOnly(out, { restart: "socket-activated.service" });
  assert.ok(isSocket());
  assert.is(hello(), "hello", "Socket was not properly activated after the service was restarted");
  const pid2 = mainPid();
  assert.is.not(pid2, pid1, "restarted: a new main PID");

  // Changing an activated service with stopIfChanged=true stops the service and socket and starts the socket
  out = switchTo(c, simpleSocket("simple-socket-stop-if-changed", { stopIfChanged: true }));
  assertOnly(out, { stop: "socket-activated.service, socket-activated.socket", start: "socket-activated.socket" });
  assert.ok(isSocket());
  assert.is(hello(), "hello", "Socket was not properly activated after the service was restarted");
  const pid3 = mainPid();
  assert.is.not(pid3, pid2);

  // Changing a reload trigger of a socket-activated unit only reloads it
  out = switchTo(c, simpleSocket("simple-socket-stop-if-changed-and-reloadtrigger", { stopIfChanged: true, reloadTrigger: true }));
  assertOnly(out, { reload: "socket-activated.service" });
  assertLacks(out, "\nstarting the following units: socket-activated.socket");
  assert.ok(isSocket());
  assert.is(mainPid(), pid3, "reloaded, not restarted");
  assert.is(c.sh("cat /run/socket-reloads").stdout, "reload\n", "ExecReload ran once");
  assert.is(hello(), "hello", "Socket was not properly activated after the service was reloaded");
});

test.run();
