/**
 * Reading an input file suspiciously: only a regular file, only up to a size that fits what it
 * holds. stagehand runs as root at boot, and a FIFO where a file should be would block it forever,
 * `/dev/zero` would be read until memory runs out, and a device's open(2) can have effects of its
 * own (a watchdog, a tape). So the path is lstat'ed (or stat'ed) first, unless the caller has just
 * seen a regular file there itself (`knownRegular`), and only a regular file is opened, with
 * O_NONBLOCK (a FIFO swapped in meanwhile cannot block the open) and O_NOCTTY; the descriptor's
 * fstat must then show a regular file, and at most `maxBytes` are read even if the file grows
 * meanwhile. A refusal is an InputFileError naming the file and what it is for, never quoting
 * its content.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, statSync, type Stats } from "node:fs";

/** Why an input file was refused. */
export type InputFileProblem = "missing" | "not-regular" | "too-large" | "unreadable";

/** An input file that was refused; `message` names the file and its role, never its content. */
export class InputFileError extends Error {
  override name = "InputFileError";
  constructor(
    /** The path as given (host path). */
    readonly path: string,
    /** What the file is for, e.g. "hashedPasswordFile of user alice". */
    readonly what: string,
    readonly problem: InputFileProblem,
    /** What is wrong, without the role and path (`does not exist`, `is a FIFO, not a regular file`). */
    readonly detail: string,
  ) {
    super(`${what}: ${path}: ${detail}`);
  }
}

/** How to read one input file. */
export interface ReadLimits {
  /** The largest size accepted, in bytes. */
  maxBytes: number;
  /** The file's role, for errors: "unit file", ".mode of /etc/foo", … */
  what: string;
  /** Refuse a symlink at the path itself instead of following it (the caller resolved it). */
  noFollow?: boolean;
  /**
   * The caller has just seen a regular file at the path (its own lstat, a directory listing's file
   * type): the stat before the open is skipped. What was opened is still judged by fstat, so a
   * FIFO, a device or a directory swapped in meanwhile is refused, never read (with noFollow, a
   * symlink swapped in fails the open).
   */
  knownRegular?: boolean;
  /** Given the fstat of what was opened, before it is judged (a caller that needs its owner or mode too). */
  seen?: (st: Stats) => void;
  /**
   * Bytes the first read asks for at least: a file whose stat size says nothing (/proc's are 0)
   * is then read in one read(2) when it fits, not in reads doubling from one byte.
   */
  firstRead?: number;
}

/** What a non-regular file is, in words. */
function kind(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSymbolicLink()) return "a symbolic link";
  return "not a regular file";
}

function refuseUnless(path: string, st: Stats, limits: ReadLimits): void {
  if (!st.isFile()) throw new InputFileError(path, limits.what, "not-regular", `is ${kind(st)}, not a regular file`);
  if (st.size > limits.maxBytes) {
    throw new InputFileError(path, limits.what, "too-large", `is ${st.size} bytes, more than the ${limits.maxBytes} accepted`);
  }
}

/**
 * The content of the regular file at `path`, or undefined when nothing is there (ENOENT, or
 * ENOTDIR for a parent that is a file). Throws InputFileError for anything else that is wrong.
 */
export function readRegularFileOptional(path: string, limits: ReadLimits): Buffer | undefined {
  return readWith(path, limits, copyOut);
}

/**
 * Like readRegularFileOptional, but the content decoded as UTF-8 (straight from the read buffer:
 * small files such as sidecars and /etc/.clean need no Buffer of their own).
 */
export function readRegularTextOptional(path: string, limits: ReadLimits): string | undefined {
  return readWith(path, limits, decodeOut);
}

/** open(2) flags of a read: a FIFO never blocks it, a terminal never becomes its controlling one. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;
/** The same, refusing a symlink at the path itself. */
const OPEN_NOFOLLOW = OPEN_FLAGS | constants.O_NOFOLLOW;

/** A read's result: the first `n` bytes of `buf` (which may be the shared scratch buffer). */
type Take<T> = (buf: Buffer, n: number) => T;

const copyOut: Take<Buffer> = (buf, n) => {
  if (buf !== scratch) return n === buf.length ? buf : buf.subarray(0, n);
  // Out of the shared buffer into one of its own, exactly as long (cheaper than a subarray view).
  const out = Buffer.allocUnsafe(n);
  buf.copy(out, 0, 0, n);
  return out;
};

const decodeOut: Take<string> = (buf, n) => buf.toString("utf8", 0, n);

/** One read buffer for the files that fit (most inputs are small): no allocation per read. */
const SCRATCH_BYTES = 64 << 10;
let scratch: Buffer | undefined;

function readWith<T>(path: string, limits: ReadLimits, take: Take<T>): T | undefined {
  if (!limits.knownRegular) {
    let st: Stats;
    try {
      st = limits.noFollow ? lstatSync(path) : statSync(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return undefined;
      throw new InputFileError(path, limits.what, "unreadable", `cannot be read (${code ?? (e as Error).message})`);
    }
    refuseUnless(path, st, limits);
  }
  let fd: number;
  try {
    fd = openSync(path, limits.noFollow ? OPEN_NOFOLLOW : OPEN_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    // O_NOFOLLOW met a symlink (swapped in after the stat, or since the caller looked).
    if (code === "ELOOP" && limits.noFollow) throw new InputFileError(path, limits.what, "not-regular", "is a symbolic link, not a regular file");
    throw new InputFileError(path, limits.what, "unreadable", `cannot be opened (${code ?? (e as Error).message})`);
  }
  try {
    const now = fstatSync(fd);
    if (limits.seen !== undefined) limits.seen(now);
    // Swapped between the stat and the open: judge what was opened.
    if (!now.isFile() || now.size > limits.maxBytes) refuseUnless(path, now, limits);
    // One byte more than the stat size, so growth is noticed without a second read buffer.
    const want = limits.firstRead === undefined ? now.size + 1 : Math.min(Math.max(now.size + 1, limits.firstRead), limits.maxBytes + 1);
    // The shared buffer when the file fits (asked inline: this runs for thousands of small files).
    const buf = want > SCRATCH_BYTES ? Buffer.allocUnsafe(want) : (scratch ??= Buffer.allocUnsafe(SCRATCH_BYTES));
    const n = readSync(fd, buf, 0, want, null);
    // A regular file reads short only at its end: one read(2) for a file read whole (the buffer is
    // one byte larger than fstat's size), none more just to see 0.
    return n < want ? take(buf, n) : readToEnd(fd, path, limits, buf, want, n, take);
  } catch (e) {
    if (e instanceof InputFileError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputFileError(path, limits.what, "unreadable", `cannot be read (${code ?? (e as Error).message})`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads the rest of `fd` (a file that grew since its fstat) after the `off` bytes of `buf` read
 * already, into its first `len` bytes, growing that up to the limit, until end of file; the
 * content is what `take` makes of the bytes read.
 */
function readToEnd<T>(fd: number, path: string, limits: ReadLimits, buf: Buffer, len: number, off: number, take: Take<T>): T {
  for (;;) {
    if (off === len) {
      if (len > limits.maxBytes) {
        throw new InputFileError(path, limits.what, "too-large", `grew past the ${limits.maxBytes} bytes accepted`);
      }
      len = Math.min(len * 2, limits.maxBytes + 1);
      if (len > buf.length) {
        const bigger = Buffer.allocUnsafe(len);
        buf.copy(bigger, 0, 0, off);
        buf = bigger;
      }
    }
    const want = len - off;
    const n = readSync(fd, buf, off, want, null);
    off += n;
    if (n < want) return take(buf, off);
  }
}

/** Like readRegularFileOptional, but a missing file is an InputFileError too. */
export function readRegularFile(path: string, limits: ReadLimits): Buffer {
  const content = readRegularFileOptional(path, limits);
  if (content === undefined) throw new InputFileError(path, limits.what, "missing", "does not exist");
  return content;
}

/** Size caps that fit each kind of input (bytes). */
export const MAX_BYTES = {
  /** `.mode`, `.uid`, `.gid` beside an etc entry: a word and a newline. */
  sidecar: 4 << 10,
  /** A hashedPasswordFile: one crypt(3) hash. */
  passwordFile: 16 << 10,
  /** One unit file or drop-in (systemd's own cap on a unit file is far larger; ours fits NixOS's). */
  unitFile: 4 << 20,
  /** /etc/fstab of a generation. */
  fstab: 4 << 20,
  /** The users spec (users-groups.json): tens of thousands of users fit. */
  usersSpec: 64 << 20,
  /** passwd, group, shadow, gshadow, subuid, subgid and stagehand's state files. */
  database: 64 << 20,
  /** os-release (a few lines of KEY=value). */
  osRelease: 64 << 10,
  /** One TOML file of an activation graph. */
  graphFile: 4 << 20,
  /** A file copied into /etc (mode other than "symlink"). */
  etcCopy: 64 << 20,
} as const;
