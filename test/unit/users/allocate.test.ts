import { test } from "uvu";
import * as assert from "uvu/assert";
import { AllocationError, IdAllocator, NORMAL_RANGE, SubIdAllocator, SYSTEM_RANGE } from "../../../src/users/allocate.ts";

test("system IDs from 999 down, normal from 1000 up, skipping used and recorded IDs", () => {
  const a = new IdAllocator(new Set([999, 1000]), new Set([998, 1001]));
  assert.is(a.allocate(SYSTEM_RANGE, "GID"), 997);
  assert.is(a.allocate(SYSTEM_RANGE, "GID"), 996);
  assert.is(a.allocate(NORMAL_RANGE, "UID"), 1002);
});

test("a skipped recorded ID stays revivable (update-users-groups.pl marked it used)", () => {
  const a = new IdAllocator(new Set(), new Set([999]));
  assert.is(a.allocate(SYSTEM_RANGE, "GID"), 998);
  assert.is(a.revive(999), 999);
});

test("revival: only when free in this run and, for users, inside the range", () => {
  const a = new IdAllocator(new Set([500]), new Set([500, 1500]));
  assert.is(a.revive(500), undefined);
  assert.is(a.revive(1500, SYSTEM_RANGE), undefined);
  assert.is(a.revive(1500, NORMAL_RANGE), 1500);
  assert.is(a.revive(1500, NORMAL_RANGE), undefined);
});

test("exhaustion is an error", () => {
  const used = new Set<number>();
  for (let i = 400; i <= 999; i++) used.add(i);
  assert.throws(() => new IdAllocator(used, new Set()).allocate(SYSTEM_RANGE, "GID"), (e: Error) => e instanceof AllocationError);
});

test("subordinate ranges: aligned, 65536 wide, never overlapping declared or recorded ranges", () => {
  const s = new SubIdAllocator(new Set([165536]), [{ start: 231072, count: 10 }]);
  assert.is(s.allocate(undefined), 100000);
  assert.is(s.allocate(undefined), 296608); // 165536 recorded for someone else, 231072 overlaps a declared range
  assert.is(s.allocate(165536), 165536); // its owner keeps it
  assert.is(s.allocate(165536), 362144); // a second claim (an overlap left by the Perl script) moves
});

test.run();
