/**
 * ID allocation as update-users-groups.pl does it — system IDs from 999 down to 400, normal UIDs from
 * 1000 up to 29999, IDs in use or ever recorded for some name skipped, a name's recorded ID revived —
 * without its bug: an ID skipped during a search is not marked used, so it stays free for the name
 * that owns it in the maps.
 */

/** The ranges NixOS allocates from. */
export const SYSTEM_RANGE = { min: 400, max: 999, up: false } as const;
export const NORMAL_RANGE = { min: 1000, max: 29999, up: true } as const;

/** Allocation ran out of IDs. */
export class AllocationError extends Error {
  override name = "AllocationError";
}

/** One ID space (UIDs or GIDs) during a run. */
export class IdAllocator {
  /**
   * @param used IDs taken in this run: fixed IDs of the spec and every ID of the current database.
   * @param recorded IDs recorded in the state map for any name: never handed to a different name.
   */
  constructor(readonly used: Set<number>, readonly recorded: ReadonlySet<number>) {}

  /** Revives `prev` (the name's recorded ID) if it is in range and not taken in this run. */
  revive(prev: number | undefined, range?: { min: number; max: number }): number | undefined {
    if (prev === undefined || this.used.has(prev)) return undefined;
    if (range && (prev < range.min || prev > range.max)) return undefined;
    this.used.add(prev);
    return prev;
  }

  /** The first free ID scanning the range in its direction. */
  allocate(range: { min: number; max: number; up: boolean }, what: string): number {
    const step = range.up ? 1 : -1;
    for (let id = range.up ? range.min : range.max; id >= range.min && id <= range.max; id += step) {
      if (!this.used.has(id) && !this.recorded.has(id)) {
        this.used.add(id);
        return id;
      }
    }
    throw new AllocationError(`out of free ${what}s in ${range.min}-${range.max}`);
  }
}

/** Where automatic subordinate ranges live: start = SUBID_BASE + k * SUBID_COUNT. */
export const SUBID_BASE = 100000;
export const SUBID_COUNT = 65536;
const SUBID_LIMIT = 4294967294;

/**
 * Automatic subuid/subgid ranges: aligned 65536-wide blocks from 100000 that never overlap each other
 * or a declared range, and never move once recorded (a start recorded for any name is never given
 * to another).
 */
export class SubIdAllocator {
  private readonly taken: { start: number; end: number }[] = [];

  /**
   * @param recorded every start in auto-subuid-map.
   * @param fixed ranges declared explicitly (or kept from the current files): never overlapped.
   */
  constructor(private readonly recorded: ReadonlySet<number>, fixed: readonly { start: number; count: number }[]) {
    for (const r of fixed) this.taken.push({ start: r.start, end: r.start + r.count - 1 });
  }

  private free(start: number): boolean {
    const end = start + SUBID_COUNT - 1;
    return !this.taken.some((t) => t.start <= end && start <= t.end);
  }

  /** Keeps the recorded start if it is still free, else finds the first free aligned block. */
  allocate(prev: number | undefined): number {
    if (prev !== undefined && this.free(prev)) {
      this.taken.push({ start: prev, end: prev + SUBID_COUNT - 1 });
      return prev;
    }
    for (let start = SUBID_BASE; start + SUBID_COUNT - 1 <= SUBID_LIMIT; start += SUBID_COUNT) {
      if (!this.recorded.has(start) && this.free(start)) {
        this.taken.push({ start, end: start + SUBID_COUNT - 1 });
        return start;
      }
    }
    throw new AllocationError("out of subordinate ID ranges");
  }
}
