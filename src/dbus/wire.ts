/**
 * The D-Bus wire format: values marshalled to and from bytes by signature, with the spec's
 * alignment rules. Pure; the message layer (message.ts) frames these bodies.
 *
 * Value mapping: `y n q i u h d` are numbers, `x t` bigints (numbers accepted when writing), `b`
 * booleans, `s o g` strings, `ay` a Uint8Array, other arrays JS arrays, dicts (`a{..}`) Maps
 * in wire order (plain objects are accepted when writing), structs arrays, and `v` a Variant.
 */
import { alignmentOf, MAX_ARRAY_DEPTH, MAX_STRUCT_DEPTH, parsedSignature, parseSignature, SignatureError, signatureOf, type DBusType } from "./signature.ts";

/** A value with its own signature: the `v` type. */
export class Variant<T = unknown> {
  constructor(readonly signature: string, readonly value: T) {}
}

/** Bytes that break the wire format (a malformed message from the peer). */
export class WireError extends Error {
  override name = "WireError";
}

/** The spec's cap on an array's marshalled length (64 MiB). */
const MAX_ARRAY_BYTES = 64 * 1024 * 1024;

const encoder = new TextEncoder();

/** A growing little-endian buffer; offsets count from the start of the message, as alignment does. */
export class Writer {
  #buf: Buffer;
  #pos = 0;

  constructor(initial = 256) {
    this.#buf = Buffer.allocUnsafe(initial);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#pos;
  }

  /** The written bytes (a view; copy before writing more if kept). */
  bytes(): Buffer {
    return this.#buf.subarray(0, this.#pos);
  }

  #reserve(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + n));
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }

  /** Pads with zero bytes up to a multiple of `n`. */
  align(n: number): void {
    const pad = (n - (this.#pos % n)) % n;
    this.#reserve(pad);
    this.#buf.fill(0, this.#pos, this.#pos + pad);
    this.#pos += pad;
  }

  u8(v: number): void {
    this.#reserve(1);
    this.#buf[this.#pos++] = v & 0xff;
  }

  u32(v: number): void {
    this.align(4);
    this.#reserve(4);
    this.#buf.writeUInt32LE(v >>> 0, this.#pos);
    this.#pos += 4;
  }

  /** Overwrites a u32 written earlier (an array's length, a header's body length). */
  patchU32(at: number, v: number): void {
    this.#buf.writeUInt32LE(v >>> 0, at);
  }

  raw(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  /** Writes `values` by `signature` (one value per complete type). */
  write(signature: string, values: readonly unknown[]): void {
    const types = parsedSignature(signature);
    if (types.length !== values.length) {
      throw new TypeError(`signature '${signature}' takes ${types.length} value(s), got ${values.length}`);
    }
    types.forEach((t, i) => this.value(t, values[i]));
  }

  /** Writes one value of type `t`. */
  value(t: DBusType, v: unknown): void {
    const b = () => this.#buf;
    switch (t.code) {
      case "y": return this.u8(Number(v));
      case "b": return this.u32(v ? 1 : 0);
      case "n": this.align(2); this.#reserve(2); b().writeInt16LE(Number(v), this.#pos); this.#pos += 2; return;
      case "q": this.align(2); this.#reserve(2); b().writeUInt16LE(Number(v), this.#pos); this.#pos += 2; return;
      case "i": this.align(4); this.#reserve(4); b().writeInt32LE(Number(v), this.#pos); this.#pos += 4; return;
      case "u": case "h": return this.u32(Number(v));
      case "x": this.align(8); this.#reserve(8); b().writeBigInt64LE(BigInt(v as number | bigint), this.#pos); this.#pos += 8; return;
      case "t": this.align(8); this.#reserve(8); b().writeBigUInt64LE(BigInt(v as number | bigint), this.#pos); this.#pos += 8; return;
      case "d": this.align(8); this.#reserve(8); b().writeDoubleLE(Number(v), this.#pos); this.#pos += 8; return;
      case "s": case "o": {
        // The bus daemon drops a connection that sends a NUL inside a string or a malformed object
        // path, failing every call in flight: refused here, for this one call.
        const text = String(v);
        if (text.includes("\0")) throw new TypeError(`a D-Bus string cannot hold a NUL byte: ${JSON.stringify(text)}`);
        if (t.code === "o" && !OBJECT_PATH.test(text)) throw new TypeError(`not a D-Bus object path: ${JSON.stringify(text)}`);
        const bytes = encoder.encode(text);
        this.u32(bytes.length);
        this.raw(bytes);
        return this.u8(0);
      }
      case "g": {
        const bytes = encoder.encode(String(v));
        if (bytes.length > 255) throw new TypeError(`signature value longer than 255 bytes`);
        this.u8(bytes.length);
        this.raw(bytes);
        return this.u8(0);
      }
      case "v": {
        if (!(v instanceof Variant)) throw new TypeError(`a 'v' value must be a Variant, got ${typeof v}`);
        const [inner, ...rest] = parseSignature(v.signature);
        if (!inner || rest.length > 0) throw new TypeError(`a Variant needs exactly one complete type, got '${v.signature}'`);
        this.value({ code: "g", children: [] }, v.signature);
        return this.value(inner, v.value);
      }
      case "(": {
        const items = v as readonly unknown[];
        if (!Array.isArray(items) || items.length !== t.children.length) {
          throw new TypeError(`struct ${signatureOf(t)} needs an array of ${t.children.length} values`);
        }
        this.align(8);
        t.children.forEach((c, i) => this.value(c, items[i]));
        return;
      }
      case "a": return this.#array(t.children[0]!, v);
    }
    throw new TypeError(`cannot write type '${t.code}'`);
  }

  #array(elem: DBusType, v: unknown): void {
    this.u32(0);
    const lengthAt = this.#pos - 4;
    this.align(alignmentOf(elem.code));
    const start = this.#pos;
    if (elem.code === "y" && v instanceof Uint8Array) {
      this.raw(v);
    } else if (elem.code === "{") {
      const entries = v instanceof Map ? [...v.entries()] : Array.isArray(v) ? (v as [unknown, unknown][]) : Object.entries(v as object);
      for (const [k, val] of entries) {
        this.align(8);
        this.value(elem.children[0]!, k);
        this.value(elem.children[1]!, val);
      }
    } else {
      if (!Array.isArray(v)) throw new TypeError(`array a${signatureOf(elem)} needs an array`);
      for (const item of v) this.value(elem, item);
    }
    const length = this.#pos - start;
    if (length > MAX_ARRAY_BYTES) throw new TypeError(`array longer than the D-Bus maximum (${length} bytes)`);
    this.patchU32(lengthAt, length);
  }
}

/** The spec's cap on nesting of arrays, structs and variants together (sd-bus counts variants too). */
const MAX_TOTAL_DEPTH = 64;

/**
 * How many values one message may decode into. The spec allows a 64 MiB array of 4-byte variants
 * (16 M objects, GBs of heap); the largest reply stagehand reads is ListUnits, 11 values per unit,
 * so a million values is ample for any real system and caps a hostile message's cost.
 */
export const MAX_VALUES_PER_MESSAGE = 1_000_000;

const utf8 = new TextDecoder("utf-8", { fatal: true });
/** A valid object path: `/`, or `/`-separated non-empty `[A-Za-z0-9_]` elements. */
const OBJECT_PATH = /^\/$|^(\/[A-Za-z0-9_]+)+$/;

/**
 * Reads values from a message's bytes; `base` is the message's first byte, for alignment.
 *
 * Everything a peer sends is checked before it is trusted or allocated for: lengths against the
 * bytes present and the spec's caps, padding (zero), booleans (0 or 1), strings (UTF-8 without
 * nul), object paths and signatures (their grammar), nesting (32 arrays, 32 structs, 64 in all
 * with variants), and the count of values (MAX_VALUES_PER_MESSAGE). Any breach is a WireError.
 * Dicts decode to Maps, so no key (`__proto__`) can reach a prototype.
 */
export class Reader {
  #pos: number;
  #arrays = 0;
  #structs = 0;
  #depth = 0;
  #values = 0;

  constructor(readonly buf: Buffer, start: number, readonly littleEndian: boolean, readonly base = 0, readonly maxValues = MAX_VALUES_PER_MESSAGE) {
    this.#pos = start;
  }

  get pos(): number {
    return this.#pos;
  }

  #need(n: number): void {
    if (this.#pos + n > this.buf.length) throw new WireError(`message truncated: needs ${n} byte(s) at offset ${this.#pos - this.base}`);
  }

  /** Skips padding up to a multiple of `n`; the spec requires padding bytes to be zero. */
  align(n: number): void {
    const rel = this.#pos - this.base;
    const end = this.#pos + ((n - (rel % n)) % n);
    if (end > this.buf.length) throw new WireError("message truncated in padding");
    for (let i = this.#pos; i < end; i++) if (this.buf[i] !== 0) throw new WireError(`non-zero padding at offset ${i - this.base}`);
    this.#pos = end;
  }

  u8(): number {
    this.#need(1);
    return this.buf[this.#pos++]!;
  }

  u32(): number {
    this.align(4);
    this.#need(4);
    const v = this.littleEndian ? this.buf.readUInt32LE(this.#pos) : this.buf.readUInt32BE(this.#pos);
    this.#pos += 4;
    return v;
  }

  /** Reads the values of `signature`. */
  read(signature: string): unknown[] {
    return parsedSignature(signature).map((t) => this.value(t));
  }

  /** Reads the values of a signature received from the peer (a header field or a variant's). */
  readWireSignature(signature: string): unknown[] {
    return this.#types(signature).map((t) => this.value(t));
  }

  #types(signature: string): DBusType[] {
    try {
      return parsedSignature(signature);
    } catch (e) {
      if (e instanceof SignatureError) throw new WireError(e.message);
      throw e;
    }
  }

  #string(len: number): string {
    this.#need(len + 1);
    const s = this.#pos;
    this.#pos += len + 1;
    if (this.buf[s + len] !== 0) throw new WireError("string not terminated by a nul byte");
    // Unit names, paths and states are ASCII: latin1 decoding is cheaper and equal for them.
    let ascii = true;
    for (let i = s; i < s + len; i++) {
      const c = this.buf[i]!;
      if (c === 0) throw new WireError(`string contains a nul byte at offset ${i - this.base}`);
      if (c >= 0x80) ascii = false;
    }
    if (ascii) return this.buf.toString("latin1", s, s + len);
    try {
      return utf8.decode(this.buf.subarray(s, s + len));
    } catch {
      throw new WireError(`string at offset ${s - this.base} is not valid UTF-8`);
    }
  }

  #enter(kind: "array" | "struct" | "variant"): void {
    if (kind === "array" && ++this.#arrays > MAX_ARRAY_DEPTH) throw new WireError(`more than ${MAX_ARRAY_DEPTH} nested arrays`);
    if (kind === "struct" && ++this.#structs > MAX_STRUCT_DEPTH) throw new WireError(`more than ${MAX_STRUCT_DEPTH} nested structs`);
    if (++this.#depth > MAX_TOTAL_DEPTH) throw new WireError(`containers nested more than ${MAX_TOTAL_DEPTH} deep`);
  }

  #leave(kind: "array" | "struct" | "variant"): void {
    if (kind === "array") this.#arrays--;
    else if (kind === "struct") this.#structs--;
    this.#depth--;
  }

  /** Reads one value of type `t`. */
  value(t: DBusType): unknown {
    if (++this.#values > this.maxValues) throw new WireError(`message holds more than ${this.maxValues} values`);
    const b = this.buf;
    const le = this.littleEndian;
    switch (t.code) {
      case "y": return this.u8();
      case "b": {
        const v = this.u32();
        if (v > 1) throw new WireError(`boolean ${v} is neither 0 nor 1`);
        return v === 1;
      }
      case "n": { this.align(2); this.#need(2); const v = le ? b.readInt16LE(this.#pos) : b.readInt16BE(this.#pos); this.#pos += 2; return v; }
      case "q": { this.align(2); this.#need(2); const v = le ? b.readUInt16LE(this.#pos) : b.readUInt16BE(this.#pos); this.#pos += 2; return v; }
      case "i": { this.align(4); this.#need(4); const v = le ? b.readInt32LE(this.#pos) : b.readInt32BE(this.#pos); this.#pos += 4; return v; }
      case "u": case "h": return this.u32();
      case "x": { this.align(8); this.#need(8); const v = le ? b.readBigInt64LE(this.#pos) : b.readBigInt64BE(this.#pos); this.#pos += 8; return v; }
      case "t": { this.align(8); this.#need(8); const v = le ? b.readBigUInt64LE(this.#pos) : b.readBigUInt64BE(this.#pos); this.#pos += 8; return v; }
      case "d": { this.align(8); this.#need(8); const v = le ? b.readDoubleLE(this.#pos) : b.readDoubleBE(this.#pos); this.#pos += 8; return v; }
      case "s": return this.#string(this.u32());
      case "o": {
        const path = this.#string(this.u32());
        if (!OBJECT_PATH.test(path)) throw new WireError(`invalid object path ${JSON.stringify(path.slice(0, 80))}`);
        return path;
      }
      case "g": {
        const sig = this.#string(this.u8());
        this.#types(sig);
        return sig;
      }
      case "v": {
        const sig = this.#string(this.u8());
        const types = this.#types(sig);
        if (types.length !== 1) throw new WireError(`variant signature ${JSON.stringify(sig)} is not one complete type`);
        this.#enter("variant");
        const v = new Variant(sig, this.value(types[0]!));
        this.#leave("variant");
        return v;
      }
      case "(": {
        this.align(8);
        this.#enter("struct");
        const out = t.children.map((c) => this.value(c));
        this.#leave("struct");
        return out;
      }
      case "a": {
        this.#enter("array");
        const out = this.#array(t.children[0]!);
        this.#leave("array");
        return out;
      }
    }
    throw new WireError(`cannot read type '${t.code}'`);
  }

  #array(elem: DBusType): unknown {
    const length = this.u32();
    if (length > MAX_ARRAY_BYTES) throw new WireError(`array length ${length} over the D-Bus maximum`);
    this.align(alignmentOf(elem.code));
    const end = this.#pos + length;
    this.#need(length);
    if (elem.code === "y") {
      const bytes = Uint8Array.prototype.slice.call(this.buf, this.#pos, end);
      this.#pos = end;
      return bytes;
    }
    if (elem.code === "{") {
      // A Map: wire data never becomes an object key (no `__proto__` games), and the keys keep
      // their type and their order on the wire.
      const out = new Map<unknown, unknown>();
      this.#enter("struct");
      while (this.#pos < end) {
        this.align(8);
        this.#values++;
        const k = this.value(elem.children[0]!);
        out.set(k, this.value(elem.children[1]!));
      }
      this.#leave("struct");
      if (this.#pos !== end) throw new WireError("dict entries overrun the array's length");
      return out;
    }
    const items: unknown[] = [];
    while (this.#pos < end) items.push(this.value(elem));
    if (this.#pos !== end) throw new WireError("array elements overrun the array's length");
    return items;
  }
}
