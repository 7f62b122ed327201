/**
 * Applies a plan: each changed file replaced atomically (temp file, fsync, rename), an existing
 * file's mode and owner kept, nothing written when nothing changed; then home directories and nscd.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, statSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { writeFileAtomic } from "../fs/atomic.ts";
import { parseGroup } from "./group.ts";
import { readDatabases } from "./load.ts";
import { FILES, type UsersPlanData } from "./plan.ts";

/** The files changed under our feet between planning and applying. */
export class ConcurrentChangeError extends Error {
  override name = "ConcurrentChangeError";
}

/** Replaces the changed files under `root`, in the plan's write order. */
export function writeDatabases(root: string, plan: UsersPlanData): void {
  const now = readDatabases(root);
  for (const k of Object.keys(FILES) as (keyof typeof FILES)[]) {
    if (now[k] !== plan.current[k]) throw new ConcurrentChangeError(`/${FILES[k]} changed since the users plan was made; nothing written`);
  }
  for (const k of plan.changed) {
    const path = join(root, FILES[k]);
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    let mode = 0o644;
    let uid: number | undefined = 0;
    let gid: number | undefined = 0;
    try {
      const st = statSync(path);
      mode = st.mode & 0o7777;
      uid = st.uid;
      gid = st.gid;
    } catch {
      if (k === "shadow") {
        // NixOS: 0640 root:shadow, readable by the shadow group (unix_chkpwd, etc.).
        mode = 0o640;
        gid = parseGroup(plan.next.group).find((g) => g.name === "shadow")?.gid ?? 0;
      }
    }
    if (process.geteuid?.() !== 0) uid = gid = undefined;
    writeFileAtomic(path, plan.next[k], { mode, uid, gid });
  }
}

/** Creates each home that is missing, then gives it the declared owner and mode. */
export function ensureHomes(root: string, plan: UsersPlanData): void {
  for (const h of plan.homes) {
    const path = join(root, h.path);
    if (!existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      mkdirSync(path, { mode: h.mode });
    }
    const st = statSync(path);
    if (st.uid !== h.uid || st.gid !== h.gid) chownSync(path, h.uid, h.gid);
    if ((st.mode & 0o7777) !== h.mode) chmodSync(path, h.mode);
  }
}

/** Tells a running nscd to forget cached passwd/group entries (only for the real root). */
export function invalidateNscd(root: string, plan: UsersPlanData, env: Record<string, string | undefined>): void {
  if (root !== "/") return;
  const nscd = (env.PATH ?? "").split(delimiter).map((d) => join(d, "nscd")).find((p) => existsSync(p));
  if (!nscd) return;
  for (const [key, db] of [["group", "group"], ["passwd", "passwd"]] as const) {
    if (!plan.changed.includes(key)) continue;
    // Bun.spawnSync, not node:child_process: that module costs milliseconds to load on every run.
    try {
      Bun.spawnSync([nscd, "--invalidate", db], { stdio: ["ignore", "ignore", "ignore"] });
    } catch {
      // Best effort, as before: an nscd that cannot be run has no cache to invalidate.
    }
  }
}
