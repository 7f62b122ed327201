/**
 * Compiled and run inside a container by bench/dbus.ts: times connecting to the system bus and one
 * Manager call, in a fresh process each time (as a switch pays it), with the same client as stagehand.
 */
import { connectSystemBus } from "../../src/dbus/connection.ts";

const t0 = performance.now();
const bus = await connectSystemBus();
const t1 = performance.now();
await bus.getProperty("org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "Version");
const t2 = performance.now();
await bus.call("org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "ListUnits");
const t3 = performance.now();
bus.close();
console.log(JSON.stringify({ connect: t1 - t0, call: t2 - t1, listUnits: t3 - t2 }));
