import { test } from "uvu";
import * as assert from "uvu/assert";
import { lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { acquireSwitchLock, ensureRunDir } from "../../../../src/switch/host/lock.ts";
import { SwitchExit } from "../../../../src/switch/host/exit.ts";
import { tempDir } from "../../tmp.ts";

test("the run directory is created with mode 0755, also when it existed with another mode", () => {
  const d = join(tempDir("stc-lock-"), "run/nixos");
  ensureRunDir(d);
  assert.is(statSync(d).mode & 0o777, 0o755);
  spawnSync("chmod", ["700", d]);
  ensureRunDir(d);
  assert.is(statSync(d).mode & 0o777, 0o755);
  rmSync(d, { recursive: true });
});

test("anything but a directory at the run directory's name is moved aside, not followed or failed on (ng fails at every switch)", () => {
  const top = tempDir("stc-lock-");
  const target = join(top, "target");
  mkdirSync(target, { mode: 0o711 });
  const plant: Record<string, (d: string) => void> = {
    file: (d) => writeFileSync(d, "x\n"),
    fifo: (d) => { spawnSync("mkfifo", [d]); },
    dangling: (d) => symlinkSync("/nonexistent/nixos", d),
    "link to a directory": (d) => symlinkSync(target, d),
  };
  for (const [what, make] of Object.entries(plant)) {
    const d = join(top, `run-${what.replace(/ /g, "-")}`, "nixos");
    mkdirSync(join(d, ".."), { recursive: true });
    make(d);
    const aside = ensureRunDir(d, 0o700);
    assert.ok(aside?.startsWith(`${d}.broken-`), what);
    assert.ok(lstatSync(d).isDirectory() && (statSync(d).mode & 0o777) === 0o700, what);
    if (what === "file") assert.is(readFileSync(aside!, "utf8"), "x\n");
    if (what === "link to a directory") assert.is(readlinkSync(aside!), target);
    assert.is(ensureRunDir(d, 0o700), undefined, `${what}: a directory is kept`);
  }
  assert.is(statSync(target).mode & 0o777, 0o711, "no chmod through a link");
});

test("a second lock fails at once with 'Could not acquire lock' (EAGAIN), and works after release", () => {
  const d = tempDir("stc-lock-");
  const first = acquireSwitchLock(d);
  // Another process holds it: flock(1) -x -n, as the switch test does.
  const other = spawnSync("flock", ["-x", "-n", join(d, "switch-to-configuration.lock"), "true"]);
  assert.is.not(other.status, 0, "flock(1) must fail while we hold the lock");
  first.release();
  const r = spawnSync("flock", ["-x", "-n", join(d, "switch-to-configuration.lock"), "true"]);
  assert.is(r.status, 0);
});

test("our lock fails while another process holds it", () => {
  const d = tempDir("stc-lock-");
  // A holder we can kill by PID (flock(1) would leave its child holding the lock).
  const script = "import fcntl,sys,time; f=open(sys.argv[1],'a'); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)";
  const holder = Bun.spawn(["python3", "-c", script, join(d, "switch-to-configuration.lock")], { stdout: "pipe" });
  const reader = holder.stdout.getReader();
  return reader.read().then(() => {
    try {
      acquireSwitchLock(d);
      assert.unreachable("lock should be held");
    } catch (e) {
      assert.instance(e, SwitchExit);
      assert.is((e as SwitchExit).code, 11);
      assert.equal((e as SwitchExit).lines, ["Could not acquire lock"]);
    } finally {
      holder.kill();
    }
  });
});

test.run();
