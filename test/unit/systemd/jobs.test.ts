import { test } from "uvu";
import * as assert from "uvu/assert";
import { DBusDisconnectedError, DBusTimeoutError } from "../../../src/dbus/connection.ts";
import { inputDeadline } from "../../../src/dbus/deadline.ts";
import { EARLY_RESULTS_MAX, ForeignJobError, JobTracker, JobWaiter, UNCLAIMED_RESULTS_MAX } from "../../../src/systemd/jobs.ts";
import type { JobOutcome } from "../../../src/systemd/jobs.ts";
import type { SystemdManager } from "../../../src/systemd/manager.ts";

const path = (id: number) => `/org/freedesktop/systemd1/job/${id}`;
const outcome = (id: number, unit: string, result: string): JobOutcome => ({ id, job: path(id), unit, result });

/** A call that enqueues a job, answered by hand. */
function pendingCall() {
  let answer!: (p: string) => void;
  const reply = new Promise<string>((r) => (answer = r));
  return { enqueue: () => reply, answer };
}

/** The hooks JobWaiter uses, driven by hand: a tracker fed as systemd would, and a disconnect source. */
function source() {
  const jobs = new JobTracker();
  const drops = new Set<(e: Error) => void>();
  const manager = {
    jobResult: (p: string) => jobs.result(p),
    deadline: (ms: number, expire: () => void) => inputDeadline(ms, () => 0, expire),
    onDisconnect(fn: (e: Error) => void) {
      drops.add(fn);
      return () => drops.delete(fn);
    },
  } as unknown as SystemdManager;
  return {
    manager,
    jobs,
    create: (id: number) => jobs.creating(async () => path(id)),
    drop: () => { for (const f of [...drops]) f(new Error("socket closed")); },
    listeners: () => drops.size,
  };
}

test("a job that finished before wait() is still seen", async () => {
  const s = source();
  const w = JobWaiter.create(s.manager);
  await s.create(5);
  s.jobs.removed(outcome(5, "a.service", "done"));
  assert.equal(await w.wait(path(5)), outcome(5, "a.service", "done"));
  w.close();
});

test("JobRemoved dispatched before the reply that names the job is matched (the reply/signal race)", async () => {
  const jobs = new JobTracker();
  const call = pendingCall();
  const created = jobs.creating(call.enqueue);
  jobs.removed(outcome(3, "c.service", "dependency")); // systemd finished the job before our code saw the reply
  call.answer(path(3));
  assert.is(await created, path(3));
  assert.equal(await jobs.result(path(3)), outcome(3, "c.service", "dependency"));
});

test("wait() resolves with the result string when JobRemoved arrives later; other jobs do not resolve it", async () => {
  const s = source();
  const w = JobWaiter.create(s.manager);
  await s.create(9);
  const p = w.wait(path(9));
  let settled = false;
  void p.then(() => (settled = true));
  s.jobs.removed(outcome(8, "other.service", "done"));
  await Promise.resolve();
  assert.not.ok(settled);
  s.jobs.removed(outcome(9, "b.service", "failed"));
  assert.is((await p).result, "failed");
  w.close();
});

test("a result planted before the job exists is not kept: the real one counts", async () => {
  const jobs = new JobTracker();
  // No creating call in flight: a JobRemoved for a predictable future job id is dropped.
  jobs.removed(outcome(42, "sshd.service", "done"));
  assert.equal(jobs.size, { own: 0, early: 0 });
  await jobs.creating(async () => path(42));
  const p = jobs.result(path(42));
  jobs.removed(outcome(42, "sshd.service", "failed"));
  assert.is((await p).result, "failed");
});

test("results of jobs this process did not create cannot be waited for", async () => {
  const s = source();
  const w = JobWaiter.create(s.manager);
  s.jobs.removed(outcome(7, "x.service", "done"));
  await w.wait(path(7)).then(() => assert.unreachable("resolved"), (e) => assert.instance(e, ForeignJobError));
  w.close();
});

test("pipelined creating calls: each job gets its own result, whatever the order of replies and signals", async () => {
  const jobs = new JobTracker();
  const calls = [1, 2, 3].map(() => pendingCall());
  const created = calls.map((c) => jobs.creating(c.enqueue));
  // Job 2 ends before any reply; job 1 is answered first; job 3 ends after its reply.
  jobs.removed(outcome(2, "b.service", "failed"));
  calls[0]!.answer(path(1));
  await created[0];
  jobs.removed(outcome(1, "a.service", "done"));
  calls[2]!.answer(path(3));
  calls[1]!.answer(path(2));
  await Promise.all(created);
  const third = jobs.result(path(3));
  jobs.removed(outcome(3, "c.service", "timeout"));
  assert.equal(await jobs.result(path(1)), outcome(1, "a.service", "done"));
  assert.equal(await jobs.result(path(2)), outcome(2, "b.service", "failed"));
  assert.equal(await third, outcome(3, "c.service", "timeout"));
  // Nothing held once no call is in flight.
  assert.equal(jobs.size, { own: 0, early: 0 });
});

test("the early buffer holds only while a creating call is in flight, and is bounded", async () => {
  const jobs = new JobTracker();
  const call = pendingCall();
  const created = jobs.creating(call.enqueue);
  for (let i = 0; i < EARLY_RESULTS_MAX + 100; i++) jobs.removed(outcome(1000 + i, "noise.service", "done"));
  assert.is(jobs.size.early, EARLY_RESULTS_MAX);
  call.answer(path(5));
  await created;
  assert.equal(jobs.size, { own: 1, early: 0 });
});

test("results nobody claims are bounded", async () => {
  const jobs = new JobTracker();
  for (let i = 1; i <= UNCLAIMED_RESULTS_MAX + 10; i++) {
    await jobs.creating(async () => path(i));
    jobs.removed(outcome(i, "u.service", "done"));
  }
  assert.is(jobs.size.own, UNCLAIMED_RESULTS_MAX);
  await jobs.result(path(1)).then(() => assert.unreachable("kept"), (e) => assert.instance(e, ForeignJobError)); // the oldest went
  assert.is((await jobs.result(path(UNCLAIMED_RESULTS_MAX + 10))).result, "done");
});

test("a request merged into our job that finishes meanwhile still gets the result", async () => {
  const jobs = new JobTracker();
  await jobs.creating(async () => path(11));
  const first = jobs.result(path(11));
  const call = pendingCall();
  const second = jobs.creating(call.enqueue);
  jobs.removed(outcome(11, "m.service", "done")); // the job ends while systemd's answer (the same job) is on its way
  call.answer(path(11));
  await second;
  assert.is((await first).result, "done");
  assert.is((await jobs.result(path(11))).result, "done");
  assert.equal(jobs.size, { own: 0, early: 0 });
});

test("a creating call that fails adopts nothing", async () => {
  const jobs = new JobTracker();
  await jobs.creating(async () => { throw new Error("NoSuchUnit"); }).catch(() => {});
  assert.equal(jobs.size, { own: 0, early: 0 });
});

test("submit() enqueues then waits", async () => {
  const s = source();
  const w = JobWaiter.create(s.manager);
  const outcomeP = w.submit(async () => {
    const p = await s.create(3);
    s.jobs.removed(outcome(3, "c.service", "dependency"));
    return p;
  });
  assert.is((await outcomeP).result, "dependency");
  w.close();
});

test("losing the bus rejects pending and later waits with a clear error", async () => {
  const s = source();
  const w = JobWaiter.create(s.manager);
  await s.create(1);
  const p = w.wait(path(1));
  s.drop();
  await p.then(() => assert.unreachable("resolved"), (e) => {
    assert.instance(e, DBusDisconnectedError);
    assert.match(e.message, /lost the connection to systemd/);
  });
  await s.create(2);
  await w.wait(path(2)).then(() => assert.unreachable("resolved"), (e) => assert.instance(e, DBusDisconnectedError));
  w.close();
});

test("the tracker's fail() rejects its waiters and forgets everything", async () => {
  const jobs = new JobTracker();
  await jobs.creating(async () => path(1));
  const p = jobs.result(path(1));
  jobs.fail(new DBusDisconnectedError("gone"));
  await p.then(() => assert.unreachable("resolved"), (e) => assert.instance(e, DBusDisconnectedError));
  assert.equal(jobs.size, { own: 0, early: 0 });
});

test("a wait with a timeout rejects when the job does not finish", async () => {
  const s = source();
  const w = JobWaiter.create(s.manager);
  await s.create(4);
  await w.wait(path(4), 10).then(() => assert.unreachable("resolved"), (e) => assert.instance(e, DBusTimeoutError));
  w.close();
});

test("close() unregisters from the manager and rejects open waits", async () => {
  const s = source();
  const w = JobWaiter.create(s.manager);
  assert.is(s.listeners(), 1);
  await s.create(6);
  const p = w.wait(path(6));
  w.close();
  assert.is(s.listeners(), 0);
  await p.then(() => assert.unreachable("resolved"), (e) => assert.match(e.message, /closed/));
});

test.run();
