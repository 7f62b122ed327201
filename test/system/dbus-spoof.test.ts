/**
 * Issue 14 §1 on a real system bus: with systemd as PID 1 and the distribution's dbus-daemon, an
 * unprivileged user (nobody) sends a unicast JobRemoved for stagehand's job to stagehand's unique
 * name while the job runs. The bus delivers it; stagehand must wait for systemd's own result.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Container } from "../harness/container.ts";
import { buildGeneration, prepareBooted } from "../harness/generation.ts";

let c: Container;

// The job runs until the test opens the gate, then fails: "done" can only come from a spoofer.
const units = {
  "gate.service": "[Unit]\nDescription=waits for /run/gate, then fails\n[Service]\nType=oneshot\nExecStart=/bin/sh -c 'while [ ! -e /run/gate ]; do sleep 0.1; done; exit 3'\n",
};

test.before(async () => {
  c = await Container.boot({
    name: "stagehand-dbus-spoof",
    prepare: (root) => prepareBooted(root, buildGeneration(root, { name: "a", units })),
  });
  c.installStagehand();
});

test.after(async () => {
  await c?.halt();
});

/** Polls a shell condition inside the container (bounded); returns its last output. */
function until(condition: string, what: string): string {
  const r = c.sh(`for i in $(seq 600); do out=$(${condition}) && [ -n "$out" ] && { echo "$out"; exit 0; }; sleep 0.1; done; exit 1`);
  assert.is(r.status, 0, `never: ${what}\n${r.stderr}`);
  return r.stdout.trim();
}

test("a JobRemoved sent by nobody to stagehand's unique name is ignored", () => {
  c.must("rm -f /run/gate /run/spoof-out /run/spoof-rc");
  // stagehand starts the unit and waits for its job, in the background.
  c.must("setsid sh -c 'stagehand systemd start gate.service >/run/spoof-out 2>&1; echo $? >/run/spoof-rc' </dev/null >/dev/null 2>&1 &");
  const job = until("systemctl list-jobs --no-legend gate.service | awk '{print $1}'", "the gate.service job was queued");
  assert.match(job, /^\d+$/);
  // By PID: busctl's process columns are empty for some connections on trixie.
  const name = until(`pid=$(pgrep -x stagehand) && for n in $(busctl --system list --no-legend --unique | awk '{print $1}'); do
    [ "$(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetConnectionUnixProcessID s $n 2>/dev/null)" = "u $pid" ] && echo $n; done; true`, "stagehand is on the bus");
  assert.match(name, /^:\d+\.\d+$/);

  const spoof = c.exec(["busctl", "--system", `--destination=${name}`, "emit", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "JobRemoved",
    "uoss", job, `/org/freedesktop/systemd1/job/${job}`, "gate.service", "done"], { user: "nobody" });
  assert.is(spoof.status, 0, `the bus let nobody send the signal: ${spoof.stderr}`);
  assert.is(c.exec(["test", "-e", "/run/spoof-rc"]).status, 1, "stagehand took the spoofed result");

  c.must("touch /run/gate");
  until("cat /run/spoof-rc 2>/dev/null", "stagehand finished");
  assert.is(c.must("cat /run/spoof-rc").trim(), "1");
  assert.match(c.must("cat /run/spoof-out"), /^start gate\.service: failed/m);
});

test.run();
