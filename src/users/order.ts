/**
 * The orders of the users step's output: names bytewise (update-users-groups.pl's `sort`), database
 * entries by ID then name. The results are byteCompare's; the work is the engine's native sorts,
 * since a run sorts some 3,000 names and a comparator written in JavaScript, called ~25,000 times
 * by code that runs once per process, was the largest single cost of a no-op (milliseconds).
 */
import { byteCompare } from "../text/bytewise.ts";

/** Characters whose UTF-16 order differs from their UTF-8 (byte) order: surrogates and above. */
const HIGH = /[\uD800-\uFFFF]/;

/**
 * Sorts `names` bytewise, in place. Below U+D800 the native string order (UTF-16 code units) is
 * the byte order, so byteCompare is only needed when some name has a character above.
 */
export function sortNames(names: string[]): string[] {
  if (names.length < 2) return names;
  return HIGH.test(names.join("")) ? names.sort(byteCompare) : names.sort();
}

/**
 * Sorts `list` by `id` (non-negative integers), ties by name bytewise, in place: the distinct IDs
 * sorted natively as numbers, and only entries sharing an ID compared by name.
 */
export function sortById<T extends { name: string }>(list: T[], id: (x: T) => number): T[] {
  const byId = new Map<number, T | T[]>();
  for (const x of list) {
    const k = id(x);
    const had = byId.get(k);
    if (had === undefined) byId.set(k, x);
    else if (Array.isArray(had)) had.push(x);
    else byId.set(k, [had, x]);
  }
  const ids = new Float64Array(byId.size);
  let n = 0;
  for (const k of byId.keys()) ids[n++] = k;
  ids.sort();
  let i = 0;
  for (let j = 0; j < ids.length; j++) {
    const e = byId.get(ids[j]!)!;
    if (!Array.isArray(e)) list[i++] = e;
    else for (const x of e.sort((a, b) => byteCompare(a.name, b.name))) list[i++] = x;
  }
  return list;
}
