/**
 * renameat2(RENAME_EXCHANGE): swaps two paths atomically. rename(2) cannot put a symlink where a
 * directory is (or a directory where a symlink is); exchanging them, then removing the old one
 * from its new name, replaces one with the other with no moment where neither is there.
 */
/** bun:ffi, loaded on first use: runs that never call in pay nothing for it. */
const ffi = () => require("bun:ffi") as typeof import("bun:ffi");

const AT_FDCWD = -100;
const RENAME_EXCHANGE = 2;

let renameat2: ((a: number, b: unknown, c: number, d: unknown, f: number) => number) | null | undefined;

function load() {
  if (renameat2 !== undefined) return renameat2;
  try {
    const { dlopen, FFIType } = ffi();
    const lib = dlopen("libc.so.6", {
      renameat2: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    });
    renameat2 = lib.symbols.renameat2 as unknown as typeof renameat2;
  } catch {
    renameat2 = null;
  }
  return renameat2;
}

/** Atomically swaps `a` and `b` (both must exist). Returns false when the kernel or file system cannot. */
export function exchangePaths(a: string, b: string): boolean {
  const fn = load();
  if (!fn) return false;
  const ca = Buffer.from(`${a}\0`);
  const cb = Buffer.from(`${b}\0`);
  const { ptr } = ffi();
  return fn(AT_FDCWD, ptr(ca), AT_FDCWD, ptr(cb), RENAME_EXCHANGE) === 0;
}
