/**
 * Preloaded into every test file by test/run.ts. uvu 0.5 loses an error thrown by a `test.before`
 * hook (its runner returns from a `finally`): the file only reports every test failed, without a
 * reason. This wraps `test.before` so such an error is printed (the container that did not boot, the
 * device that is missing) before uvu drops it.
 */
import { test } from "uvu";

type Hook = (state: unknown) => unknown;
const register = test.before as ((fn: Hook) => void) & { each: unknown };
const reporting = ((fn: Hook) =>
  register(async (state) => {
    try {
      return await fn(state);
    } catch (e) {
      console.error(`error in test.before: ${(e as Error)?.stack ?? String(e)}`);
      throw e;
    }
  })) as typeof register;
reporting.each = register.each;
(test as { before: unknown }).before = reporting;
