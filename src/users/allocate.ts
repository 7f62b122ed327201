/**
 * ID allocation as update-users-groups.pl does it — system IDs from 999 down to 400, normal UIDs from
 * 1000 up to 29999, IDs in use or ever recorded for some name skipped, a name's recorded ID revived —
 * without its bug: an ID skipped during a search is not marked used, so it stays free for the name
 * that owns it in the maps.
 */
import { MAX_ID } from "../text/id-field.ts";

/** The ranges NixOS allocates from. */
export const SYSTEM_RANGE = { min: 400, max: 999, up: false } as const;
export const NORMAL_RANGE = { min: 1000, max: 29999, up: true } as const;

/** Allocation ran out of IDs. */
export class AllocationError extends Error {
  override name = "AllocationError";
}

/** One ID space (UIDs or GIDs) during a run. */
export class IdAllocator {
  private usedSet: Set<number> | undefined;

  /**
   * @param usedOf IDs taken in this run: fixed IDs of the spec and every ID of the current database;
   * or a function making that set on the first revive or allocate (a run that creates no user or
   * group never builds it).
   * @param recordedSet IDs recorded in the state map for any name: never handed to a different name.
   */
  constructor(private readonly usedOf: Set<number> | (() => Set<number>), private readonly recordedSet: ReadonlySet<number>) {}

  private used(): Set<number> {
    return (this.usedSet ??= typeof this.usedOf === "function" ? this.usedOf() : this.usedOf);
  }

  /**
   * Where each range's scan resumes. IDs only ever become taken during a run, and recorded IDs stay
   * recorded, so an ID a scan passed over never becomes allocatable: resuming keeps "the first free
   * ID" and makes allocating N new users linear instead of quadratic.
   */
  private readonly resume = new Map<object, number>();

  /** Revives `prev` (the name's recorded ID) if it is in range and not taken in this run. */
  revive(prev: number | undefined, range?: { min: number; max: number }): number | undefined {
    if (prev === undefined) return undefined;
    const used = this.used();
    if (used.has(prev)) return undefined;
    if (range && (prev < range.min || prev > range.max)) return undefined;
    used.add(prev);
    return prev;
  }

  /** The first free ID scanning the range in its direction. */
  allocate(range: { min: number; max: number; up: boolean }, what: string): number {
    const used = this.used();
    const recorded = this.recordedSet;
    const step = range.up ? 1 : -1;
    for (let id = this.resume.get(range) ?? (range.up ? range.min : range.max); id >= range.min && id <= range.max; id += step) {
      if (!used.has(id) && !recorded.has(id)) {
        used.add(id);
        this.resume.set(range, id + step);
        return id;
      }
    }
    throw new AllocationError(`out of free ${what}s in ${range.min}-${range.max}`);
  }
}

/** Where automatic subordinate ranges live: start = SUBID_BASE + k * SUBID_COUNT. */
const SUBID_BASE = 100000;
const SUBID_COUNT = 65536;
const SUBID_LIMIT = MAX_ID;

/**
 * Automatic subuid/subgid ranges: aligned 65536-wide blocks from 100000 that never overlap each other
 * or a declared range, and never move once recorded (a start recorded for any name is never given
 * to another).
 */
export class SubIdAllocator {
  /** Taken aligned blocks (the usual case), by start: checked in constant time. */
  private readonly blocks = new Set<number>();
  /** Other taken ranges (declared or kept ranges, an unaligned recorded start): checked one by one. */
  private readonly others: { start: number; end: number }[] = [];
  /**
   * Where the scan for a new block resumes: blocks only ever become taken and recorded starts stay
   * recorded, so a block the scan passed over never becomes allocatable (linear, not cubic, in users).
   */
  private resume = SUBID_BASE;

  /**
   * @param recorded every start in auto-subuid-map.
   * @param fixed ranges declared explicitly (or kept from the current files): never overlapped.
   */
  constructor(private readonly recorded: ReadonlySet<number>, fixed: readonly { start: number; count: number }[]) {
    for (const r of fixed) this.others.push({ start: r.start, end: r.start + r.count - 1 });
  }

  private take(start: number): void {
    if (start >= SUBID_BASE && (start - SUBID_BASE) % SUBID_COUNT === 0) this.blocks.add(start);
    else this.others.push({ start, end: start + SUBID_COUNT - 1 });
  }

  private free(start: number): boolean {
    const end = start + SUBID_COUNT - 1;
    // Aligned blocks overlapping [start, end] start within [start - SUBID_COUNT + 1, end]: two at most.
    const first = Math.max(0, Math.ceil((start - SUBID_COUNT + 1 - SUBID_BASE) / SUBID_COUNT));
    for (let b = SUBID_BASE + first * SUBID_COUNT; b <= end; b += SUBID_COUNT) if (this.blocks.has(b)) return false;
    for (const t of this.others) if (t.start <= end && start <= t.end) return false;
    return true;
  }

  /** Keeps the recorded start if it is still free, else finds the first free aligned block. */
  allocate(prev: number | undefined): number {
    // A recorded start whose range would pass the limit is not revived (a map of ours may be off).
    if (prev !== undefined && prev + SUBID_COUNT - 1 <= SUBID_LIMIT && this.free(prev)) {
      this.take(prev);
      return prev;
    }
    for (let start = this.resume; start + SUBID_COUNT - 1 <= SUBID_LIMIT; start += SUBID_COUNT) {
      if (!this.recorded.has(start) && this.free(start)) {
        this.take(start);
        this.resume = start + SUBID_COUNT;
        return start;
      }
    }
    throw new AllocationError("out of subordinate ID ranges");
  }
}
