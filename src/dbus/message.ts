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
/** The spec's cap on an array's length, which the header fields are. */
const MAX_ARRAY_BYTES = 64 * 1024 * 1024;

// Header field codes, the message key each fills and the one type each must have, in code order.
const FIELDS = [
  [1, "path", "o"], [2, "interface", "s"], [3, "member", "s"], [4, "errorName", "s"],
  [5, "replySerial", "u"], [6, "destination", "s"], [7, "sender", "s"], [8, "signature", "g"],
] as const;
/** UNIX_FDS: known, never used here (no fd passing is negotiated), type-checked and dropped. */
const UNIX_FDS = 9;
const FIELD_BY_CODE = new Map<number, readonly [number, string, string]>(FIELDS.map((f) => [f[0], f]));
const HEADER_FIELDS = parsedSignature("a(yv)")[0]!;

// Names, per the spec's "Valid Names": at most 255 bytes, dot-separated elements.
const ELEMENT = "[A-Za-z_][A-Za-z0-9_]*";
const INTERFACE_NAME = new RegExp(`^${ELEMENT}(\\.${ELEMENT})+$`);
const MEMBER_NAME = new RegExp(`^${ELEMENT}$`);
const WELL_KNOWN_BUS_NAME = /^[A-Za-z_-][A-Za-z0-9_-]*(\.[A-Za-z_-][A-Za-z0-9_-]*)+$/;
const UNIQUE_BUS_NAME = /^:[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/;

/** Whether a string is a valid bus name (unique `:1.42` or well-known `org.freedesktop.systemd1`). */
export function isBusName(s: string): boolean {
  return s.length <= 255 && (UNIQUE_BUS_NAME.test(s) || WELL_KNOWN_BUS_NAME.test(s));
}

/** Whether a string is a valid interface (or error) name. */
export function isInterfaceName(s: string): boolean {
  return s.length <= 255 && INTERFACE_NAME.test(s);
}

/** Whether a string is a valid member name. */
export function isMemberName(s: string): boolean {
  return s.length <= 255 && MEMBER_NAME.test(s);
}

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

/**
 * The total length of the message whose first 16 bytes are given. Throws WireError when the
 * header makes the stream unframeable (bad endianness or version, lengths over the spec's caps):
 * the connection cannot go on after that.
 */
export function messageLength(head: Buffer): number {
  const le = head[0] === 0x6c;
  if (!le && head[0] !== 0x42) throw new WireError(`bad endianness byte 0x${head[0]!.toString(16)} in a message header`);
  if (head[3] !== 1) throw new WireError(`unsupported D-Bus protocol version ${head[3]}`);
  const bodyLength = le ? head.readUInt32LE(4) : head.readUInt32BE(4);
  const fieldsLength = le ? head.readUInt32LE(12) : head.readUInt32BE(12);
  if (fieldsLength > MAX_ARRAY_BYTES) throw new WireError(`header fields of ${fieldsLength} bytes over the D-Bus maximum`);
  const total = 16 + fieldsLength + ((8 - (fieldsLength % 8)) % 8) + bodyLength;
  if (total > MAX_MESSAGE_BYTES) throw new WireError(`message of ${total} bytes over the D-Bus maximum`);
  return total;
}

/** The header fields each message type must carry (spec: "Message Types"). */
const REQUIRED: Record<number, readonly (keyof Message)[]> = {
  [MessageType.METHOD_CALL]: ["path", "member"],
  [MessageType.METHOD_RETURN]: ["replySerial"],
  [MessageType.ERROR]: ["errorName", "replySerial"],
  [MessageType.SIGNAL]: ["path", "interface", "member"],
};

/**
 * A message that breaks the protocol though its frame is intact: the stream goes on after it.
 * `header` holds the header when only the body was bad, so a caller awaiting that reply can be told.
 */
export class MalformedMessageError extends WireError {
  override name = "MalformedMessageError";
  constructor(message: string, readonly header?: Message) {
    super(message);
  }
}

/**
 * Decodes one whole message (exactly `messageLength` bytes), checking it as the spec requires:
 * header fields of their one type and valid names, the fields each type must carry, zero padding,
 * and a body that is exactly its signature's values. Throws MalformedMessageError otherwise.
 * A message of an unknown type is returned without its body (the spec says to ignore it).
 */
export function decodeMessage(buf: Buffer): Message {
  let header: Message | undefined;
  try {
    if (buf.length < 16) throw new WireError(`message of ${buf.length} bytes, shorter than a header`);
    const framed = messageLength(buf);
    if (framed !== buf.length) throw new WireError(`message of ${buf.length} bytes, its header says ${framed}`);
    const le = buf[0] === 0x6c;
    const r = new Reader(buf, 12, le);
    const m: Message = { type: buf[1]!, flags: buf[2]!, serial: le ? buf.readUInt32LE(8) : buf.readUInt32BE(8) };
    const bodyLength = le ? buf.readUInt32LE(4) : buf.readUInt32BE(4);
    if (m.type === 0) throw new WireError("message of type 0 (invalid)");
    if (m.serial === 0) throw new WireError("message with serial 0");
    const fields = r.value(HEADER_FIELDS) as [number, Variant][];
    const target = m as unknown as Record<string, unknown>;
    const seen = new Set<number>();
    for (const [code, v] of fields) {
      if (code === 0) throw new WireError("header field of code 0 (invalid)");
      if (seen.has(code)) throw new WireError(`header field ${code} appears twice`);
      seen.add(code);
      const field = FIELD_BY_CODE.get(code);
      if (code === UNIX_FDS && v.signature !== "u") throw new WireError(`header field UNIX_FDS has type '${v.signature}', not 'u'`);
      if (!field) continue; // unknown fields are ignored, as the spec says
      const [, key, sig] = field;
      if (v.signature !== sig) throw new WireError(`header field ${key} has type ${JSON.stringify(v.signature)}, not '${sig}'`);
      target[key] = v.value;
    }
    checkNames(m);
    r.align(8);
    const required = REQUIRED[m.type];
    if (!required) return m;
    for (const key of required) if (m[key] === undefined) throw new WireError(`message of type ${m.type} without the ${key} header field`);
    header = m;
    if (!m.signature) {
      if (bodyLength !== 0) throw new WireError(`a body of ${bodyLength} bytes without a signature field`);
      m.body = [];
      return m;
    }
    const body = new Reader(buf, r.pos, le);
    m.body = body.readWireSignature(m.signature);
    if (body.pos !== buf.length) throw new WireError(`body of ${bodyLength} bytes holds ${body.pos - r.pos} bytes of values`);
    return m;
  } catch (e) {
    if (e instanceof MalformedMessageError) throw e;
    if (e instanceof WireError) throw new MalformedMessageError(e.message, header && { ...header, body: undefined });
    throw e;
  }
}

function checkNames(m: Message): void {
  const bad = (what: string, v: string) => new WireError(`invalid ${what} ${JSON.stringify(v.slice(0, 80))} in a message header`);
  if (m.interface !== undefined && !isInterfaceName(m.interface)) throw bad("interface name", m.interface);
  if (m.member !== undefined && !isMemberName(m.member)) throw bad("member name", m.member);
  if (m.errorName !== undefined && !isInterfaceName(m.errorName)) throw bad("error name", m.errorName);
  if (m.destination !== undefined && !isBusName(m.destination)) throw bad("destination", m.destination);
  if (m.sender !== undefined && !isBusName(m.sender)) throw bad("sender", m.sender);
  if (m.replySerial === 0) throw new WireError("reply serial 0 in a message header");
}

/**
 * Splits a received byte stream into messages. Chunks are kept as they came and joined only when
 * a message spans several, so a large reply costs one copy, not one per chunk.
 */
export class MessageFramer {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #need = 0;

  /**
   * Adds received bytes; returns the messages completed by them, in order. A message that is
   * framed but malformed goes to `onMalformed` and the stream goes on (without it, it is thrown);
   * a header that breaks the framing itself throws WireError, and the stream cannot go on.
   */
  push(chunk: Buffer, onMalformed?: (e: MalformedMessageError) => void): Message[] {
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
      try {
        out.push(decodeMessage(bytes));
      } catch (e) {
        if (!(e instanceof MalformedMessageError) || !onMalformed) throw e;
        onMalformed(e);
      }
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
