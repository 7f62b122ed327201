/**
 * Gathers a planner input from two generations on disk, for `stagehand plan OLD NEW`: their
 * unit directories, fstabs, and the systemd re-exec inputs. Only reads.
 */
import { realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { MAX_BYTES, readRegularFileOptional } from "../fs/read.ts";
import { diskUnitDirectory, UnitDirectoryError, type SharedFileStates, type UnitDirectory } from "../units/dir.ts";
import type { ActiveUnit, PlanInput } from "./plan/index.ts";

/**
 * A generation's unit directory; missing, looping or not a directory is an error naming it and saying
 * which. `sharedStates` is shared with the other generation's (see SharedFileStates).
 */
export function generationUnitDirectory(toplevel: string, opts: { sharedStates?: SharedFileStates } = {}): UnitDirectory {
  const dir = join(toplevel, "etc/systemd/system");
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") throw new UnitDirectoryError(dir, "no etc/systemd/system in this generation");
    if (code === "ELOOP") throw new UnitDirectoryError(dir, "symlink loop (ELOOP): the unit directory cannot be resolved");
    throw new UnitDirectoryError(dir, `cannot use the unit directory: ${code ?? (e as Error).message}`);
  }
  if (!st.isDirectory()) throw new UnitDirectoryError(dir, "not a directory");
  return diskUnitDirectory(dir, opts);
}

/** realpath, or "/unknown" as ng uses when a path does not resolve. */
export function canonicalOrUnknown(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return "/unknown";
  }
}

/** A generation's etc/fstab: a bounded read of a regular file; missing is undefined. */
export function readFstab(p: string): string | undefined {
  const bytes = readRegularFileOptional(p, { maxBytes: MAX_BYTES.fstab, what: "fstab" });
  return bytes === undefined ? undefined : bytes.toString("utf8");
}

/**
 * Parses an `--active` file: either `{ "unit": { "activeState", "subState", "fragmentPath"? } }`
 * or a list of `{ "name", "activeState", "subState", "fragmentPath"? }`.
 */
export function parseActiveFile(text: string, path: string): Record<string, ActiveUnit> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not JSON: ${(e as Error).message}`);
  }
  const out: Record<string, ActiveUnit> = Object.create(null);
  const take = (name: unknown, v: unknown) => {
    const o = v as Record<string, unknown>;
    if (typeof name !== "string" || typeof o !== "object" || o === null || typeof o.activeState !== "string") {
      throw new Error(`${path}: each unit needs a name and an "activeState" string`);
    }
    out[name] = { activeState: o.activeState, subState: typeof o.subState === "string" ? o.subState : "", ...(typeof o.fragmentPath === "string" ? { fragmentPath: o.fragmentPath } : {}) };
  };
  if (Array.isArray(data)) for (const v of data) take((v as Record<string, unknown>)?.name, v);
  else if (typeof data === "object" && data !== null) for (const [k, v] of Object.entries(data)) take(k, v);
  else throw new Error(`${path}: expected an object or a list of units`);
  return out;
}

/** Every unit with a (non-masked, non-template) file in `dir`, taken as active and running. */
function assumeAllActive(dir: UnitDirectory): Record<string, ActiveUnit> {
  const out: Record<string, ActiveUnit> = Object.create(null);
  for (const name of dir.names()) {
    if (name.includes("@.") || dir.fileState(name) !== "present") continue;
    out[name] = { activeState: "active", subState: "running" };
  }
  return out;
}

/** The planner input for two generations. `active` undefined: every unit of OLD is assumed active. */
export function loadGenerationsInput(oldTop: string, newTop: string, active?: Record<string, ActiveUnit>): PlanInput {
  const sharedStates: SharedFileStates = new Map();
  const old = generationUnitDirectory(oldTop, { sharedStates });
  const next = generationUnitDirectory(newTop, { sharedStates });
  const assumptions: string[] = ["the list files of an interrupted switch (/run/nixos/*-list) are not read"];
  if (!active) assumptions.push(`every unit with a file in ${old.path} is active (no --active given)`);
  return {
    old,
    new: next,
    active: active ?? assumeAllActive(old),
    oldFstab: readFstab(join(oldTop, "etc/fstab")),
    newFstab: readFstab(join(newTop, "etc/fstab")),
    systemd: {
      currentPid1: canonicalOrUnknown(join(oldTop, "systemd/lib/systemd/systemd")),
      newPid1: canonicalOrUnknown(join(newTop, "systemd/lib/systemd/systemd")),
      currentSystemConf: canonicalOrUnknown(join(oldTop, "etc/systemd/system.conf")),
      newSystemConf: canonicalOrUnknown(join(newTop, "etc/systemd/system.conf")),
    },
    assumptions,
  };
}
