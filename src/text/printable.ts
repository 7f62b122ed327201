/**
 * Text from a file, made safe to print inside a message: control characters (C0, DEL, C1) and the
 * Unicode line separators become `\uXXXX`, so a key or name read from input can neither start a
 * line of its own in our output (forging a status or error line) nor drive the terminal.
 */

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** `s` with every control character written as a `\uXXXX` escape. */
export function printable(s: string): string {
  return s.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
