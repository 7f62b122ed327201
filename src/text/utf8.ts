/**
 * Strict UTF-8 decoding, as Rust's `String::from_utf8` and `read_to_string` do it (and systemd for a
 * unit's line): bytes that are no UTF-8 are an error, never U+FFFD, and a leading BOM is kept as
 * U+FEFF. Where stagehand matches ng, a file ng cannot read as a string must not read as text here.
 */

const STRICT = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** `bytes` as text; undefined when they are no UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return STRICT.decode(bytes);
  } catch {
    return undefined;
  }
}

/** `bytes` as text, or Rust's io error for bytes that are no UTF-8 (the message ng prints). */
export function readToString(bytes: Uint8Array): string {
  const text = decodeUtf8(bytes);
  if (text === undefined) throw new Error("stream did not contain valid UTF-8");
  return text;
}
