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
import { inputDeadline, type Deadline } from "./deadline.ts";
import { encodeMessage, MalformedMessageError, MessageFlag, MessageFramer, MessageType, type Message } from "./message.ts";
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

/**
 * The peer sent a message that breaks the D-Bus protocol (see wire.ts for what is checked). A
 * malformed reply fails the call it answers with this; the connection goes on.
 */
export class DBusProtocolError extends Error {
  override name = "DBusProtocolError";
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

/** The timeout of a short question (a property, a name's owner) that a responsive peer answers at once. */
export const QUICK_CALL_TIMEOUT_MS = 5_000;

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

/** The bus driver's name: the sender of its replies and signals, which no peer can take. */
const BUS_DRIVER = "org.freedesktop.DBus";
const BUS_PATH = "/org/freedesktop/DBus";

function matchesContent(spec: MatchSpec, m: Message): boolean {
  if (spec.path !== undefined && m.path !== spec.path) return false;
  if (spec.interface !== undefined && m.interface !== spec.interface) return false;
  if (spec.member !== undefined && m.member !== spec.member) return false;
  if (spec.arg0 !== undefined && m.body?.[0] !== spec.arg0) return false;
  return true;
}

/** Recursively replaces Variants by their values. */
export function unwrapVariant(v: unknown): unknown {
  if (v instanceof Variant) return unwrapVariant(v.value);
  return v;
}

interface PendingCall {
  what: string;
  /** Where the call went: its reply counts only from there (or an error from the bus driver). */
  destination: string;
  /** Runs as the reply is dispatched, before any later message: for state that must be in order. */
  onReply?: (m: Message) => void;
  resolve(body: unknown[]): void;
  reject(e: Error): void;
  deadline: Deadline;
}

/** What is known of a well-known name's owner; `owner` undefined while it has none. */
interface NameWatch {
  owner: string | undefined;
  /** Settles once GetNameOwner has answered. */
  ready: Promise<void>;
}

/**
 * One connection to a bus.
 *
 * The bus daemon stamps every message with its sender's unique name, which no peer can forge, but
 * any peer may send a signal to our unique name (unicast signals bypass match rules). So trust is
 * by sender: a signal matched on a well-known sender (`org.freedesktop.systemd1`) is taken only
 * from the unique name that currently owns it (GetNameOwner, then NameOwnerChanged from the bus
 * driver), and a reply only from the peer its call went to.
 */
export class BusConnection {
  #socket: Socket;
  #framer = new MessageFramer();
  #serial = 1; // 1 was the Hello call
  #pending = new Map<number, PendingCall>();
  #outgoing: Buffer[] = [];
  #handlers = new Set<{ spec: MatchSpec; fn: (m: SignalMessage) => void }>();
  /** Owners of the well-known names we call or take signals from (a handful: systemd1, login1). */
  #names = new Map<string, NameWatch>();
  #disconnectHandlers: ((e: DBusDisconnectedError) => void)[] = [];
  #closed = false;
  /** Chunks of input read so far (deadlines wait for input that is still being read). */
  #chunksRead = 0;
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

  /**
   * A deadline for something this connection's input brings (a reply, a signal): it expires only
   * once the input that arrived in time has been read, also after the process was frozen.
   */
  deadline(ms: number, expire: () => void): Deadline {
    return inputDeadline(ms, () => this.#chunksRead, expire);
  }

  #receive(chunk: Buffer): void {
    this.#chunksRead++;
    let messages: Message[];
    try {
      messages = this.#framer.push(chunk, (e) => this.#malformed(e));
    } catch (e) {
      // The framing itself is broken: nothing after this point can be read.
      const reason = new DBusDisconnectedError(`D-Bus connection to ${this.address}: malformed message: ${(e as Error).message}`, { cause: e });
      this.#drop(reason);
      return;
    }
    for (const m of messages) {
      if (this.#closed) return;
      this.#dispatch(m);
    }
  }

  /** A framed but malformed message is dropped; if it is a reply we await, that call fails. */
  #malformed(e: MalformedMessageError): void {
    const h = e.header;
    if (!h || (h.type !== MessageType.METHOD_RETURN && h.type !== MessageType.ERROR)) return;
    const p = h.replySerial === undefined ? undefined : this.#pending.get(h.replySerial);
    if (!p || !this.#fromCallee(p, h)) return;
    this.#pending.delete(h.replySerial!);
    p.deadline.cancel();
    p.reject(new DBusProtocolError(`${p.what}: malformed reply: ${e.message}`, { cause: e }));
  }

  /** Whether a reply comes from where its call went. */
  #fromCallee(p: PendingCall, m: Message): boolean {
    if (m.sender === BUS_DRIVER) return p.destination === BUS_DRIVER || m.type === MessageType.ERROR;
    if (m.sender === undefined) return false;
    if (p.destination.startsWith(":")) return m.sender === p.destination;
    return m.sender === this.#names.get(p.destination)?.owner;
  }

  /** Whether a signal's sender is the one a match names (the current owner, for a well-known name). */
  #fromSender(spec: MatchSpec, m: Message): boolean {
    if (spec.sender === undefined) return true;
    if (spec.sender.startsWith(":") || spec.sender === BUS_DRIVER) return m.sender === spec.sender;
    const owner = this.#names.get(spec.sender)?.owner;
    return owner !== undefined && m.sender === owner;
  }

  #dispatch(m: Message): void {
    switch (m.type) {
      case MessageType.METHOD_RETURN:
      case MessageType.ERROR: {
        const p = m.replySerial === undefined ? undefined : this.#pending.get(m.replySerial);
        if (!p) return; // timed out meanwhile, or never ours
        if (!this.#fromCallee(p, m)) return; // not from the peer the call went to: not its reply
        this.#pending.delete(m.replySerial!);
        p.deadline.cancel();
        p.onReply?.(m);
        if (m.type === MessageType.METHOD_RETURN) p.resolve(m.body ?? []);
        else {
          const text = typeof m.body?.[0] === "string" ? m.body[0] : m.errorName;
          p.reject(new DBusCallError(m.errorName ?? "org.freedesktop.DBus.Error.Failed", `${p.what}: ${text}`));
        }
        return;
      }
      case MessageType.SIGNAL: {
        if (m.sender === BUS_DRIVER && m.member === "NameOwnerChanged" && m.interface === BUS_DRIVER && m.path === BUS_PATH) this.#ownerChanged(m.body ?? []);
        const sig: SignalMessage = { sender: m.sender ?? "", path: m.path ?? "", interface: m.interface ?? "", member: m.member ?? "", body: m.body ?? [] };
        for (const h of [...this.#handlers]) if (matchesContent(h.spec, m) && this.#fromSender(h.spec, m)) h.fn(sig);
        return;
      }
      case MessageType.METHOD_CALL:
        this.#answer(m);
    }
  }

  #ownerChanged([name, , newOwner]: unknown[]): void {
    const w = typeof name === "string" ? this.#names.get(name) : undefined;
    if (w) w.owner = typeof newOwner === "string" && newOwner !== "" ? newOwner : undefined;
  }

  /**
   * Starts following the owner of a well-known name: a match for NameOwnerChanged, then
   * GetNameOwner, both queued ahead of whatever is sent next. Their replies are applied as they
   * are dispatched, in stream order with the signals, so a later call's reply from the owner is
   * always judged by an up-to-date owner.
   */
  #watch(name: string): NameWatch {
    let w = this.#names.get(name);
    if (w) return w;
    const rule = matchRule({ sender: BUS_DRIVER, path: BUS_PATH, interface: BUS_DRIVER, member: "NameOwnerChanged", arg0: name });
    const added = this.#callRaw(BUS_DRIVER, BUS_PATH, BUS_DRIVER, "AddMatch", "s", [rule], {});
    const entry: NameWatch = { owner: undefined, ready: Promise.resolve() };
    const owner = this.#callRaw(BUS_DRIVER, BUS_PATH, BUS_DRIVER, "GetNameOwner", "s", [name], {}, (m) => {
      entry.owner = m.type === MessageType.METHOD_RETURN && typeof m.body?.[0] === "string" ? m.body[0] : undefined;
    });
    // Never rejects (nothing may go unhandled): without the match, the owner is still read, and a
    // stale owner only ever makes us drop messages, never accept them.
    entry.ready = Promise.all([added.catch(() => undefined), owner.catch(() => undefined)]).then(() => {});
    this.#names.set(name, entry);
    return entry;
  }

  /** The unique name that owns a well-known name, as far as this connection knows (after a call or subscribe). */
  nameOwner(name: string): string | undefined {
    return this.#names.get(name)?.owner;
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

  #expect(serial: number, what: string, timeoutMs: number, destination = BUS_DRIVER, onReply?: (m: Message) => void): Promise<unknown[]> {
    return new Promise<unknown[]>((resolve, reject) => {
      const deadline = this.deadline(timeoutMs, () => {
        this.#pending.delete(serial);
        reject(new DBusTimeoutError(`${what}: no reply after ${timeoutMs} ms`));
      });
      this.#pending.set(serial, { what, destination, onReply, resolve, reject, deadline });
    });
  }

  #drop(reason: DBusDisconnectedError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) {
      p.deadline.cancel();
      p.reject(new DBusDisconnectedError(`${p.what}: ${reason.message}`));
    }
    for (const h of this.#disconnectHandlers) h(reason);
    this.#socket.destroy();
  }

  /**
   * Calls a method; resolves to the reply body. The reply is taken only from the peer the call
   * went to: for a well-known destination, its owner (followed from the first call on).
   */
  call(destination: string, path: string, iface: string, member: string, signature = "", body: unknown[] = [], opts: CallOptions = {}): Promise<unknown[]> {
    if (this.#closed) return Promise.reject(this.#closeReason ?? new DBusDisconnectedError(`D-Bus connection to ${this.address} closed`));
    if (destination !== BUS_DRIVER && !destination.startsWith(":")) this.#watch(destination);
    return this.#callRaw(destination, path, iface, member, signature, body, opts);
  }

  #callRaw(destination: string, path: string, iface: string, member: string, signature: string, body: unknown[], opts: CallOptions, onReply?: (m: Message) => void): Promise<unknown[]> {
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
    const reply = this.#expect(serial, `${iface}.${member} on ${destination} ${path}`, opts.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS, destination, onReply);
    this.#send(bytes);
    return reply;
  }

  /** Reads one property (org.freedesktop.DBus.Properties.Get), Variant unwrapped. */
  async getProperty<T = unknown>(destination: string, path: string, iface: string, name: string, opts?: CallOptions): Promise<T> {
    const [v] = await this.call(destination, path, "org.freedesktop.DBus.Properties", "Get", "ss", [iface, name], opts);
    return unwrapVariant(v) as T;
  }

  /** Reads all properties of an interface, Variants unwrapped, as an object without a prototype. */
  async getAllProperties(destination: string, path: string, iface: string, opts?: CallOptions): Promise<Record<string, unknown>> {
    const [dict] = await this.call(destination, path, "org.freedesktop.DBus.Properties", "GetAll", "s", [iface], opts);
    // Property names are wire data: they go into an object without a prototype.
    const out: Record<string, unknown> = Object.create(null);
    if (dict instanceof Map) for (const [k, v] of dict) out[String(k)] = unwrapVariant(v);
    return out;
  }

  /**
   * Receives signals matching `spec`. The handler is installed before the bus-side match rule,
   * so no signal sent after this resolves can be missed. A well-known `sender` is followed to its
   * current owner, and signals from anyone else (unicast ones included) are not delivered.
   */
  async subscribe(spec: MatchSpec, fn: (m: SignalMessage) => void): Promise<Subscription> {
    const entry = { spec, fn };
    this.#handlers.add(entry);
    const rule = matchRule(spec);
    try {
      const watch = spec.sender !== undefined && spec.sender !== BUS_DRIVER && !spec.sender.startsWith(":") ? this.#watch(spec.sender) : undefined;
      await this.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s", [rule]);
      await watch?.ready;
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
