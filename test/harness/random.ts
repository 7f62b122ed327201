/**
 * Seeded randomness for fuzz and property tests: the same seed gives the same cases on every
 * machine, so CI is repeatable and a failure is replayed by its seed.
 *
 *   const seeds = fuzzSeeds(200);              // 1..200, or just $STAGEHAND_FUZZ_SEED when set
 *   for (const seed of seeds) { const r = new Random(seed); ... }
 *
 * A failing test names its seed in the assertion message (`seed ${seed}`); rerun that one case with
 * `STAGEHAND_FUZZ_SEED=N bun test/unit/...`.
 */

/** A small, fast PRNG (mulberry32): not for secrets, only for reproducible test cases. */
export class Random {
  private state: number;
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** The seeds a fuzz test runs: 1..count, or only the one in $STAGEHAND_FUZZ_SEED (a replay). */
export function fuzzSeeds(count: number): number[] {
  const one = process.env.STAGEHAND_FUZZ_SEED;
  if (one !== undefined && one !== "") return [Number(one)];
  return Array.from({ length: count }, (_, i) => i + 1);
}
