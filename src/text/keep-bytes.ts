/**
 * Text that keeps every byte of a file. A file stagehand rewrites may hold bytes that are no UTF-8
 * (a comment or a GECOS field in Latin-1, written by an admin or an old tool); decoded with
 * replacement, each would become U+FFFD and be written back as EF BF BD, so rewriting the file for
 * an unrelated change would corrupt lines that are not ours. Here each byte of an invalid sequence
 * decodes to a lone surrogate U+DC80..U+DCFF (Python's "surrogateescape") and encodes back to that
 * byte; valid UTF-8 is decoded as usual and cannot yield a lone surrogate, so the mapping is
 * one-to-one. Valid input, the usual case, takes the native decoder only.
 */
import { isUtf8 } from "node:buffer";

/** The first code point each UTF-8 lead byte may start, by sequence length (overlong forms below it). */
const MIN_OF_LENGTH = [0, 0, 0x80, 0x800, 0x10000];

/** The length of a valid UTF-8 sequence at `i`, or 0 when the byte there starts none. */
function sequenceAt(b: Uint8Array, i: number): number {
  const lead = b[i]!;
  const len = lead < 0x80 ? 1 : lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
  if (len <= 1 || i + len > b.length) return len === 1 ? 1 : 0;
  let cp = lead & (0x7f >> len);
  for (let k = 1; k < len; k++) {
    const c = b[i + k]!;
    if ((c & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (c & 0x3f);
  }
  // No overlong form, no surrogate, nothing above U+10FFFF.
  if (cp < MIN_OF_LENGTH[len]! || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return 0;
  return len;
}

/** Decodes `bytes` as UTF-8, each byte of an invalid sequence as the lone surrogate U+DC00 + byte. */
export function decodeKeepingBytes(bytes: Uint8Array): string {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(buf)) return buf.toString("utf8");
  let out = "";
  let from = 0;
  for (let i = 0; i < buf.length;) {
    const len = sequenceAt(buf, i);
    if (len > 0) {
      i += len;
      continue;
    }
    out += buf.toString("utf8", from, i) + String.fromCharCode(0xdc00 + buf[i]!);
    from = ++i;
  }
  return out + buf.toString("utf8", from);
}

/** A lone surrogate decodeKeepingBytes made of a byte (with /u, a valid pair is one code point, never matched). */
const ESCAPED = /[\udc80-\udcff]/u;

/** Encodes `text` as UTF-8, each lone surrogate U+DC80..U+DCFF as the byte it stands for (decodeKeepingBytes's inverse). */
export function encodeKeepingBytes(text: string): Buffer {
  // As many bytes as characters: all ASCII (a lone surrogate would be three bytes), the usual
  // case, told without scanning for escaped bytes.
  const utf8 = Buffer.from(text, "utf8");
  if (utf8.length === text.length || !ESCAPED.test(text)) return utf8;
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { i++; continue; } // a pair: one code point
    }
    if (c < 0xdc80 || c > 0xdcff) continue;
    parts.push(Buffer.from(text.slice(from, i), "utf8"), Buffer.of(c - 0xdc00));
    from = i + 1;
  }
  parts.push(Buffer.from(text.slice(from), "utf8"));
  return Buffer.concat(parts);
}
