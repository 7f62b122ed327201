/**
 * The few libc calls Node's fs does not offer (flock, syncfs, openat2), through bun:ffi: the one
 * place that opens libc. Loaded lazily so pure code and tests that never lock pay nothing.
 */
/** bun:ffi, loaded on first use: runs that never call in pay nothing for it. */
const ffi = () => require("bun:ffi") as typeof import("bun:ffi");

type Libc = {
  flock(fd: number, op: number): number;
  syncfs(fd: number): number;
  syscall(nr: number, dirfd: number, path: unknown, how: unknown, size: number): number;
};

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  const { dlopen, FFIType } = ffi();
  const lib = dlopen("libc.so.6", {
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    syncfs: { args: [FFIType.i32], returns: FFIType.i32 },
    syscall: { args: [FFIType.i64, FFIType.i32, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
  });
  libc = lib.symbols as unknown as Libc;
  return libc;
}

/** flock(2) operation bits. */
export const LOCK_SH = 1;
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
  const { ptr } = ffi();
  const how = new BigUint64Array([BigInt(flags), 0n, BigInt(resolve)]);
  const name = Buffer.from(`${path}\0`);
  return load().syscall(SYS_openat2, dirfd, ptr(name), ptr(how), how.byteLength);
}
