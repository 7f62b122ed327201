/**
 * The order of the users step's database entries: by ID, then by name bytewise (names alone sort
 * with sortStringsBytewise). The result is a byteCompare comparator's; the work is the engine's
 * native numeric sort, since a comparator written in JavaScript, called ~25,000 times by code that
 * runs once per process, was the largest single cost of a no-op (milliseconds).
 */
import { byteCompare } from "../text/bytewise.ts";

/** Entries below this many are sorted by one packed key each (ID and position in one double). */
const PACKED_BELOW = 1 << 20;

/**
 * `items` sorted by `id` (integers from 0 to 2^32 - 1), ties by name bytewise, as a new array: one
 * number per entry, `id * 2^20 + position` (exact in a double), sorted natively; only entries
 * sharing an ID are then compared by name. `shared` tells whether two entries share an ID, which
 * the sort sees for free (they end up side by side), so a caller can skip looking for shared IDs.
 */
export function sortById<T extends { name: string }>(items: Iterable<T>, id: (x: T) => number): { sorted: T[]; shared: boolean } {
  // A loop, not a spread: spreading a Map's iterator costs twice as much in the interpreter.
  const from: T[] = [];
  for (const x of items) from.push(x);
  const n = from.length;
  if (n >= PACKED_BELOW) {
    const sorted = sortByIdCompared(from, id);
    let shared = false;
    for (let i = 1; i < n && !shared; i++) shared = id(sorted[i - 1]!) === id(sorted[i]!);
    return { sorted, shared };
  }
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = id(from[i]!) * PACKED_BELOW + i;
  keys.sort();
  const list = new Array<T>(n);
  let tie = false;
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    const at = k % PACKED_BELOW;
    const ident = (k - at) / PACKED_BELOW;
    if (ident === prev) tie = true;
    prev = ident;
    list[i] = from[at]!;
  }
  if (!tie) return { sorted: list, shared: false };
  // Runs of one ID (rare: two names sharing a UID or GID) ordered by name.
  for (let start = 0; start < n;) {
    const ident = id(list[start]!);
    let end = start + 1;
    while (end < n && id(list[end]!) === ident) end++;
    if (end - start > 1) {
      const run = list.slice(start, end).sort((a, b) => byteCompare(a.name, b.name));
      for (let j = 0; j < run.length; j++) list[start + j] = run[j]!;
    }
    start = end;
  }
  return { sorted: list, shared: true };
}

/**
 * sortById for lists too long to pack (a million entries: more than any real system has), with a
 * comparator: slower per entry, the same order.
 */
function sortByIdCompared<T extends { name: string }>(list: T[], id: (x: T) => number): T[] {
  return list.sort((a, b) => id(a) - id(b) || byteCompare(a.name, b.name));
}

/** @internal For tests: sortById's way for long lists, on any list. */
export const sortByIdComparedForTest = sortByIdCompared;
