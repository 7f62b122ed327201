/**
 * Deadlines for waiting on a bus peer that stay right when the process was frozen.
 *
 * When the process did not run for a while (a paused VM, SIGSTOP, a starved CPU), an expired
 * timer runs before the input that arrived meanwhile has been read: a reply already in the socket
 * would be reported as missing, where a blocking client (ng) would find it. So an expired
 * deadline gives its verdict only once the event loop has read what is there: it looks again
 * after a short wait, and again for as long as more input keeps arriving, within a bounded grace,
 * so a peer that never stops talking cannot hold a wait open.
 */

/** A count that grows with every chunk of input the connection reads. */
export type InputCount = () => number;

/** A running deadline. */
export interface Deadline {
  /** Stops it; `expire` will not run. */
  cancel(): void;
}

/** The wait between looks once the deadline has passed: long enough for the event loop to poll. */
export const RECHECK_MS = 10;
/** How long input that keeps arriving may postpone the verdict. */
export const MAX_GRACE_MS = 2_000;

/**
 * Runs `expire` once `ms` have passed and the input read by then (`input`) has stopped growing,
 * unless cancelled first. The caller's own completion (a reply dispatched while input is read)
 * cancels it.
 */
export function inputDeadline(ms: number, input: InputCount, expire: () => void): Deadline {
  let seen = 0;
  let graceLeft = MAX_GRACE_MS;
  const look = () => {
    const now = input();
    if (now !== seen && graceLeft > 0) {
      seen = now;
      graceLeft -= RECHECK_MS;
      timer = setTimeout(look, RECHECK_MS);
      return;
    }
    expire();
  };
  let timer = setTimeout(() => {
    seen = input();
    timer = setTimeout(look, RECHECK_MS);
  }, ms);
  return { cancel: () => clearTimeout(timer) };
}
