/** swapoff(2) for swap devices removed from fstab (a stop job would be absorbed by alias units). */
import { dlopen, FFIType, ptr, read, type Pointer } from "bun:ffi";
import { constants } from "node:os";

type Lib = { swapoff(path: Pointer): number; __errno_location(): Pointer };
let lib: Lib | undefined;

/** The name of an errno value (ENOENT, EINVAL...). */
function errnoName(n: number): string {
  for (const [k, v] of Object.entries(constants.errno)) if (v === n) return k;
  return `errno ${n}`;
}

/** Turns swapping off on `device`; returns an error text on failure, undefined on success. */
export function swapoff(device: string): string | undefined {
  try {
    lib ??= dlopen("libc.so.6", {
      swapoff: { args: [FFIType.ptr], returns: FFIType.i32 },
      __errno_location: { args: [], returns: FFIType.ptr },
    }).symbols as unknown as Lib;
    const path = Buffer.from(device + "\0");
    if (lib.swapoff(ptr(path)) === 0) return undefined;
    return errnoName(read.i32(lib.__errno_location(), 0));
  } catch (e) {
    return (e as Error).message;
  }
}
