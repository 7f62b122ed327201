import { test } from "uvu";
import * as assert from "uvu/assert";
import { inputDeadline, MAX_GRACE_MS, RECHECK_MS } from "../../../src/dbus/deadline.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("expires once the time has passed and no input came", async () => {
  let expired = 0;
  inputDeadline(20, () => 0, () => expired++);
  await sleep(10);
  assert.is(expired, 0);
  await sleep(20 + RECHECK_MS + 30);
  assert.is(expired, 1);
});

test("a cancelled deadline never expires, also when cancelled during the grace", async () => {
  let expired = 0;
  inputDeadline(10, () => 0, () => expired++).cancel();
  let input = 0;
  const d = inputDeadline(10, () => input, () => expired++);
  const feed = setInterval(() => input++, 2);
  await sleep(40); // past the deadline, in the grace while input arrives
  d.cancel();
  clearInterval(feed);
  await sleep(40);
  assert.is(expired, 0);
});

test("input still arriving postpones the verdict until it stops", async () => {
  let input = 0;
  let expiredAt = 0;
  const start = Date.now();
  inputDeadline(10, () => input, () => (expiredAt = Date.now()));
  const feed = setInterval(() => input++, 2);
  await sleep(60);
  assert.is(expiredAt, 0, "not while input arrives");
  clearInterval(feed);
  await sleep(3 * RECHECK_MS + 30);
  assert.ok(expiredAt > start + 60, "after the input stopped");
});

test("a peer that never stops sending cannot hold the wait open", async () => {
  let input = 0;
  let expired = false;
  inputDeadline(5, () => input, () => (expired = true));
  const feed = setInterval(() => input++, 1);
  // The grace counts looks, not wall time: allow the timers' own lateness.
  for (let waited = 0; !expired && waited < 4 * MAX_GRACE_MS; waited += 50) await sleep(50);
  clearInterval(feed);
  assert.ok(expired);
});

test.run();
