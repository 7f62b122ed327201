/**
 * The few libc calls Node's fs does not offer (flock, syncfs), through bun:ffi.
 * Loaded lazily so pure code and tests that never lock pay nothing.
 */
/** bun:ffi, loaded on first use: runs that never call in pay nothing for it. */
const ffi = () => require("bun:ffi") as typeof import("bun:ffi");

type Libc = {
  flock(fd: number, op: number): number;
  syncfs(fd: number): number;
};

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  const { dlopen, FFIType } = ffi();
  const lib = dlopen("libc.so.6", {
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    syncfs: { args: [FFIType.i32], returns: FFIType.i32 },
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
