import { test } from "uvu";
import * as assert from "uvu/assert";
import { DEFAULT_SETTLE, settleDone } from "../../../../src/switch/run/systemd-adapter.ts";

const opts = DEFAULT_SETTLE; // quietMs 250
const at = (now: number, lastRacyJobEnd: number | undefined, jobsQueued: number) =>
  settleDone({ now, startedAt: 1000, lastRacyJobEnd, jobsQueued }, opts);

test("a switch that ran no service job and left no job queued (a no-op switch) does not wait", () => {
  assert.ok(at(1000, undefined, 0));
});

test("jobs still queued are waited for, but no longer than ng's 250 ms", () => {
  assert.not.ok(at(1000, undefined, 2));
  assert.not.ok(at(1249, undefined, 1));
  assert.ok(at(1020, undefined, 0));
  assert.ok(at(1250, undefined, 1));
});

test("after a job on a racy (simple, exec, idle) service, 250 ms from its end, not from the end of everything else", () => {
  assert.not.ok(at(1000, 900, 0));
  assert.ok(at(1150, 900, 0)); // targets ran for 100 ms after it: 150 ms more
  assert.not.ok(at(1149, 900, 0));
  // a service job of ours ending during the wait extends both the grace and the queue's bound
  assert.not.ok(at(1260, 1100, 0));
  assert.not.ok(at(1340, 1100, 3));
  assert.ok(at(1350, 1100, 3));
});

test("racy jobs that never stop ending do not hold the switch past ng's 90 s", () => {
  // e.g. a Restart=always service failing every 100 ms, or Accept=yes instances started by a busy socket
  assert.not.ok(at(1000 + opts.maxMs - 1, 1000 + opts.maxMs - 100, 0));
  assert.ok(at(1000 + opts.maxMs, 1000 + opts.maxMs - 100, 5));
});

test.run();
