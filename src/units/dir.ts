/**
 * A generation's unit directory (`etc/systemd/system`) as the planner sees it: which unit files
 * exist, which are masked (symlinked to /dev/null), their text and their drop-ins. Reading goes
 * through this interface so the planner stays pure: tests and `stagehand plan` can hand it an
 * in-memory tree, the switch hands it the disk.
 */
import { readdirSync, readlinkSync, realpathSync, statSync, type Dirent } from "node:fs";
import { join } from "node:path";
import { InputFileError, MAX_BYTES, readRegularFile } from "../fs/read.ts";
import { byteCompare } from "../text/bytewise.ts";
import { emptyUnitInfo, parseUnitText, type UnitInfo, UnitParseError } from "./parse.ts";

/** Whether a unit file is there: a real file, masked to /dev/null, or absent (or dangling). */
export type UnitFileState = "present" | "masked" | "missing";

/** One `NAME.d/*.conf` drop-in. */
export interface DropIn {
  /** Full path, for messages. */
  path: string;
  state: UnitFileState;
  /** File contents for display ("" when masked or missing, i.e. a dangling symlink). */
  text: string;
  /** File contents for parsing: its bytes from disk (systemd checks UTF-8 per line); `text` when absent. */
  content?: string | Uint8Array;
}

/** Read-only view of one unit directory. Names are file names relative to `path`. */
export interface UnitDirectory {
  /** The directory (for messages and the `FragmentPath` check). */
  readonly path: string;
  /** Like Rust's `Path::exists`: follows symlinks, so a masked unit exists and a dangling one does not. */
  exists(name: string): boolean;
  /** present / masked / missing, following symlinks. */
  fileState(name: string): UnitFileState;
  /** The text of a unit file ("" when masked), or undefined when missing; for display. */
  read(name: string): string | undefined;
  /** Like `read`, but what the parser takes: the file's bytes on disk; `read` is used when absent. */
  content?(name: string): string | Uint8Array | undefined;
  /** `NAME.d/*.conf` in byte order of their names (glob order). */
  dropins(name: string): DropIn[];
  /** Names of the unit files directly in the directory (not drop-ins or `.wants` folders), sorted. */
  names(): string[];
  /**
   * An absolute symlink target standing for the file's content: two names with the same identity
   * resolve through the same path, so they read the same (NixOS links each unit to its own store
   * path, so an unchanged unit has the same identity in both generations). Undefined otherwise.
   */
  identity?(name: string): string | undefined;
  /**
   * The directory's resolved path, for a directory on disk. Two directories with the same one are
   * the same files: NixOS builds the units as one store path (`system-units`), so a generation
   * whose units did not change resolves to the running system's unit directory.
   */
  resolved?: string;
  /**
   * Where `loadUnit` keeps its results, for a directory whose files do not change while it is in
   * use (a switch plans twice); the results are shared, so callers must not modify them.
   */
  parsed?: Map<string, UnitInfo>;
}

/** Error about a path that cannot be used (missing directory, symlink loop, unreadable file). */
export class UnitDirectoryError extends Error {
  override name = "UnitDirectoryError";
  constructor(readonly path: string, why: string) {
    super(`${path}: ${why}`);
  }
}

/** A directory whose unit files add up to more than its budget: the whole directory is refused. */
export class UnitBudgetError extends UnitDirectoryError {
  override name = "UnitBudgetError";
}

/**
 * The most unit file content one directory may hold, in bytes (read files and their parsed form
 * are kept for the two plans of a switch, the parsed form up to some 20 times larger): NixOS's few
 * thousand units are a few MiB; files near the per-file cap would otherwise exhaust memory.
 */
const MAX_UNIT_DIRECTORY_BYTES = 64 << 20;

/**
 * The states of unit files (present, masked, missing) by resolved directory, shared by the unit
 * directories of one run: a generation whose units did not change resolves to the running system's
 * unit directory (NixOS builds them as one store path), so one stat per unit answers for both.
 */
export type SharedFileStates = Map<string, Map<string, UnitFileState>>;

/**
 * The unit directory on disk at `path`; everything is read lazily and cached. `sharedStates`, when
 * given, is shared with the other generation's directory (see SharedFileStates).
 */
export function diskUnitDirectory(path: string, opts: { maxTotalBytes?: number; sharedStates?: SharedFileStates } = {}): UnitDirectory {
  return new DiskUnitDirectory(path, opts.maxTotalBytes ?? MAX_UNIT_DIRECTORY_BYTES, opts.sharedStates);
}

/**
 * A unit directory on disk. File system calls go through the directory's resolved path:
 * /etc/systemd/system is a chain of symlinks (/etc/static, the etc store path) the kernel would
 * otherwise walk for every file. Messages keep the path as given. Each directory is listed once
 * (the top level, and each `NAME.d` that the listing shows), so most questions are answered from
 * memory instead of a stat, or a readdir that fails, per unit; a switch plans twice (see
 * PlanInput.touched), so texts and drop-in lists are read once.
 */
class DiskUnitDirectory implements UnitDirectory {
  readonly resolved?: string;
  readonly parsed = new Map<string, UnitInfo>();
  /** Where file system calls go: the resolved path, or the path as given when it cannot be resolved. */
  private readonly io: string;
  private total = 0;
  private readonly states: Map<string, UnitFileState>;
  private readonly listings = new Map<string, Map<string, Dirent> | null>();
  private readonly contents = new Map<string, Uint8Array>();
  private readonly dropinLists = new Map<string, DropIn[]>();
  private readonly identities = new Map<string, string | undefined>();
  /** Names this view has just seen as regular files (listing or stat): read without a stat first. */
  private readonly seenRegular = new Set<string>();

  constructor(readonly path: string, private readonly maxTotal: number, sharedStates?: SharedFileStates) {
    let io = path;
    try {
      io = this.resolved = realpathSync(path);
    } catch {
      io = path; // missing or unreadable: each question reports it
    }
    this.io = io;
    let states = this.resolved === undefined ? undefined : sharedStates?.get(this.resolved);
    if (!states) {
      states = new Map();
      if (this.resolved !== undefined) sharedStates?.set(this.resolved, states);
    }
    this.states = states;
  }

  private at(rel: string): string {
    return rel === "" ? this.io : join(this.io, rel);
  }

  /** The entries of a directory (`""`: the top level), or null when it cannot be listed. */
  private listing(rel: string): Map<string, Dirent> | null {
    let l = this.listings.get(rel);
    if (l !== undefined) return l;
    try {
      l = new Map(readdirSync(this.at(rel), { withFileTypes: true }).map((e) => [e.name, e]));
    } catch {
      l = null; // unreadable: every question falls back to asking the path itself
    }
    this.listings.set(rel, l);
    return l;
  }

  /** The listing entry of a name, if its directory could be listed. */
  private listed(name: string): { entry: Dirent | undefined } | undefined {
    const slash = name.lastIndexOf("/");
    const base = name.slice(slash + 1);
    if (base === "" || base === "." || base === ".." || (slash >= 0 && name.slice(0, slash).includes("/"))) return undefined;
    const l = this.listing(slash < 0 ? "" : name.slice(0, slash));
    return l ? { entry: l.get(base) } : undefined;
  }

  /**
   * From the listing: a plain name missing from it is missing; a regular file in it is present,
   * or masked when empty (systemd.unit(5)): it is read now, as a present unit's file is read
   * anyway, which costs less than a stat first (one it could not be read is left to the reader).
   */
  private listedState(name: string): UnitFileState | undefined {
    const l = this.listed(name);
    if (!l) return undefined;
    if (!l.entry) return name.includes("/") ? undefined : "missing";
    if (!l.entry.isFile()) return undefined; // symlinks (masks, links into the store) are resolved
    this.seenRegular.add(name);
    try {
      return this.readBytes(name).length === 0 ? "masked" : "present";
    } catch (e) {
      if (e instanceof InputFileError) return "present";
      throw e;
    }
  }

  fileState(name: string): UnitFileState {
    let s = this.states.get(name);
    if (s) return s;
    s = this.listedState(name) ?? this.statState(name);
    this.states.set(name, s);
    return s;
  }

  /**
   * From a stat: one answers for the usual symlink into the store; only a character device can be
   * /dev/null, so only then is the (costlier) realpath asked, as ng compares it. An empty regular
   * file masks the unit too, for systemd (systemd.unit(5)); ng reads it as a unit without settings.
   * A link that loops is present and refused when read, like a FIFO: the new generation's stops
   * the plan by name, the running one's is taken as changed (throwing here wedged every switch
   * away from a generation holding one).
   */
  private statState(name: string): UnitFileState {
    try {
      const st = statSync(this.at(name));
      if (st.isCharacterDevice()) return realpathSync(this.at(name)) === "/dev/null" ? "masked" : "present";
      if (st.isFile()) this.seenRegular.add(name);
      return st.isFile() && st.size === 0 ? "masked" : "present";
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return "missing";
      if (code === "ELOOP") return "present";
      throw new UnitDirectoryError(join(this.path, name), (e as Error).message);
    }
  }

  /**
   * A unit file's bytes: only a regular file, of bounded size (a FIFO would block the switch, a
   * device be read without end); otherwise an InputFileError naming it (by the path as given).
   */
  private readBytes(name: string): Uint8Array {
    const known = this.contents.get(name);
    if (known !== undefined) return known;
    const what = name.includes("/") ? "unit drop-in" : "unit file";
    let bytes: Uint8Array;
    try {
      // Seen regular just now: the open is still judged by fstat (a FIFO swapped in is refused).
      bytes = readRegularFile(this.at(name), { maxBytes: MAX_BYTES.unitFile, what, knownRegular: this.seenRegular.has(name) });
    } catch (e) {
      if (e instanceof InputFileError && this.io !== this.path) {
        // Name the file by the path as given, not by the resolved store path.
        throw new InputFileError(join(this.path, name), e.what, e.problem, e.message.slice(`${e.what}: ${e.path}: `.length));
      }
      throw e;
    }
    this.total += bytes.length;
    if (this.total > this.maxTotal) throw new UnitBudgetError(this.path, `its unit files add up to more than the ${this.maxTotal} bytes accepted`);
    this.contents.set(name, bytes);
    return bytes;
  }

  private readText(name: string): string {
    return Buffer.from(this.readBytes(name)).toString("utf8");
  }

  identity(name: string): string | undefined {
    if (this.identities.has(name)) return this.identities.get(name);
    let target: string | undefined;
    if (this.listed(name)?.entry?.isSymbolicLink()) {
      try {
        const t = readlinkSync(this.at(name));
        if (t.startsWith("/")) target = t;
      } catch {
        target = undefined;
      }
    }
    this.identities.set(name, target);
    return target;
  }

  exists(name: string): boolean {
    return this.fileState(name) !== "missing";
  }

  read(name: string): string | undefined {
    const s = this.fileState(name);
    if (s === "missing") return undefined;
    return s === "masked" ? "" : this.readText(name);
  }

  content(name: string): string | Uint8Array | undefined {
    const s = this.fileState(name);
    if (s === "missing") return undefined;
    return s === "masked" ? "" : this.readBytes(name);
  }

  names(): string[] {
    let entries: string[];
    try {
      entries = readdirSync(this.io);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UnitDirectoryError(this.path, code === "ELOOP" ? "symlink loop (ELOOP): cannot list unit directory" : `cannot list unit directory: ${code ?? (e as Error).message}`);
    }
    const top = this.listing("");
    const isDir = (e: string) => {
      const known = top?.get(e);
      if (known?.isFile()) return false;
      if (known?.isDirectory()) return true;
      try {
        return statSync(this.at(e)).isDirectory();
      } catch {
        return false; // dangling or looping: listed, and reported when used
      }
    };
    return entries.filter((e) => !isDir(e)).sort(byteCompare);
  }

  dropins(name: string): DropIn[] {
    let known = this.dropinLists.get(name);
    if (!known) this.dropinLists.set(name, known = this.listDropins(name));
    return known;
  }

  private listDropins(name: string): DropIn[] {
    const top = name.includes("/") ? null : this.listing("");
    if (top && !top.has(`${name}.d`)) return []; // not there: no readdir bound to fail
    let entries: string[];
    try {
      entries = readdirSync(this.at(`${name}.d`));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // No drop-in folder (or a file by that name): no drop-ins. A folder that loops on itself
      // has none either, for systemd too (it loads the unit without them; checked in the
      // container test). Anything else would hide drop-ins systemd may read: say so.
      if (code === "ENOENT" || code === "ENOTDIR" || code === "ELOOP") return [];
      throw new UnitDirectoryError(join(this.path, `${name}.d`), `cannot list drop-in folder: ${code ?? (e as Error).message}`);
    }
    return entries.filter((e) => e.endsWith(".conf")).sort(byteCompare).map((e) => {
      const rel = `${name}.d/${e}`;
      // A drop-in that cannot be looked at (a link loop) fails where its state is asked for, not
      // the listing: a lenient load (loadUnit) skips it as systemd does, the others still refuse it.
      let state: UnitFileState = "missing";
      let failure: unknown;
      try { state = this.fileState(rel); } catch (e) { failure = e; }
      // Read on first use: an unchanged drop-in (same identity in both generations) is never read.
      const dir = this;
      return {
        path: join(this.path, rel),
        get state(): UnitFileState { if (failure !== undefined) throw failure; return state; },
        get text() { return state === "present" ? dir.readText(rel) : ""; },
        get content() { return state === "present" ? dir.readBytes(rel) : ""; },
      };
    });
  }
}

/**
 * An in-memory unit directory: `files` maps relative names (`foo.service`,
 * `foo.service.d/override.conf`) to their text, or to null for a unit masked to /dev/null.
 */
export function memoryUnitDirectory(path: string, files: Record<string, string | null>): UnitDirectory {
  const has = (name: string) => Object.prototype.hasOwnProperty.call(files, name);
  // Drop-ins by their `NAME.d` folder, so a lookup does not scan every file (quadratic in units).
  // Rebuilt when the set of names changes size, as callers may add files after creating the view.
  let index: Map<string, string[]> | undefined;
  let indexedCount = -1;
  const dropinNames = (name: string): string[] => {
    const keys = Object.keys(files);
    if (!index || keys.length !== indexedCount) {
      index = new Map();
      indexedCount = keys.length;
      for (const k of keys) {
        const slash = k.lastIndexOf("/");
        if (slash < 0 || !k.endsWith(".conf")) continue;
        const folder = k.slice(0, slash);
        const list = index.get(folder);
        if (list) list.push(k);
        else index.set(folder, [k]);
      }
    }
    return index.get(`${name}.d`) ?? [];
  };
  // An empty file masks a unit, as systemd reads it (see diskUnitDirectory).
  const fileState = (name: string): UnitFileState => (!has(name) ? "missing" : files[name] === null || files[name] === "" ? "masked" : "present");
  return {
    path,
    exists: (name) => has(name),
    fileState,
    read: (name) => (has(name) ? (files[name] ?? "") : undefined),
    content: (name) => (has(name) ? (files[name] ?? "") : undefined),
    names: () => Object.keys(files).filter((k) => !k.includes("/")).sort(byteCompare),
    dropins: (name) =>
      dropinNames(name)
        .slice()
        .sort(byteCompare)
        .map((k) => ({ path: join(path, k), state: fileState(k), text: files[k] ?? "", content: files[k] ?? "" })),
  };
}

/**
 * Whether `e` is about one unit's files (unreadable, unparseable, a dangling or looping link), not
 * about the whole directory (UnitBudgetError) or a bug.
 */
export function isUnitInputError(e: unknown): boolean {
  if (e instanceof UnitBudgetError) return false;
  return e instanceof InputFileError || e instanceof UnitParseError || e instanceof UnitDirectoryError;
}

/**
 * ng's `parse_unit`: the base unit file (`name@.type` for a template instance), its drop-ins,
 * then, for an instance, the instance's own drop-ins (`name@inst.type.d/*.conf`).
 * A missing base file is an error naming it. `lenientDropins`: the drop-ins as systemd reads them
 * (for a unit it has loaded, the running generation's); otherwise as ng reads them, every one.
 */
export function loadUnit(dir: UnitDirectory, unitFile: string, baseUnitFile: string, opts: { lenientDropins?: boolean } = {}): UnitInfo {
  const key = `${unitFile}\0${baseUnitFile}${opts.lenientDropins ? "\0lenient" : ""}`;
  const known = dir.parsed?.get(key);
  if (known) return known;
  const info = emptyUnitInfo();
  const content = dir.content ? dir.content(baseUnitFile) : dir.read(baseUnitFile);
  if (content === undefined) throw new UnitDirectoryError(join(dir.path, baseUnitFile), "unit file not found");
  parseUnitText(info, content, join(dir.path, baseUnitFile));
  const merge = (d: DropIn) => {
    if (opts.lenientDropins) {
      // As systemd loads a unit: a drop-in it cannot open or parse (dangling, a loop, a line it
      // refuses) is skipped, with what was parsed of it before the error.
      try {
        if (d.state !== "missing") parseUnitText(info, d.content ?? d.text, d.path);
      } catch (e) {
        if (!isUnitInputError(e)) throw e;
      }
      return;
    }
    // ng opens every drop-in the glob finds: a dangling one is an error, not a silent skip.
    if (d.state === "missing") throw new UnitDirectoryError(d.path, "dangling drop-in symlink");
    parseUnitText(info, d.content ?? d.text, d.path);
  };
  dir.dropins(baseUnitFile).forEach(merge);
  if (unitFile !== baseUnitFile) dir.dropins(unitFile).forEach(merge);
  dir.parsed?.set(key, info);
  return info;
}

/**
 * Whether a unit loads from the same files in both directories, known without reading them: the
 * unit file and each drop-in (of the base unit and, for an instance, its own) have equal
 * identities, or the two are the same directory. False when unknown, e.g. for plain files in two
 * directories, or in-memory directories.
 */
export function sameUnitFiles(a: UnitDirectory, b: UnitDirectory, unitFile: string, baseUnitFile: string): boolean {
  if (a.resolved !== undefined && a.resolved === b.resolved) return true;
  if (!a.identity || !b.identity) return false;
  const id = a.identity(baseUnitFile);
  if (id === undefined || id !== b.identity(baseUnitFile)) return false;
  const sameDropins = (name: string) => {
    const [x, y] = [a.dropins(name), b.dropins(name)];
    const file = (d: DropIn) => d.path.slice(d.path.lastIndexOf("/") + 1);
    return x.length === y.length && x.every((d, i) => {
      const e = y[i]!;
      if (file(d) !== file(e) || d.state !== e.state) return false;
      const rel = `${name}.d/${file(d)}`;
      const did = a.identity!(rel);
      return did !== undefined && did === b.identity!(rel);
    });
  };
  return sameDropins(baseUnitFile) && (unitFile === baseUnitFile || sameDropins(unitFile));
}

/** Matches an instance `name@inst.type` (ng's TEMPLATE_UNIT_RE, kept as is: instances with dots are not split). */
const TEMPLATE_UNIT_RE = /^(.*)@[^.]*\.(.*)$/s;
/** Everything before the type suffix (ng's UNIT_NAME_RE). */
const UNIT_NAME_RE = /^(.*)\.[a-z]*$/s;

/** If `unit` is a template instance, `[template, type]` (`foo@bar.service` -> `["foo", "service"]`). */
export function templateOf(unit: string): [string, string] | undefined {
  const m = TEMPLATE_UNIT_RE.exec(unit);
  return m ? [m[1]!, m[2]!] : undefined;
}

/** The unit's name without its type suffix (`foo@.service` -> `foo@`), as ng's base_name. */
export function baseNameOf(baseUnit: string): string {
  const m = UNIT_NAME_RE.exec(baseUnit);
  return m ? m[1]! : baseUnit;
}
