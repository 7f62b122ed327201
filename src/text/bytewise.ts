/** Byte-wise string order: how the tools stagehand replaces order names (JavaScript's `<` does not). */

/**
 * Byte-wise comparison of the UTF-8 encodings, which is code-point order: how Perl's `sort` orders
 * file names, systemd (`strcmp`) orders drop-ins and Rust orders `str`s.
 */
export function byteCompare(a: string, b: string): number {
  // UTF-16 code units order as UTF-8 bytes do, except surrogates (and the lone ones Buffer turns
  // into U+FFFD): the first difference decides, and only those cases pay for encoding.
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 || y >= 0xd800) return Buffer.compare(Buffer.from(a), Buffer.from(b));
    return x < y ? -1 : 1;
  }
  if (a.length === b.length) return 0;
  // One is a prefix of the other: the shorter sorts first unless what follows could encode oddly.
  const rest = a.length > b.length ? a.charCodeAt(n) : b.charCodeAt(n);
  if (rest >= 0xd800) return Buffer.compare(Buffer.from(a), Buffer.from(b));
  return a.length < b.length ? -1 : 1;
}

/** Characters whose UTF-16 order differs from their UTF-8 (byte) order: surrogates and above. */
const HIGH = /[\uD800-\uFFFF]/;

/**
 * Sorts `names` bytewise, in place, by the engine's own string sort (no comparator called per
 * pair) unless some name has a character at or above U+D800: the fastest order for thousands of
 * names in code that runs once. `joined`: `names.join("")`, when the caller made it for a test of
 * its own (a join costs hundreds of instructions per name in the interpreter).
 */
export function sortStringsBytewise(names: string[], joined?: string): string[] {
  if (names.length < 2) return names;
  return HIGH.test(joined ?? names.join("")) ? names.sort(byteCompare) : names.sort();
}

/**
 * Sorts `items` by `key` bytewise, in place. Below U+D800 the engine's native string order (UTF-16
 * code units) is the byte order, so byteCompare is only needed when a key has a character above.
 */
export function sortBytewise<T>(items: T[], key: (item: T) => string): T[] {
  if (items.some((i) => HIGH.test(key(i)))) return items.sort((a, b) => byteCompare(key(a), key(b)));
  return items.sort((a, b) => { const x = key(a), y = key(b); return x < y ? -1 : x > y ? 1 : 0; });
}
