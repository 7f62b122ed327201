/**
 * A hang guard for fuzz tests that call the code under test in-process: a sync call blocked for
 * ever (a FIFO opened) would hang the test without a word. A watchdog shell child kills the test
 * process, naming the case it was on, when no heartbeat came for 60 s; it ends quietly once the
 * heartbeat file is gone (the test process cleaning up at exit). A guard, not a timing assertion.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../unit/tmp.ts";

let beatFile: string | undefined;

/** Says the test is at `label` (a seed and a run); starts the watchdog on the first call. `what` names the test in its message. */
export function heartbeat(what: string, label: string): void {
  if (!beatFile) {
    beatFile = join(tempDir("fuzz-beat-"), "case");
    writeFileSync(beatFile, label);
    const dog = spawn("sh", ["-c", `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; t=$(stat -c %Y "$1" 2>/dev/null) || exit 0; if [ $(( $(date +%s) - t )) -gt 60 ]; then echo "$2: no progress for 60 s at $(cat "$1"); killed" >&2; kill -9 ${process.pid}; exit 1; fi; done`, "sh", beatFile, what], { stdio: ["ignore", "ignore", "inherit"], detached: true });
    dog.unref();
    process.on("exit", () => { try { process.kill(dog.pid!); } catch { /* gone */ } });
  }
  writeFileSync(beatFile, label);
}
