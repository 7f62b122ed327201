/**
 * A bare bus peer for tests: it can own names, answer method calls and send signals (broadcast or
 * unicast to one unique name) — what a fake systemd or a spoofing attacker needs, and what the
 * production client deliberately cannot do. Also runnable as a script (see the bottom).
 */
import { encodeMessage, MessageFramer, MessageType, type Message } from "../../../src/dbus/message.ts";
import { openBus } from "../../../src/dbus/transport.ts";
import type { Socket } from "node:net";

const DRIVER = ["org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus"] as const;

/** What a call handler answers: a body (with its signature) or an error name. */
export type Answer = { signature?: string; body?: unknown[] } | { error: string };

export class RawPeer {
  uniqueName = "";
  #socket: Socket;
  #serial = 1;
  #framer = new MessageFramer();
  #pending = new Map<number, (m: Message) => void>();
  #handler: (m: Message) => Answer | undefined = () => undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on("data", (c: Buffer) => this.#receive(c));
    socket.on("error", () => {});
  }

  static async connect(address: string): Promise<RawPeer> {
    const hello = encodeMessage({ type: MessageType.METHOD_CALL, serial: 1, destination: DRIVER[0], path: DRIVER[1], interface: DRIVER[2], member: "Hello" });
    const opened = await openBus(address, hello, 10_000);
    const peer = new RawPeer(opened.socket);
    const reply = new Promise<Message>((r) => peer.#pending.set(1, r));
    if (opened.leftover.length) peer.#receive(opened.leftover);
    opened.socket.resume();
    peer.uniqueName = String((await reply).body?.[0]);
    return peer;
  }

  #receive(chunk: Buffer): void {
    for (const m of this.#framer.push(chunk)) {
      if (m.type === MessageType.METHOD_CALL) {
        const a = this.#handler(m) ?? { error: "org.freedesktop.DBus.Error.UnknownMethod" };
        const reply: Message = "error" in a
          ? { type: MessageType.ERROR, serial: ++this.#serial, replySerial: m.serial, destination: m.sender, errorName: a.error }
          : { type: MessageType.METHOD_RETURN, serial: ++this.#serial, replySerial: m.serial, destination: m.sender, signature: a.signature, body: a.body };
        this.#socket.write(encodeMessage(reply));
      } else if (m.replySerial !== undefined) {
        const p = this.#pending.get(m.replySerial);
        this.#pending.delete(m.replySerial);
        p?.(m);
      }
    }
  }

  /** Answers calls to this peer with `fn` (unknown methods get an error). */
  serve(fn: (m: Message) => Answer | undefined): void {
    this.#handler = fn;
  }

  /** Calls a method; resolves to the reply or error message. */
  call(destination: string, path: string, iface: string, member: string, signature = "", body: unknown[] = []): Promise<Message> {
    const serial = ++this.#serial;
    const reply = new Promise<Message>((r) => this.#pending.set(serial, r));
    this.#socket.write(encodeMessage({ type: MessageType.METHOD_CALL, serial, destination, path, interface: iface, member, signature, body }));
    return reply;
  }

  /** A round trip to the bus driver: everything this peer sent before has been routed by the daemon. */
  async sync(): Promise<void> {
    await this.call(...DRIVER, "GetId");
  }

  async requestName(name: string): Promise<void> {
    const r = await this.call(...DRIVER, "RequestName", "su", [name, 4 /* DO_NOT_QUEUE */]);
    if (r.type !== MessageType.METHOD_RETURN || r.body?.[0] !== 1) throw new Error(`could not own ${name}: ${r.errorName ?? r.body?.[0]}`);
  }

  /** Sends a signal; to one peer when `destination` is given (unicast), else to all matching. */
  emit(destination: string | undefined, path: string, iface: string, member: string, signature: string, body: unknown[]): void {
    this.#socket.write(encodeMessage({ type: MessageType.SIGNAL, serial: ++this.#serial, destination, path, interface: iface, member, signature, body }));
  }

  close(): void {
    this.#socket.destroy();
  }
}

/**
 * As a script, the attacker: `bun raw-peer.ts ADDRESS TARGET jobremoved ID UNIT RESULT` or
 * `... TARGET reloading BOOL` sends that systemd Manager signal to TARGET's unique name, makes
 * one round trip to the bus (so the daemon has routed it) and prints its own unique name.
 */
if (import.meta.main) {
  const [address, target, kind, ...args] = process.argv.slice(2);
  const peer = await RawPeer.connect(address!);
  const M = ["/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager"] as const;
  if (kind === "jobremoved") peer.emit(target, ...M, "JobRemoved", "uoss", [Number(args[0]), `/org/freedesktop/systemd1/job/${args[0]}`, args[1], args[2]]);
  else if (kind === "reloading") peer.emit(target, ...M, "Reloading", "b", [args[0] === "true"]);
  else throw new Error(`unknown signal kind ${kind}`);
  await peer.sync();
  console.log(peer.uniqueName);
  peer.close();
}
