/**
 * Unified diffs for `--diff` (unit files, /etc copies), bounded: Myers' algorithm costs the texts'
 * length times the number of lines changed, so a rewritten 20,000-line file took minutes and a
 * 4 MiB one days. Past MAX_DIFF_EDITS changed lines (or DIFF_TIMEOUT_MS) the diff is summed up in
 * one line instead; the plan itself never depends on it.
 */

/** The most lines added or removed (a changed line counts twice) that a diff is worked out for. */
export const MAX_DIFF_EDITS = 1000;
/** A bound on the time one diff may take, whatever its size. */
const DIFF_TIMEOUT_MS = 2000;

/**
 * The lines of a unified diff from `a` to `b` (the `---`/`+++` headers labelled as given, no
 * `====` line, no trailing empty line), or the headers and a line saying it is too large to show.
 * `context`: lines of context (the diff library's default, 4, when not given). The library is
 * loaded on first use: only `--diff` needs it, so plain runs do not pay its start-up.
 */
export function unifiedDiff(oldLabel: string, newLabel: string, a: string, b: string, context?: number): string[] {
  const { createTwoFilesPatch } = require("diff") as typeof import("diff");
  const patch = createTwoFilesPatch(oldLabel, newLabel, a, b, undefined, undefined, {
    ...(context === undefined ? {} : { context }), maxEditLength: MAX_DIFF_EDITS, timeout: DIFF_TIMEOUT_MS,
  });
  if (patch === undefined) return [`--- ${oldLabel}`, `+++ ${newLabel}`, `(not shown: too large a change, over ${MAX_DIFF_EDITS} lines added or removed, or ${DIFF_TIMEOUT_MS / 1000} s of work)`];
  return patch.split("\n").filter((l, i, all) => !(l === "" && i === all.length - 1) && !l.startsWith("===="));
}
