/**
 * The parts of systemd-logind's org.freedesktop.login1 a switch needs: who is logged in, to
 * reload their user managers.
 */
import { type BusConnection, QUICK_CALL_TIMEOUT_MS } from "../dbus/connection.ts";
import { toNumber } from "./units.ts";

const LOGIN1 = "org.freedesktop.login1";
const LOGIN1_PATH = "/org/freedesktop/login1";

/** A user with at least one session (or lingering). */
export interface LoginUser {
  uid: number;
  name: string;
  /** The user's object path, for userProperties. */
  path: string;
}

/** Properties of a login1 User object. */
export interface LoginUserProperties {
  gid: number;
  /** The user's XDG_RUNTIME_DIR, e.g. /run/user/1000. */
  runtimePath: string;
}

/** Manager.ListUsers. */
export async function listUsers(bus: BusConnection, timeoutMs?: number): Promise<LoginUser[]> {
  const [rows] = await bus.call(LOGIN1, LOGIN1_PATH, "org.freedesktop.login1.Manager", "ListUsers", "", [], { timeoutMs });
  if (!Array.isArray(rows)) return [];
  return rows.map((r) => {
    const [uid, name, path] = r as unknown[];
    return { uid: toNumber(uid), name: String(name), path: String(path) };
  });
}

/** GID and RuntimePath of a user listed by listUsers. */
export async function userProperties(bus: BusConnection, path: string, timeoutMs = QUICK_CALL_TIMEOUT_MS): Promise<LoginUserProperties> {
  const gid = await bus.getProperty(LOGIN1, path, "org.freedesktop.login1.User", "GID", { timeoutMs });
  const runtimePath = await bus.getProperty(LOGIN1, path, "org.freedesktop.login1.User", "RuntimePath", { timeoutMs });
  return { gid: toNumber(gid), runtimePath: String(runtimePath) };
}
