/**
 * A thin, promise-based D-Bus client over @particle/dbus-next's message layer.
 *
 * Only low-level messages are used (no introspection, no proxy objects): a switch talks to a few
 * well-known interfaces, and skipping introspection saves round trips. The adapter adds what the
 * library leaves out and a switch needs: per-call timeouts, pending calls that fail with a clear
 * error when the connection drops (the library would leave them hanging), and signal matches that
 * can be removed.
 */
import { Message, MessageFlag, MessageType, sessionBus, Variant } from "@particle/dbus-next";
import type { Message as DBusMessage, MessageBus } from "@particle/dbus-next";

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

interface Pending {
  reject(e: Error): void;
}

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

function matches(spec: MatchSpec, m: DBusMessage): boolean {
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

/** One connection to a bus. */
export class BusConnection {
  #bus: MessageBus;
  #pending = new Set<Pending>();
  #handlers = new Set<{ spec: MatchSpec; fn: (m: SignalMessage) => void }>();
  #disconnectHandlers: ((e: DBusDisconnectedError) => void)[] = [];
  #closed = false;
  #closeReason: DBusDisconnectedError | undefined;

  private constructor(readonly address: string, bus: MessageBus, readonly uniqueName: string) {
    this.#bus = bus;
    bus.on("message", (m: DBusMessage) => {
      if (m.type !== MessageType.SIGNAL) return;
      const sig: SignalMessage = { sender: m.sender, path: m.path, interface: m.interface, member: m.member, body: m.body ?? [] };
      for (const h of [...this.#handlers]) if (matches(h.spec, m)) h.fn(sig);
    });
    const conn = (bus as unknown as { _connection: NodeJS.EventEmitter })._connection;
    conn.on("end", () => this.#drop(new DBusDisconnectedError(`D-Bus connection to ${address} closed`)));
    bus.on("error", (e: Error) => this.#drop(new DBusDisconnectedError(`D-Bus connection to ${address} failed: ${e?.message ?? e}`)));
  }

  /** Opens a connection and completes the Hello handshake. */
  static connect(address: string, opts: ConnectOptions = {}): Promise<BusConnection> {
    const timeoutMs = opts.connectTimeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      let bus: MessageBus;
      try {
        bus = sessionBus({ busAddress: address });
      } catch (e) {
        reject(new DBusDisconnectedError(`cannot connect to D-Bus at ${address}: ${(e as Error).message}`));
        return;
      }
      const timer = setTimeout(() => {
        fail(new DBusTimeoutError(`connecting to D-Bus at ${address} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        bus.removeAllListeners();
        try { bus.disconnect(); } catch { /* already gone */ }
        reject(e instanceof DBusTimeoutError ? e : new DBusDisconnectedError(`cannot connect to D-Bus at ${address}: ${e?.message ?? e}`));
      };
      bus.once("error", fail);
      bus.once("connect", () => {
        clearTimeout(timer);
        bus.removeListener("error", fail);
        resolve(new BusConnection(address, bus, (bus as unknown as { name: string }).name));
      });
    });
  }

  /** Whether the connection is gone (closed by us or by the peer). */
  get closed(): boolean {
    return this.#closed;
  }

  #drop(reason: DBusDisconnectedError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    for (const p of [...this.#pending]) p.reject(reason);
    this.#pending.clear();
    for (const h of this.#disconnectHandlers) h(reason);
    try { this.#bus.disconnect(); } catch { /* already gone */ }
  }

  /** Calls a method; resolves to the reply body. */
  call(destination: string, path: string, iface: string, member: string, signature = "", body: unknown[] = [], opts: CallOptions = {}): Promise<unknown[]> {
    if (this.#closed) return Promise.reject(this.#closeReason ?? new DBusDisconnectedError(`D-Bus connection to ${this.address} closed`));
    const timeoutMs = opts.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const msg = new Message({ destination, path, interface: iface, member, signature, body, flags: opts.noAutoStart ? MessageFlag.NO_AUTO_START : undefined } as never);
    return new Promise<unknown[]>((resolve, reject) => {
      const what = `${iface}.${member} on ${destination} ${path}`;
      const pending: Pending = { reject: (e) => { clearTimeout(timer); reject(e); } };
      const timer = setTimeout(() => {
        this.#pending.delete(pending);
        reject(new DBusTimeoutError(`${what}: no reply after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.add(pending);
      this.#bus.call(msg).then(
        (reply) => {
          clearTimeout(timer);
          if (!this.#pending.delete(pending)) return;
          resolve((reply?.body ?? []) as unknown[]);
        },
        (e: { type?: string; text?: string; message?: string }) => {
          clearTimeout(timer);
          if (!this.#pending.delete(pending)) return;
          if (e?.type) reject(new DBusCallError(e.type, `${what}: ${e.text ?? e.message ?? e.type}`));
          else reject(new DBusDisconnectedError(`${what}: ${e?.message ?? String(e)}`));
        },
      );
    });
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
