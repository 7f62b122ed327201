/** Pipelined calls: bounded in flight, every outcome kept, in order. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PIPELINE_WINDOW, pipelined, pipelinedAll } from "../../../src/dbus/pipeline.ts";

test("at most a window of calls in flight; outcomes in the items' order, refusals kept", async () => {
  let inFlight = 0;
  let most = 0;
  const items = Array.from({ length: 3 * PIPELINE_WINDOW + 5 }, (_, i) => i);
  const out = await pipelined(items, async (i) => {
    most = Math.max(most, ++inFlight);
    // Later items answer sooner: order must come from the items, not from the answers.
    await new Promise((r) => setTimeout(r, (items.length - i) % 3));
    inFlight--;
    if (i % 7 === 0) throw new Error(`refused ${i}`);
    return i * 2;
  });
  assert.is(most, PIPELINE_WINDOW);
  assert.is(out.length, items.length);
  out.forEach((o, i) => {
    if (i % 7 === 0) assert.equal(o.status === "rejected" && (o.reason as Error).message, `refused ${i}`);
    else assert.equal(o.status === "fulfilled" && o.value, i * 2);
  });
});

test("a call that throws before it is sent is one refusal, not the window's end", async () => {
  const out = await pipelined([1, 2, 3], (i) => {
    if (i === 2) throw new Error("bad argument");
    return Promise.resolve(i);
  });
  assert.equal(out.map((o) => o.status), ["fulfilled", "rejected", "fulfilled"]);
});

test("pipelinedAll: the values in order, or the first refusal in order thrown", async () => {
  assert.equal(await pipelinedAll([3, 1, 2], async (i) => i * 10), [30, 10, 20]);
  let thrown: unknown;
  try {
    await pipelinedAll([1, 2, 3], async (i) => {
      if (i === 2) throw new Error("second");
      if (i === 3) throw new Error("third");
      return i;
    });
  } catch (e) { thrown = e; }
  assert.is((thrown as Error)?.message, "second");
});

test("no items: no calls", async () => {
  assert.equal(await pipelined([], async () => { throw new Error("called"); }), []);
});

test.run();
