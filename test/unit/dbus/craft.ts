/**
 * Crafting D-Bus messages byte by byte for the hostile-input tests: header fields of any type,
 * any body bytes, and a minimal fake bus (SASL, Hello) that sends them to a real BusConnection.
 */
import { createServer, type Server, type Socket } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { encodeMessage, MessageFramer, MessageType, type Message } from "../../../src/dbus/message.ts";
import { Variant, Writer } from "../../../src/dbus/wire.ts";

/** One header field: its code, the signature of its variant, its value. */
export type Field = [code: number, signature: string, value: unknown];

/** The usual fields of a signal from systemd's Manager, with `signature` when given. */
export function signalFields(signature?: string, sender = ":1.1"): Field[] {
  const f: Field[] = [[1, "o", "/org/freedesktop/systemd1"], [2, "s", "org.freedesktop.systemd1.Manager"], [3, "s", "JobRemoved"], [7, "s", sender]];
  if (signature !== undefined) f.push([8, "g", signature]);
  return f;
}

/**
 * A little-endian message: fixed header, `fields` written as given (no checks), then `body`
 * (raw bytes, or values written by the signature field's type).
 */
export function craft(type: number, fields: Field[], body: Buffer | unknown[] = Buffer.alloc(0), serial = 5): Buffer {
  const w = new Writer(256);
  w.u8(0x6c);
  w.u8(type);
  w.u8(0);
  w.u8(1);
  w.u32(0);
  w.u32(serial);
  w.u32(0);
  w.align(8);
  const start = w.length;
  for (const [code, sig, value] of fields) {
    w.align(8);
    w.u8(code);
    w.value({ code: "v", children: [] }, new Variant(sig, value));
  }
  w.patchU32(12, w.length - start);
  w.align(8);
  const head = Buffer.from(w.bytes());
  let bodyBytes: Buffer;
  if (Buffer.isBuffer(body)) bodyBytes = body;
  else {
    const sig = fields.find((f) => f[0] === 8)?.[2] as string;
    const bw = new Writer(64);
    bw.write(sig, body);
    bodyBytes = Buffer.from(bw.bytes());
  }
  head.writeUInt32LE(bodyBytes.length, 4);
  return Buffer.concat([head, bodyBytes]);
}

/** A body of `depth` variants nested in each other around one byte (signature "v"). */
export function nestedVariants(depth: number): Buffer {
  const b = Buffer.alloc(depth * 3 + 4);
  for (let i = 0; i < depth; i++) b.set([1, 0x76, 0], i * 3);
  b.set([1, 0x79, 0, 42], depth * 3);
  return b;
}

/** A fake bus: authenticates a client, answers Hello with `:1.99`, then lets the test send bytes. */
export class FakeBus {
  readonly dir = mkdtempSync("/tmp/stagehand-fakebus-");
  readonly address = `unix:path=${join(this.dir, "bus")}`;
  readonly received: Message[] = [];
  #server: Server;
  #client: Socket | undefined;
  #connected: Promise<void>;

  constructor() {
    let ready!: () => void;
    this.#connected = new Promise((r) => (ready = r));
    this.#server = createServer((sock) => {
      this.#client = sock;
      let stage: "auth" | "begin" | "messages" = "auth";
      let pending = Buffer.alloc(0);
      const framer = new MessageFramer();
      sock.on("error", () => {});
      sock.on("data", (chunk: Buffer) => {
        if (stage !== "messages") {
          pending = Buffer.concat([pending, chunk]);
          if (stage === "auth") {
            const eol = pending.indexOf("\r\n");
            if (eol < 0) return;
            sock.write("OK 0123456789abcdef0123456789abcdef\r\n");
            pending = pending.subarray(eol + 2);
            stage = "begin";
          }
          const at = pending.indexOf("BEGIN\r\n");
          if (at < 0) return;
          stage = "messages";
          chunk = pending.subarray(at + 7);
        }
        for (const m of framer.push(chunk)) {
          this.received.push(m);
          if (m.member === "Hello") {
            sock.write(encodeMessage({ type: MessageType.METHOD_RETURN, serial: 1, replySerial: m.serial, sender: "org.freedesktop.DBus", destination: ":1.99", signature: "s", body: [":1.99"] }));
            ready();
          }
        }
      });
    });
    this.#server.listen(join(this.dir, "bus"));
  }

  /** Resolves once a client has said Hello. */
  connected(): Promise<void> {
    return this.#connected;
  }

  /** Sends raw bytes to the client. */
  send(bytes: Buffer): void {
    this.#client!.write(bytes);
  }

  /** Resolves once the client sent a message matching `pred` (a call to answer); a guard ends the wait after 20 s. */
  async waitFor(pred: (m: Message) => boolean): Promise<Message> {
    for (let i = 0; i < 4000; i++) {
      const m = this.received.find(pred);
      if (m) return m;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error("the client never sent the expected message");
  }

  close(): void {
    this.#client?.destroy();
    this.#server.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
