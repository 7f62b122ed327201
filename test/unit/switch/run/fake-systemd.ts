/** A fake of the executor's service manager, for the phase, system and user switch tests. */
import * as assert from "uvu/assert";
import type { ActiveUnitState, JobReport, JobVerb, SwitchSystemd } from "../../../../src/switch/run/types.ts";

/** How the fake manager behaves. */
export interface FakeOpts {
  results?: Record<string, string>;          // "verb unit" -> job result
  refuse?: Record<string, string>;           // "verb unit" -> error message
  after?: Record<string, ActiveUnitState>;   // active units after the switch
  inactive?: string[];                       // isActive false
  onSubmit?: (verb: JobVerb, unit: string) => void;
}

/**
 * A service manager that records what it is asked (`submit VERB UNIT`, `done VERB UNIT`,
 * `daemon-reload`, …) in `events` and ends every job a moment later, as JobRemoved would.
 */
export function fakeSystemd(events: string[], o: FakeOpts = {}): SwitchSystemd {
  let pendingJobs = 0;
  return {
    async submit(job, unit) {
      o.onSubmit?.(job, unit);
      const key = `${job} ${unit}`;
      if (o.refuse?.[key]) throw new Error(o.refuse[key]);
      events.push(`submit ${key}`);
      pendingJobs++;
      // Finish asynchronously, as JobRemoved would.
      const done = new Promise<JobReport>((r) => setTimeout(() => { pendingJobs--; events.push(`done ${key}`); r({ unit, job, result: o.results?.[key] ?? "done" }); }, 1));
      return { done };
    },
    async activeUnits() { return o.after ?? {}; },
    async withFragmentPaths(active) { return active; },
    async isActive(u) { return !(o.inactive ?? []).includes(u); },
    async execMainStatus() { return 1; },
    async invocationId() { return "id"; },
    async resetFailed() { assert.is(pendingJobs, 0, "no job may be pending across phases"); events.push("reset-failed"); },
    async reload() { events.push("daemon-reload"); },
    async reexecute() { events.push("reexecute"); },
    async settle() { assert.is(pendingJobs, 0); events.push("settle"); return { services: [] }; },
  };
}

