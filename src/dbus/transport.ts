/**
 * Opening a bus: the address, the Unix socket, and SASL `EXTERNAL` authentication (the kernel
 * vouches for our UID), after which the socket carries D-Bus messages.
 */
import { connect, type Socket } from "node:net";
import { inputDeadline } from "./deadline.ts";

/** A Unix socket address parsed from a D-Bus address string. */
export interface UnixAddress {
  /** The socket path; an abstract socket's name starts with a nul byte. */
  path: string;
}

/**
 * The first usable entry of a D-Bus address (`unix:path=...` or `unix:abstract=...`; entries are
 * separated by `;`, values %-escaped). Throws when none is usable.
 */
export function parseAddress(address: string): UnixAddress {
  for (const entry of address.split(";")) {
    const colon = entry.indexOf(":");
    if (colon < 0 || entry.slice(0, colon) !== "unix") continue;
    const params = new Map<string, string>();
    for (const kv of entry.slice(colon + 1).split(",")) {
      const eq = kv.indexOf("=");
      if (eq > 0) params.set(kv.slice(0, eq), decodeURIComponent(kv.slice(eq + 1)));
    }
    const path = params.get("path");
    if (path) return { path };
    const abstract = params.get("abstract");
    if (abstract) return { path: `\0${abstract}` };
  }
  throw new Error(`no supported transport in D-Bus address '${address}' (unix:path= or unix:abstract=)`);
}

/** The SASL line that authenticates us as the process's UID. */
export function authExternalLine(uid: number): string {
  return `AUTH EXTERNAL ${Buffer.from(String(uid), "ascii").toString("hex")}\r\n`;
}

/** An authenticated socket, and any bytes that arrived after the server's `OK` line. */
export interface OpenedBus {
  socket: Socket;
  leftover: Buffer;
}

/**
 * Connects and authenticates. `BEGIN` is sent with `first` (the Hello call), saving a round trip.
 * Rejects with the reason on a refused connection, a rejected authentication or a timeout.
 */
export function openBus(address: string, first: Buffer, timeoutMs: number): Promise<OpenedBus> {
  return new Promise((resolve, reject) => {
    let target: UnixAddress;
    try {
      target = parseAddress(address);
    } catch (e) {
      reject(e);
      return;
    }
    const socket = connect({ path: target.path });
    let received = Buffer.alloc(0);
    let settled = false;
    let events = 0; // what the deadline waits to have read (see deadline.ts)
    const finish = (e?: Error, leftover?: Buffer) => {
      if (settled) return;
      settled = true;
      deadline.cancel();
      socket.removeListener("data", onData);
      socket.removeListener("error", onError);
      socket.removeListener("close", onClose);
      if (e) {
        socket.destroy();
        reject(e);
      } else {
        socket.pause(); // no message may be dropped before the connection attaches its reader
        resolve({ socket, leftover: leftover ?? Buffer.alloc(0) });
      }
    };
    const deadline = inputDeadline(timeoutMs, () => events, () => finish(new Error(`timed out after ${timeoutMs} ms`)));
    const onError = (e: Error) => finish(e);
    const onClose = () => finish(new Error("the bus closed the connection during authentication"));
    const onData = (chunk: Buffer) => {
      events++;
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf("\r\n");
      if (end < 0) {
        if (received.length > 4096) finish(new Error("over-long authentication reply from the bus"));
        return;
      }
      const line = received.subarray(0, end).toString("latin1");
      if (line.startsWith("OK ")) {
        socket.write(Buffer.concat([Buffer.from("BEGIN\r\n", "latin1"), first]));
        finish(undefined, received.subarray(end + 2));
      } else {
        finish(new Error(`the bus refused authentication: ${line}`));
      }
    };
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("close", onClose);
    socket.on("connect", () => {
      events++;
      const uid = process.getuid?.() ?? 0;
      socket.write(Buffer.concat([Buffer.from([0]), Buffer.from(authExternalLine(uid), "latin1")]));
    });
  });
}
