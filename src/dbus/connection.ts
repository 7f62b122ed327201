/**
 * A promise-based D-Bus client: our own wire layer (wire.ts, message.ts, transport.ts) under the
 * small API a switch needs.
 *
 * Only plain messages are used (no introspection, no proxy objects): a switch talks to a few
 * well-known interfaces. What a switch needs and generic clients leave out: per-call timeouts,
 * pending calls that fail with a clear error when the connection drops, removable signal matches,
 * and speed on the hot path (thousands of pipelined property reads and signals during a reload),
 * which is why outgoing messages are written in one batch per tick.
 */
import { encodeMessage, MessageFlag, MessageFramer, MessageType, type Message } from "./message.ts";
import { openBus } from "./transport.ts";
import { Variant } from "./wire.ts";
import type { Socket } from "node:net";

export { Variant } from "./wire.ts";

/** The bus connection closed; every pending call rejects with this. */
export class DBusDisconnectedError extends Error {
  override name = "DBusDisconnectedError";
}

/** An error reply; `dbusName` is the D-Bus error name, e.g. `org.freedesktop.systemd1.NoSuchUnit`. */
export class DBusCallError extends Error {
  override name = "DBusCallError";
  constructor(readonly dbusName: string, message: string) {
    super(message);
  }
}

/** A call or connection attempt got no answer in time. */
export class DBusTimeoutError extends Error {
  override name = "DBusTimeoutError";
}

/** A received signal. */
export interface SignalMessage {
  sender: string;
  path: string;
  interface: string;
  member: string;
  body: unknown[];
}

/** A signal match; `remove()` drops both the handler and the bus-side match rule. */
export interface Subscription {
  remove(): Promise<void>;
}

/** Which signals a subscription receives; unset fields match anything. */
export interface MatchSpec {
  sender?: string;
  path?: string;
  interface?: string;
  member?: string;
  arg0?: string;
}

/** Options of one method call. */
export interface CallOptions {
  /** Default 25 s, sd-bus's default method timeout. */
  timeoutMs?: number;
  /** Do not let the bus start the destination service for this call. */
  noAutoStart?: boolean;
}

/** Options of a connection attempt. */
export interface ConnectOptions {
  /** Default 10 s. */
  connectTimeoutMs?: number;
}

/** The system bus address: `$DBUS_SYSTEM_BUS_ADDRESS` or the standard socket. */
export function systemBusAddress(): string {
  return process.env.DBUS_SYSTEM_BUS_ADDRESS || "unix:path=/run/dbus/system_bus_socket";
}

/** The address of a user's session bus, as systemd --user / dbus.socket create it. */
export function userBusAddress(uid: number): string {
  return `unix:path=/run/user/${uid}/bus`;
}

const DEFAULT_CALL_TIMEOUT_MS = 25_000;

/** A match rule string from a spec (values quoted per the D-Bus spec: ' is written as '\''). */
export function matchRule(spec: MatchSpec): string {
  const q = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
  const parts = ["type='signal'"];
  for (const key of ["sender", "path", "interface", "member", "arg0"] as const) {
    const v = spec[key];
    if (v !== undefined) parts.push(`${key}=${q(v)}`);
  }
  return parts.join(",");
}

function matches(spec: MatchSpec, m: Message): boolean {
  if (spec.path !== undefined && m.path !== spec.path) return false;
  if (spec.interface !== undefined && m.interface !== spec.interface) return false;
  if (spec.member !== undefined && m.member !== spec.member) return false;
  if (spec.arg0 !== undefined && m.body?.[0] !== spec.arg0) return false;
  // A well-known sender name arrives as the owner's unique name: the bus-side rule filters on it.
  if (spec.sender !== undefined && spec.sender.startsWith(":") && m.sender !== spec.sender) return false;
  return true;
}

/** Recursively replaces Variants by their values. */
export function unwrapVariant(v: unknown): unknown {
  if (v instanceof Variant) return unwrapVariant(v.value);
  return v;
}

interface PendingCall {
  what: string;
  resolve(body: unknown[]): void;
  reject(e: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** One connection to a bus. */
export class BusConnection {
  #socket: Socket;
  #framer = new MessageFramer();
  #serial = 1; // 1 was the Hello call
  #pending = new Map<number, PendingCall>();
  #outgoing: Buffer[] = [];
  #handlers = new Set<{ spec: MatchSpec; fn: (m: SignalMessage) => void }>();
  #disconnectHandlers: ((e: DBusDisconnectedError) => void)[] = [];
  #closed = false;
  #closeReason: DBusDisconnectedError | undefined;
  /** The name the bus gave us (set once Hello is answered). */
  uniqueName = "";

  private constructor(readonly address: string, socket: Socket) {
    this.#socket = socket;
    socket.on("data", (chunk: Buffer) => this.#receive(chunk));
    socket.on("close", () => this.#drop(new DBusDisconnectedError(`D-Bus connection to ${address} closed`)));
    socket.on("error", (e: Error) => this.#drop(new DBusDisconnectedError(`D-Bus connection to ${address} failed: ${e?.message ?? e}`)));
  }

  /** Opens a connection, authenticates, and completes the Hello handshake. */
  static async connect(address: string, opts: ConnectOptions = {}): Promise<BusConnection> {
    const timeoutMs = opts.connectTimeoutMs ?? 10_000;
    const hello = encodeMessage({
      type: MessageType.METHOD_CALL, serial: 1, destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
      interface: "org.freedesktop.DBus", member: "Hello",
    });
    let opened;
    try {
      opened = await openBus(address, hello, timeoutMs);
    } catch (e) {
      const msg = (e as Error)?.message ?? String(e);
      if (/^timed out/.test(msg)) throw new DBusTimeoutError(`connecting to D-Bus at ${address} ${msg}`);
      throw new DBusDisconnectedError(`cannot connect to D-Bus at ${address}: ${msg}`);
    }
    const conn = new BusConnection(address, opened.socket);
    const reply = conn.#expect(1, "org.freedesktop.DBus.Hello", timeoutMs);
    if (opened.leftover.length > 0) conn.#receive(opened.leftover);
    opened.socket.resume();
    try {
      const [name] = await reply;
      conn.uniqueName = String(name);
    } catch (e) {
      conn.close();
      if (e instanceof DBusTimeoutError) throw new DBusTimeoutError(`connecting to D-Bus at ${address} timed out after ${timeoutMs} ms`);
      throw new DBusDisconnectedError(`cannot connect to D-Bus at ${address}: ${(e as Error).message}`);
    }
    return conn;
  }

  /** Whether the connection is gone (closed by us or by the peer). */
  get closed(): boolean {
    return this.#closed;
  }

  #receive(chunk: Buffer): void {
    let messages: Message[];
    try {
      messages = this.#framer.push(chunk);
    } catch (e) {
      this.#drop(new DBusDisconnectedError(`D-Bus connection to ${this.address}: malformed message: ${(e as Error).message}`));
      return;
    }
    for (const m of messages) this.#dispatch(m);
  }

  #dispatch(m: Message): void {
    switch (m.type) {
      case MessageType.METHOD_RETURN:
      case MessageType.ERROR: {
        const p = m.replySerial === undefined ? undefined : this.#pending.get(m.replySerial);
        if (!p) return; // timed out meanwhile
        this.#pending.delete(m.replySerial!);
        clearTimeout(p.timer);
        if (m.type === MessageType.METHOD_RETURN) p.resolve(m.body ?? []);
        else {
          const text = typeof m.body?.[0] === "string" ? m.body[0] : m.errorName;
          p.reject(new DBusCallError(m.errorName ?? "org.freedesktop.DBus.Error.Failed", `${p.what}: ${text}`));
        }
        return;
      }
      case MessageType.SIGNAL: {
        const sig: SignalMessage = { sender: m.sender ?? "", path: m.path ?? "", interface: m.interface ?? "", member: m.member ?? "", body: m.body ?? [] };
        for (const h of [...this.#handlers]) if (matches(h.spec, m)) h.fn(sig);
        return;
      }
      case MessageType.METHOD_CALL:
        this.#answer(m);
    }
  }

  /** Calls to us: a bus peer may ping; everything else is unknown here. */
  #answer(m: Message): void {
    if ((m.flags ?? 0) & MessageFlag.NO_REPLY_EXPECTED) return;
    const reply: Message = m.interface === "org.freedesktop.DBus.Peer" && m.member === "Ping"
      ? { type: MessageType.METHOD_RETURN, serial: 0, replySerial: m.serial, destination: m.sender }
      : {
        type: MessageType.ERROR, serial: 0, replySerial: m.serial, destination: m.sender,
        errorName: "org.freedesktop.DBus.Error.UnknownMethod", signature: "s",
        body: [`${m.interface ?? ""}.${m.member ?? ""} is not handled by this client`],
      };
    reply.serial = this.#nextSerial();
    this.#send(encodeMessage(reply));
  }

  #nextSerial(): number {
    this.#serial = this.#serial >= 0xffffffff ? 1 : this.#serial + 1;
    return this.#serial;
  }

  /** Queues bytes; everything queued in one tick goes out in one write. */
  #send(bytes: Buffer): void {
    this.#outgoing.push(bytes);
    if (this.#outgoing.length > 1) return;
    queueMicrotask(() => {
      const batch = this.#outgoing.length === 1 ? this.#outgoing[0]! : Buffer.concat(this.#outgoing);
      this.#outgoing = [];
      if (!this.#closed) this.#socket.write(batch);
    });
  }

  #expect(serial: number, what: string, timeoutMs: number): Promise<unknown[]> {
    return new Promise<unknown[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(serial);
        reject(new DBusTimeoutError(`${what}: no reply after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(serial, { what, resolve, reject, timer });
    });
  }

  #drop(reason: DBusDisconnectedError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(new DBusDisconnectedError(`${p.what}: ${reason.message}`));
    }
    for (const h of this.#disconnectHandlers) h(reason);
    this.#socket.destroy();
  }

  /** Calls a method; resolves to the reply body. */
  call(destination: string, path: string, iface: string, member: string, signature = "", body: unknown[] = [], opts: CallOptions = {}): Promise<unknown[]> {
    if (this.#closed) return Promise.reject(this.#closeReason ?? new DBusDisconnectedError(`D-Bus connection to ${this.address} closed`));
    const serial = this.#nextSerial();
    let bytes: Buffer;
    try {
      bytes = encodeMessage({
        type: MessageType.METHOD_CALL, serial, flags: opts.noAutoStart ? MessageFlag.NO_AUTO_START : 0,
        destination, path, interface: iface, member, signature, body,
      });
    } catch (e) {
      return Promise.reject(e);
    }
    const reply = this.#expect(serial, `${iface}.${member} on ${destination} ${path}`, opts.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS);
    this.#send(bytes);
    return reply;
  }

  /** Reads one property (org.freedesktop.DBus.Properties.Get), Variant unwrapped. */
  async getProperty<T = unknown>(destination: string, path: string, iface: string, name: string, opts?: CallOptions): Promise<T> {
    const [v] = await this.call(destination, path, "org.freedesktop.DBus.Properties", "Get", "ss", [iface, name], opts);
    return unwrapVariant(v) as T;
  }

  /** Reads all properties of an interface, Variants unwrapped. */
  async getAllProperties(destination: string, path: string, iface: string, opts?: CallOptions): Promise<Record<string, unknown>> {
    const [dict] = await this.call(destination, path, "org.freedesktop.DBus.Properties", "GetAll", "s", [iface], opts);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries((dict ?? {}) as Record<string, unknown>)) out[k] = unwrapVariant(v);
    return out;
  }

  /**
   * Receives signals matching `spec`. The handler is installed before the bus-side match rule,
   * so no signal sent after this resolves can be missed.
   */
  async subscribe(spec: MatchSpec, fn: (m: SignalMessage) => void): Promise<Subscription> {
    const entry = { spec, fn };
    this.#handlers.add(entry);
    const rule = matchRule(spec);
    try {
      await this.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s", [rule]);
    } catch (e) {
      this.#handlers.delete(entry);
      throw e;
    }
    return {
      remove: async () => {
        if (!this.#handlers.delete(entry) || this.#closed) return;
        await this.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "RemoveMatch", "s", [rule]).catch(() => {});
      },
    };
  }

  /** Runs `fn` once when the connection drops (immediately if it already has). */
  onDisconnect(fn: (e: DBusDisconnectedError) => void): void {
    if (this.#closed) fn(this.#closeReason!);
    else this.#disconnectHandlers.push(fn);
  }

  /** Closes the connection; pending calls reject with DBusDisconnectedError. */
  close(): void {
    this.#drop(new DBusDisconnectedError(`D-Bus connection to ${this.address} closed by us`));
  }
}

/** Connects to the system bus. */
export function connectSystemBus(opts?: ConnectOptions): Promise<BusConnection> {
  return BusConnection.connect(systemBusAddress(), opts);
}

/** Connects to a bus by address, e.g. `userBusAddress(1000)`. */
export function connectBus(address: string, opts?: ConnectOptions): Promise<BusConnection> {
  return BusConnection.connect(address, opts);
}
