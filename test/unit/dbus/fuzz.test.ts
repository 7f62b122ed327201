/**
 * Seeded, bounded fuzzing of the D-Bus reader (issue 14 §5): random messages of random
 * signatures, then the same mutated (bytes flipped, lengths overwritten, cut, grown), random
 * bytes behind a plausible header, and streams cut into random chunks. Every input must end in a
 * message or a WireError — never another exception, a hang or a crash.
 *
 * Replay a failure with the seed it prints: STAGEHAND_FUZZ_SEED=<seed> bun test/unit/dbus/fuzz.test.ts
 * (STAGEHAND_FUZZ_CASES raises the count for a longer local run).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { decodeMessage, encodeMessage, MessageFramer, MessageType, type Message } from "../../../src/dbus/message.ts";
import { signatureOf, type DBusType } from "../../../src/dbus/signature.ts";
import { Variant, WireError } from "../../../src/dbus/wire.ts";

const SEED = Number(process.env.STAGEHAND_FUZZ_SEED ?? 0x14d8b5);
const CASES = Number(process.env.STAGEHAND_FUZZ_CASES ?? 1500);
/** Stop early if a slow machine would take longer than this (the count still bounds the work). */
const BUDGET_MS = 4000;

/** mulberry32: small, seedable, good enough to pick test inputs. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(xs: readonly T[]): T => xs[int(xs.length)]! };
}
type Rng = ReturnType<typeof rng>;

const BASIC = ["y", "b", "n", "q", "i", "u", "x", "t", "d", "s", "o", "g"] as const;
const KEYS = ["s", "o", "u", "i", "t", "y"] as const;

function genType(r: Rng, depth: number): DBusType {
  const roll = depth > 5 ? 0 : r.int(10);
  if (roll < 5) return { code: r.pick(BASIC), children: [] };
  if (roll === 5) return { code: "v", children: [] };
  if (roll === 6 || roll === 7) return { code: "a", children: [genType(r, depth + 1)] };
  if (roll === 8) return { code: "a", children: [{ code: "{", children: [{ code: r.pick(KEYS), children: [] }, genType(r, depth + 1)] }] };
  const n = 1 + r.int(3);
  return { code: "(", children: Array.from({ length: n }, () => genType(r, depth + 1)) };
}

const CHARS = ["a", "Z", "0", "_", ".", "/", " ", "é", "ß", "☃", "𝄞", "\u{10FFFF}", "\t"];
function genString(r: Rng): string {
  return Array.from({ length: r.int(12) }, () => r.pick(CHARS)).join("");
}
function genPath(r: Rng): string {
  const n = r.int(4);
  return n === 0 ? "/" : Array.from({ length: n }, () => "/" + Array.from({ length: 1 + r.int(5) }, () => r.pick(["a", "B", "9", "_"])).join("")).join("");
}

function genValue(r: Rng, t: DBusType, depth: number): unknown {
  switch (t.code) {
    case "y": return r.int(256);
    case "b": return r.int(2) === 1;
    case "n": return r.int(65536) - 32768;
    case "q": return r.int(65536);
    case "i": return r.int(2 ** 32) - 2 ** 31;
    case "u": return r.int(2 ** 32);
    case "x": return BigInt(r.int(2 ** 32)) * BigInt(r.int(2 ** 31)) * (r.int(2) ? 1n : -1n);
    case "t": return BigInt(r.int(2 ** 32)) * BigInt(r.int(2 ** 32));
    case "d": return (r.next() - 0.5) * 10 ** r.int(300);
    case "s": return genString(r);
    case "o": return genPath(r);
    case "g": return signatureOf(genType(r, 3));
    case "v": {
      const inner = genType(r, depth + 2);
      return new Variant(signatureOf(inner), genValue(r, inner, depth + 1));
    }
    case "(": return t.children.map((c) => genValue(r, c, depth + 1));
    case "a": {
      const elem = t.children[0]!;
      const n = depth > 4 ? r.int(2) : r.int(4);
      if (elem.code === "y") return Uint8Array.from({ length: r.int(9) }, () => r.int(256));
      if (elem.code === "{") {
        const m = new Map<unknown, unknown>();
        for (let i = 0; i < n; i++) m.set(genValue(r, elem.children[0]!, depth + 1), genValue(r, elem.children[1]!, depth + 1));
        return m;
      }
      return Array.from({ length: n }, () => genValue(r, elem, depth + 1));
    }
  }
  throw new Error(`no generator for ${t.code}`);
}

function genMessage(r: Rng, serial: number): Message {
  const types = Array.from({ length: r.int(4) }, () => genType(r, 0));
  const signature = types.map(signatureOf).join("");
  const body = types.map((t) => genValue(r, t, 0));
  const kind = r.int(3);
  if (kind === 0) return { type: MessageType.SIGNAL, serial, sender: ":1.7", path: genPath(r), interface: "org.freedesktop.systemd1.Manager", member: "JobRemoved", signature, body };
  if (kind === 1) return { type: MessageType.METHOD_RETURN, serial, sender: ":1.7", destination: ":1.99", replySerial: 1 + r.int(1000), signature, body };
  return { type: MessageType.ERROR, serial, sender: "org.freedesktop.DBus", replySerial: 1 + r.int(1000), errorName: "org.freedesktop.DBus.Error.Failed", signature, body };
}

function mutate(r: Rng, original: Buffer): Buffer {
  let b = Buffer.from(original);
  const rounds = 1 + r.int(4);
  for (let k = 0; k < rounds; k++) {
    switch (r.int(7)) {
      case 0: b[r.int(b.length)] = r.int(256); break; // a random byte
      case 1: b[r.int(b.length)]! ^= 1 << r.int(8); break; // one bit
      case 2: { // a random u32 where a length might be
        const at = r.int(Math.max(1, b.length - 4)) & ~3;
        if (at + 4 <= b.length) b.writeUInt32LE(r.pick([0, 1, 0xff, 0xffff, 0x7fffffff, 0xffffffff, 64 * 1024 * 1024, r.int(2 ** 32)]), at);
        break;
      }
      case 3: b = b.subarray(0, r.int(b.length + 1)); break; // cut
      case 4: b = Buffer.concat([b, Buffer.from(Array.from({ length: 1 + r.int(16) }, () => r.int(256)))]); break; // grown
      case 5: { // a signature byte swapped for another type code
        const i = r.int(b.length);
        b[i] = r.pick([..."ybnqiuxtdsogvah(){}"].map((c) => c.charCodeAt(0)));
        break;
      }
      case 6: { // the header's lengths made consistent again, so the body is what gets read
        if (b.length >= 16) {
          const fields = b.readUInt32LE(12);
          const bodyAt = 16 + fields + ((8 - (fields % 8)) % 8);
          if (bodyAt <= b.length) b.writeUInt32LE(b.length - bodyAt, 4);
        }
        break;
      }
    }
  }
  return b;
}

/** Decodes, accepting a message or a WireError; anything else fails with what is needed to replay. */
function decodeOrRefuse(bytes: Buffer, what: string): Message | WireError {
  try {
    return decodeMessage(bytes);
  } catch (e) {
    if (e instanceof WireError) return e;
    const hex = bytes.subarray(0, 256).toString("hex");
    throw new Error(`${what}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n  replay: STAGEHAND_FUZZ_SEED=${SEED}\n  input (${bytes.length} bytes, first 256): ${hex}`);
  }
}

test(`fuzz (seed ${SEED}): valid messages round-trip; mutated and random ones end in a message or a WireError`, () => {
  const r = rng(SEED);
  const start = Date.now();
  let decoded = 0;
  let refused = 0;
  let i = 0;
  for (; i < CASES && Date.now() - start < BUDGET_MS; i++) {
    const m = genMessage(r, 1 + i);
    let bytes: Buffer;
    try {
      bytes = encodeMessage(m);
    } catch {
      continue; // the generator made something the writer refuses (e.g. a body over the caps)
    }
    // A valid message decodes, and decodes to the same bytes again.
    const back = decodeOrRefuse(bytes, `case ${i} (valid)`);
    if (back instanceof WireError) throw new Error(`case ${i}: a valid message was refused: ${back.message}\n  replay: STAGEHAND_FUZZ_SEED=${SEED}`);
    assert.ok(encodeMessage(back).equals(bytes), `case ${i}: re-encoding differs (seed ${SEED})`);
    for (let k = 0; k < 4; k++) {
      const got = decodeOrRefuse(mutate(r, bytes), `case ${i}.${k} (mutated)`);
      if (got instanceof WireError) refused++;
      else decoded++;
    }
    // Random bytes behind a plausible fixed header.
    const noise = Buffer.from(Array.from({ length: 16 + r.int(200) }, () => r.int(256)));
    noise.set([0x6c, 1 + r.int(4), 0, 1], 0);
    noise.writeUInt32LE(r.int(64), 12);
    const got = decodeOrRefuse(noise, `case ${i} (noise)`);
    if (got instanceof WireError) refused++;
    else decoded++;
  }
  assert.ok(i >= Math.min(CASES, 200), `only ${i} cases ran`);
  assert.ok(refused > 0 && decoded > 0, `mutations should both pass and fail sometimes (decoded ${decoded}, refused ${refused})`);
});

test(`fuzz (seed ${SEED}): a stream of good and mutated messages in random chunks never throws anything but a WireError`, () => {
  const r = rng(SEED ^ 0x9e3779b9);
  for (let round = 0; round < 60; round++) {
    const parts: Buffer[] = [];
    for (let k = 0; k < 8; k++) {
      try {
        const bytes = encodeMessage(genMessage(r, 1 + k));
        // Mutations that keep the frame (same length) exercise the per-message recovery.
        parts.push(r.int(3) === 0 ? (() => { const b = Buffer.from(bytes); for (let j = 0; j < 3; j++) b[16 + r.int(b.length - 16)] = r.int(256); return b; })() : bytes);
      } catch {
        /* skip */
      }
    }
    const stream = Buffer.concat(parts);
    const framer = new MessageFramer();
    let out = 0;
    let dropped = 0;
    try {
      for (let at = 0; at < stream.length;) {
        const n = 1 + r.int(300);
        out += framer.push(stream.subarray(at, at + n), () => dropped++).length;
        at += n;
      }
    } catch (e) {
      if (!(e instanceof WireError)) throw new Error(`round ${round}: ${(e as Error).name}: ${(e as Error).message}\n  replay: STAGEHAND_FUZZ_SEED=${SEED}`);
      continue; // the frame itself was broken: the connection would close here
    }
    assert.is(out + dropped, parts.length, `round ${round}: every framed message is either delivered or dropped (seed ${SEED})`);
  }
});

test.run();
