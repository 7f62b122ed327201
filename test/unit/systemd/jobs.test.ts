import { test } from "uvu";
import * as assert from "uvu/assert";
import { DBusDisconnectedError, DBusTimeoutError } from "../../../src/dbus/connection.ts";
import { JobWaiter } from "../../../src/systemd/jobs.ts";
import type { SystemdManager } from "../../../src/systemd/manager.ts";

/** The two hooks JobWaiter uses, driven by hand: a signal source and a disconnect source. */
function source() {
  const signals = new Set<(body: unknown[]) => void>();
  const drops = new Set<(e: Error) => void>();
  const manager = {
    onSignal(member: string, fn: (body: unknown[]) => void) {
      assert.is(member, "JobRemoved");
      signals.add(fn);
      return () => signals.delete(fn);
    },
    onDisconnect(fn: (e: Error) => void) {
      drops.add(fn);
      return () => drops.delete(fn);
    },
  } as unknown as SystemdManager;
  return {
    manager,
    removed: (id: number, unit: string, result: string) => { for (const f of [...signals]) f([id, `/org/freedesktop/systemd1/job/${id}`, unit, result]); },
    drop: () => { for (const f of [...drops]) f(new Error("socket closed")); },
    listeners: () => signals.size + drops.size,
  };
}

test("a job that finished before wait() is still seen (the reply/signal race)", async () => {
  const s = source();
  const w = JobWaiter.create(s.manager);
  s.removed(5, "a.service", "done");
  assert.equal(await w.wait("/org/freedesktop/systemd1/job/5"), { id: 5, job: "/org/freedesktop/systemd1/job/5", unit: "a.service", result: "done" });
  w.close();
});

test("wait() resolves with the result string when JobRemoved arrives later; other jobs do not resolve it", async () => {
  const s = source();
  const w = JobWaiter.create(s.manager);
  const p = w.wait("/org/freedesktop/systemd1/job/9");
  let settled = false;
  void p.then(() => (settled = true));
  s.removed(8, "other.service", "done");
  await Promise.resolve();
  assert.not.ok(settled);
  s.removed(9, "b.service", "failed");
  assert.is((await p).result, "failed");
  w.close();
});

test("submit() enqueues then waits, whatever the order of reply and signal", async () => {
  const s = source();
  const w = JobWaiter.create(s.manager);
  const outcome = await w.submit(async () => {
    s.removed(3, "c.service", "dependency"); // systemd finished the job before our code saw the reply
    return "/org/freedesktop/systemd1/job/3";
  });
  assert.is(outcome.result, "dependency");
  w.close();
});

test("losing the bus rejects pending and later waits with a clear error", async () => {
  const s = source();
  const w = JobWaiter.create(s.manager);
  const p = w.wait("/org/freedesktop/systemd1/job/1");
  s.drop();
  await p.then(() => assert.unreachable("resolved"), (e) => {
    assert.instance(e, DBusDisconnectedError);
    assert.match(e.message, /lost the connection to systemd/);
  });
  await w.wait("/org/freedesktop/systemd1/job/2").then(() => assert.unreachable("resolved"), (e) => assert.instance(e, DBusDisconnectedError));
  w.close();
});

test("a wait with a timeout rejects when the job does not finish", async () => {
  const s = source();
  const w = JobWaiter.create(s.manager);
  await w.wait("/org/freedesktop/systemd1/job/4", 10).then(() => assert.unreachable("resolved"), (e) => assert.instance(e, DBusTimeoutError));
  w.close();
});

test("close() unregisters from the manager", () => {
  const s = source();
  const w = JobWaiter.create(s.manager);
  assert.is(s.listeners(), 2);
  w.close();
  assert.is(s.listeners(), 0);
});

test.run();
