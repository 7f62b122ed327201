/**
 * D-Bus messages: the fixed header, the header fields, and framing of the byte stream a bus
 * connection receives into whole messages. Pure (no sockets here).
 */
import { parsedSignature } from "./signature.ts";
import { Reader, Variant, WireError, Writer } from "./wire.ts";

/** Message types of the fixed header. */
export const MessageType = { METHOD_CALL: 1, METHOD_RETURN: 2, ERROR: 3, SIGNAL: 4 } as const;

/** Header flags. */
export const MessageFlag = { NO_REPLY_EXPECTED: 1, NO_AUTO_START: 2, ALLOW_INTERACTIVE_AUTHORIZATION: 4 } as const;

/** A decoded or to-be-encoded message. */
export interface Message {
  type: number;
  flags?: number;
  serial: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  replySerial?: number;
  destination?: string;
  sender?: string;
  signature?: string;
  body?: unknown[];
}

/** The spec's cap on a whole message (128 MiB). */
const MAX_MESSAGE_BYTES = 128 * 1024 * 1024;

// Header field codes and their value types, in code order.
const FIELDS = [
  [1, "path", "o"], [2, "interface", "s"], [3, "member", "s"], [4, "errorName", "s"],
  [5, "replySerial", "u"], [6, "destination", "s"], [7, "sender", "s"], [8, "signature", "g"],
] as const;
const FIELD_BY_CODE = new Map<number, string>(FIELDS.map(([code, key]) => [code, key]));
const HEADER_FIELDS = parsedSignature("a(yv)")[0]!;

/** Encodes a message, little-endian, protocol version 1. */
export function encodeMessage(m: Message): Buffer {
  const w = new Writer(128);
  w.u8(0x6c); // 'l'
  w.u8(m.type);
  w.u8(m.flags ?? 0);
  w.u8(1);
  w.u32(0); // body length, patched below
  w.u32(m.serial);
  w.u32(0); // header fields array length, patched below
  w.align(8);
  const fieldsStart = w.length;
  for (const [code, key, sig] of FIELDS) {
    const v = m[key];
    if (v === undefined || v === "" && key === "signature") continue;
    w.align(8);
    w.u8(code);
    w.value({ code: "v", children: [] }, new Variant(sig, v));
  }
  w.patchU32(12, w.length - fieldsStart);
  w.align(8);
  const bodyStart = w.length;
  if (m.signature) w.write(m.signature, m.body ?? []);
  w.patchU32(4, w.length - bodyStart);
  return Buffer.from(w.bytes());
}

/** The total length of the message whose first 16 bytes are given. */
export function messageLength(head: Buffer): number {
  const le = head[0] === 0x6c;
  if (!le && head[0] !== 0x42) throw new WireError(`bad endianness byte 0x${head[0]!.toString(16)} in a message header`);
  if (head[3] !== 1) throw new WireError(`unsupported D-Bus protocol version ${head[3]}`);
  const bodyLength = le ? head.readUInt32LE(4) : head.readUInt32BE(4);
  const fieldsLength = le ? head.readUInt32LE(12) : head.readUInt32BE(12);
  const total = 16 + fieldsLength + ((8 - (fieldsLength % 8)) % 8) + bodyLength;
  if (total > MAX_MESSAGE_BYTES) throw new WireError(`message of ${total} bytes over the D-Bus maximum`);
  return total;
}

/** Decodes one whole message (exactly `messageLength` bytes). */
export function decodeMessage(buf: Buffer): Message {
  const le = buf[0] === 0x6c;
  const r = new Reader(buf, 12, le);
  const m: Message = { type: buf[1]!, flags: buf[2]!, serial: le ? buf.readUInt32LE(8) : buf.readUInt32BE(8) };
  const fields = r.value(HEADER_FIELDS) as [number, Variant][];
  const target = m as unknown as Record<string, unknown>;
  for (const [code, v] of fields) {
    const key = FIELD_BY_CODE.get(code);
    if (key) target[key] = v.value;
  }
  r.align(8);
  m.body = m.signature ? r.read(m.signature) : [];
  if (r.pos > buf.length) throw new WireError("message body overruns its length");
  return m;
}

/**
 * Splits a received byte stream into messages. Chunks are kept as they came and joined only when
 * a message spans several, so a large reply costs one copy, not one per chunk.
 */
export class MessageFramer {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #need = 0;

  /** Adds received bytes; returns the messages completed by them, in order. */
  push(chunk: Buffer): Message[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const out: Message[] = [];
    for (;;) {
      if (this.#need === 0) {
        if (this.#buffered < 16) break;
        this.#need = messageLength(this.#peek16());
      }
      if (this.#buffered < this.#need) break;
      const bytes = this.#take(this.#need);
      this.#need = 0;
      out.push(decodeMessage(bytes));
    }
    return out;
  }

  #peek16(): Buffer {
    if (this.#chunks[0]!.length < 16) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0]!;
  }

  #take(n: number): Buffer {
    this.#buffered -= n;
    const first = this.#chunks[0]!;
    if (first.length >= n) {
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.#chunks[0]!;
      const part = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, part);
      filled += part;
      if (part === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(part);
    }
    return out;
  }
}
