/** swapoff(2) for swap devices removed from fstab (a stop job would be absorbed by alias units). */
import { swapoff as libcSwapoff } from "../../fs/libc.ts";

/** Turns swapping off on `device`; returns an error text on failure, undefined on success. */
export function swapoff(device: string): string | undefined {
  try {
    return libcSwapoff(device);
  } catch (e) {
    return (e as Error).message;
  }
}
