import { test } from "uvu";
import * as assert from "uvu/assert";
import { authExternalLine, parseAddress } from "../../../src/dbus/transport.ts";

test("addresses: unix path, abstract, escapes, the first usable entry", () => {
  assert.equal(parseAddress("unix:path=/run/dbus/system_bus_socket"), { path: "/run/dbus/system_bus_socket" });
  assert.equal(parseAddress("unix:abstract=/tmp/dbus-x,guid=0123"), { path: "\0/tmp/dbus-x" });
  assert.equal(parseAddress("unix:path=/run/a%20b"), { path: "/run/a b" });
  assert.equal(parseAddress("tcp:host=localhost,port=1;unix:path=/run/bus"), { path: "/run/bus" });
  assert.throws(() => parseAddress("tcp:host=localhost,port=1"), /no supported transport/);
});

test("EXTERNAL authentication sends the UID as hex-encoded ASCII", () => {
  assert.is(authExternalLine(0), "AUTH EXTERNAL 30\r\n");
  assert.is(authExternalLine(1000), "AUTH EXTERNAL 31303030\r\n");
});

test.run();
