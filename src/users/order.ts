/**
 * The order of the users step's database entries: by ID, then by name bytewise (names alone sort
 * with sortStringsBytewise). The result is a byteCompare comparator's; the work is the engine's
 * native numeric sort, since a comparator written in JavaScript, called ~25,000 times by code that
 * runs once per process, was the largest single cost of a no-op (milliseconds).
 */
import { byteCompare } from "../text/bytewise.ts";

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
