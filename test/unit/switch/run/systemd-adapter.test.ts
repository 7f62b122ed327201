import { test } from "uvu";
import * as assert from "uvu/assert";
import { DEFAULT_SETTLE, settleDone, settleSleepMs } from "../../../../src/switch/run/systemd-adapter.ts";

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

const sleep = (now: number, lastRacyJobEnd: number | undefined, starting = lastRacyJobEnd === undefined ? 0 : 1) =>
  settleSleepMs({ now, startedAt: 1000, lastRacyJobEnd, starting }, opts);

test("services still starting are looked at every poll, never past their grace's end or ng's 90 s", () => {
  assert.is(sleep(1000, 900), opts.pollMs);
  assert.is(sleep(1145, 900), 5); // less than a poll left of the grace: woken at its end
  assert.is(sleep(1000, undefined), opts.pollMs);
  assert.is(sleep(1200, 900), opts.pollMs); // the grace is over: the queue every pollMs
  assert.is(sleep(1000 + opts.maxMs - 5, 1000 + opts.maxMs - 100), 5);
  assert.is(sleep(1000 + opts.maxMs, 1000 + opts.maxMs - 10), 0);
});

test("many services still starting are looked at more seldom: one look per 25 of them each poll", () => {
  assert.is(sleep(1000, 1000, 25), opts.pollMs);
  assert.is(sleep(1000, 1000, 26), 2 * opts.pollMs);
  assert.is(sleep(1000, 1000, 250), 10 * opts.pollMs);
  assert.is(sleep(1000, 1000, 1000), 250); // never past the grace's end
});

test("no sleep passes the moment the wait could end (any queue, any grace, any number starting)", () => {
  // Every instant skipped is one where settleDone is false whatever the queue holds, unless it is
  // within a poll's sleep; a job ending meanwhile only moves the grace later.
  for (let now = 1000; now < 1600; now += 7) {
    for (const racy of [undefined, 700, 900, 1000, 1100, 1300, 1500]) {
      if (racy !== undefined && racy > now) continue;
      for (const starting of racy === undefined ? [0] : [1, 30, 300]) {
        const s = sleep(now, racy, starting);
        const poll = opts.pollMs * Math.max(1, Math.ceil(starting / 25));
        for (let t = now + poll; t < now + s; t++) assert.not.ok(at(t, racy, 0), `now ${now} racy ${racy} t ${t}`);
        if (racy !== undefined && racy + opts.quietMs > now) assert.ok(now + s <= racy + opts.quietMs, "woken by the grace's end");
      }
    }
  }
});

test.run();
