/**
 * The libc calls Node's fs and net do not offer (flock, syncfs, openat2, renameat2, swapoff, unix
 * datagram sockets, memfd_create), through bun:ffi: the one place that opens libc. Loaded on first use, so pure
 * code and runs that never call in pay nothing for it.
 */

/** bun:ffi, loaded on first use. */
const ffi = () => require("bun:ffi") as typeof import("bun:ffi");

type Libc = {
  flock(fd: number, op: number): number;
  syncfs(fd: number): number;
  syscall(nr: number, dirfd: number, path: unknown, how: unknown, size: number): number;
  renameat2(olddirfd: number, oldpath: unknown, newdirfd: number, newpath: unknown, flags: number): number;
  swapoff(path: unknown): number;
  socket(domain: number, type: number, proto: number): number;
  connect(fd: number, addr: unknown, len: number): number;
  send(fd: number, buf: unknown, len: number, flags: number): number | bigint;
  close(fd: number): number;
  __errno_location(): unknown;
  fcntl(fd: number, cmd: number, arg: unknown): number;
  strerror(errnum: number): unknown;
  memfd_create(name: unknown, flags: number): number;
};

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  const { dlopen, FFIType: T } = ffi();
  const lib = dlopen("libc.so.6", {
    flock: { args: [T.i32, T.i32], returns: T.i32 },
    syncfs: { args: [T.i32], returns: T.i32 },
    syscall: { args: [T.i64, T.i32, T.ptr, T.ptr, T.u64], returns: T.i32 },
    renameat2: { args: [T.i32, T.ptr, T.i32, T.ptr, T.u32], returns: T.i32 },
    swapoff: { args: [T.ptr], returns: T.i32 },
    socket: { args: [T.i32, T.i32, T.i32], returns: T.i32 },
    connect: { args: [T.i32, T.ptr, T.u32], returns: T.i32 },
    send: { args: [T.i32, T.ptr, T.u64, T.i32], returns: T.i64 },
    close: { args: [T.i32], returns: T.i32 },
    __errno_location: { args: [], returns: T.ptr },
    fcntl: { args: [T.i32, T.i32, T.ptr], returns: T.i32 },
    strerror: { args: [T.i32], returns: T.ptr },
    memfd_create: { args: [T.ptr, T.u32], returns: T.i32 },
  });
  libc = lib.symbols as unknown as Libc;
  return libc;
}

/** A NUL-terminated copy of `s` for a C `const char *`, and its pointer. */
function cString(s: string) {
  // C would end the string at the first NUL and act on a shorter, different path.
  if (s.includes("\0")) throw new TypeError(`${JSON.stringify(s)} contains a NUL byte`);
  return ffi().ptr(Buffer.from(`${s}\0`));
}

/** errno after a failed call, as a number. */
function errnoValue(): number {
  return ffi().read.i32(load().__errno_location() as import("bun:ffi").Pointer, 0);
}

/** errno after a failed call, as its name (ENOENT, EXDEV, …). */
export function lastErrno(): string {
  const n = errnoValue();
  // node:os loaded here, on an error, not with this module (every etc and users run loads it).
  const { constants } = require("node:os") as typeof import("node:os");
  for (const [k, v] of Object.entries(constants.errno)) if (v === n) return k;
  return `errno ${n}`;
}

/**
 * errno after a failed call in the words Rust's std::io::Error prints (`No such file or directory
 * (os error 2)`), for messages that must read as ng's do.
 */
export function lastOsError(): string {
  const n = errnoValue();
  const text = new (ffi().CString)(load().strerror(n) as import("bun:ffi").Pointer).toString();
  return `${text} (os error ${n})`;
}

/** flock(2) operation bits. */
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

/** flock(2): returns true when the lock was taken. */
export function flock(fd: number, op: number): boolean {
  return load().flock(fd, op) === 0;
}

/** syncfs(2) on the file system holding `fd`: returns true on success. */
export function syncfs(fd: number): boolean {
  return load().syncfs(fd) === 0;
}

/** fcntl(2)'s F_OFD_SETLK, and struct flock's F_WRLCK. */
const F_OFD_SETLK = 37;
const F_WRLCK = 1;

/**
 * A write lock on the whole file `fd` by fcntl(F_OFD_SETLK), without waiting: returns true when
 * taken. Unlike flock(2), such a record lock conflicts with the POSIX locks other programs take
 * with fcntl/lockf (glibc's lckpwdf on /etc/.pwd.lock); it is released when `fd` is closed.
 */
export function ofdWriteLock(fd: number): boolean {
  const { ptr } = ffi();
  // struct flock: l_type, l_whence (shorts), l_start, l_len (0: to the end), l_pid (0 for OFD).
  const fl = new DataView(new ArrayBuffer(32));
  fl.setInt16(0, F_WRLCK, true);
  return load().fcntl(fd, F_OFD_SETLK, ptr(fl.buffer)) === 0;
}

/** openat2(2)'s RESOLVE_IN_ROOT: resolve as if the directory were the root (absolute links, `..`). */
export const RESOLVE_IN_ROOT = 0x10;
/** openat2(2)'s RESOLVE_NO_MAGICLINKS: refuse /proc's magic links while resolving. */
export const RESOLVE_NO_MAGICLINKS = 0x02;

/** The openat2 system call's number on the architectures stagehand is built for (same on both). */
const SYS_openat2 = 437;

/**
 * openat2(2) of `path` relative to the directory `dirfd`, with open `flags` and `resolve` bits.
 * Returns the new descriptor, or -1 (errno not reported: callers only ask whether and where).
 * Linux ≥ 5.6; glibc has no wrapper before 2.40, so it is called by number.
 */
export function openat2(dirfd: number, path: string, flags: number, resolve: number): number {
  const how = new BigUint64Array([BigInt(flags), 0n, BigInt(resolve)]);
  return load().syscall(SYS_openat2, dirfd, cString(path), ffi().ptr(how), how.byteLength);
}

const AT_FDCWD = -100;
const RENAME_EXCHANGE = 2;

/**
 * renameat2(RENAME_EXCHANGE): swaps two existing paths atomically. Returns undefined on success,
 * else the errno name (EXDEV on overlayfs for a lower-layer directory, EINVAL where unsupported).
 */
export function renameExchange(a: string, b: string): string | undefined {
  const lib = load();
  return lib.renameat2(AT_FDCWD, cString(a), AT_FDCWD, cString(b), RENAME_EXCHANGE) === 0 ? undefined : lastErrno();
}

/** swapoff(2) of `device`: undefined on success, else the error as ng words it (lastOsError). */
export function swapoff(device: string): string | undefined {
  // An fstab field may hold an escaped NUL: `/swapfile\0.old` must not turn off /swapfile.
  if (device.includes("\0")) return "nul byte found in provided data";
  return load().swapoff(cString(device)) === 0 ? undefined : lastOsError();
}

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;

/**
 * A connected AF_UNIX datagram socket to `path` (Node has none), or -1. For syslog's /dev/log.
 */
export function connectUnixDatagram(path: string): number {
  const lib = load();
  const fd = lib.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const name = Buffer.from(path);
  const addr = new Uint8Array(110);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name.subarray(0, 107), 2);
  if (lib.connect(fd, ffi().ptr(addr), 2 + Math.min(name.length, 107) + 1) !== 0) {
    lib.close(fd);
    return -1;
  }
  return fd;
}

/** send(2) of one datagram without blocking or SIGPIPE; returns false when it was not sent. */
export function sendDatagram(fd: number, data: Uint8Array): boolean {
  return Number(load().send(fd, ffi().ptr(data), data.length, MSG_DONTWAIT | MSG_NOSIGNAL)) >= 0;
}

/** close(2) of a descriptor opened here. */
export function closeFd(fd: number): void {
  load().close(fd);
}

const MFD_CLOEXEC = 1;

/**
 * memfd_create(2): an anonymous regular file in memory, close-on-exec (a child gets it only where
 * it is passed explicitly). `name` shows in /proc/PID/fd. Throws naming errno when it cannot be made.
 */
export function memfdCreate(name: string): number {
  const fd = load().memfd_create(cString(name), MFD_CLOEXEC);
  if (fd < 0) throw new Error(`memfd_create: ${lastErrno()}`);
  return fd;
}
