/**
 * Many calls on one connection without a round trip each: sent back to back, their replies awaited
 * together. The bus daemon caps the replies one connection may have pending (128 by default on the
 * system bus; a call past the cap is refused, not queued), so calls go out in windows below it.
 */

/** Calls in flight at once on one connection: below dbus-daemon's default max_replies_per_connection. */
export const PIPELINE_WINDOW = 64;

/**
 * Settles `call(item)` for every item, at most PIPELINE_WINDOW at a time, in the items' order. Each
 * call's own outcome is kept (a refused call, even one that throws before it is sent, does not stop
 * the others), so callers report refusals in order, as a loop of awaited calls would.
 */
export async function pipelined<T, R>(items: readonly T[], call: (item: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const out: PromiseSettledResult<R>[] = [];
  for (let i = 0; i < items.length; i += PIPELINE_WINDOW) {
    out.push(...await Promise.allSettled(items.slice(i, i + PIPELINE_WINDOW).map(async (item) => call(item))));
  }
  return out;
}

/** Like `pipelined`, but all or nothing: the values in the items' order, or the first refusal (in order) thrown. */
export async function pipelinedAll<T, R>(items: readonly T[], call: (item: T) => Promise<R>): Promise<R[]> {
  return (await pipelined(items, call)).map((r) => {
    if (r.status === "rejected") throw r.reason;
    return r.value;
  });
}
