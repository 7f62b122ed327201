import { test } from "uvu";
import * as assert from "uvu/assert";
import { connectBus, DBusDisconnectedError, matchRule, unwrapVariant, userBusAddress, Variant } from "../../../src/dbus/connection.ts";

test("match rules quote values, escaping single quotes", () => {
  assert.is(matchRule({ sender: "org.freedesktop.systemd1", member: "JobRemoved" }), "type='signal',sender='org.freedesktop.systemd1',member='JobRemoved'");
  assert.is(matchRule({ arg0: "it's" }), "type='signal',arg0='it'\\''s'");
});

test("variants are unwrapped, also when nested", () => {
  assert.is(unwrapVariant(new Variant("v", new Variant("s", "x"))), "x");
  assert.equal(unwrapVariant(new Variant("as", ["a"])), ["a"]);
  assert.is(unwrapVariant(3), 3);
});

test("a user's bus address is under /run/user/UID", () => {
  assert.is(userBusAddress(1000), "unix:path=/run/user/1000/bus");
});

test("connecting to a missing socket fails with a clear error, not a hang", async () => {
  await connectBus("unix:path=/nonexistent/stagehand-test-bus", { connectTimeoutMs: 5000 }).then(
    () => assert.unreachable("connected"),
    (e) => {
      assert.instance(e, DBusDisconnectedError);
      assert.match(e.message, /cannot connect to D-Bus at unix:path=\/nonexistent\/stagehand-test-bus/);
    },
  );
});

test.run();
