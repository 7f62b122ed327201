/**
 * `stagehand plan OLD NEW` on generations that are not what they should be (issue 14 §4): a FIFO or
 * a device where a unit file, drop-in or fstab should be is refused by name instead of blocking or
 * being read without end; a unit directory that loops on itself is reported as a loop, not as
 * missing. The CLI cases run in a child with a generous kill timer, so a regression (a hang) fails
 * the test instead of stalling the suite; nothing is asserted about time.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { InputFileError } from "../../../src/fs/read.ts";
import { generationUnitDirectory, loadGenerationsInput } from "../../../src/switch/load.ts";
import { planSwitch } from "../../../src/switch/plan/index.ts";
import { UnitDirectoryError } from "../../../src/units/dir.ts";
import { generation, simpleService } from "./helpers.ts";

const MAIN = join(import.meta.dir, "../../../src/main.ts");
/** Runs `stagehand ARGS`; a child still running after 60 s is killed (status null: it hung). */
const cli = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8", timeout: 60_000, killSignal: "SIGKILL" });

const mkfifo = (p: string) => {
  const r = spawnSync("mkfifo", [p]);
  assert.is(r.status, 0, `mkfifo ${p}`);
};

test("a FIFO as a unit file: plan fails naming it instead of hanging", () => {
  const o = generation({ "test.service": simpleService({ ExecStart: "/bin/a" }) });
  const n = generation({});
  const fifo = join(n, "etc/systemd/system/test.service");
  mkfifo(fifo);
  const r = cli("plan", o, n);
  assert.is.not(r.status, null, "plan hung on a FIFO");
  assert.is(r.status, 1);
  assert.match(r.stderr, /unit file: .*test\.service: is a FIFO, not a regular file/);
  assert.ok(r.stderr.includes(fifo), r.stderr);
});

test("a FIFO as a drop-in, a device as a unit file, a FIFO as fstab: refused by name", () => {
  const o = generation({ "a.service": simpleService({ ExecStart: "/bin/a" }), "b.service": simpleService({ ExecStart: "/bin/b" }) });
  const n = generation({ "a.service": simpleService({ ExecStart: "/bin/a" }), "b.service": { link: "/dev/zero" } });
  mkdirSync(join(n, "etc/systemd/system/a.service.d"));
  mkfifo(join(n, "etc/systemd/system/a.service.d/x.conf"));
  assert.throws(() => planSwitch(loadGenerationsInput(o, n)), (e: Error) =>
    e instanceof InputFileError && e.problem === "not-regular" && /a\.service\.d\/x\.conf: is a FIFO/.test(e.message) && /unit drop-in/.test(e.message));
  rmSync(join(n, "etc/systemd/system/a.service.d"), { recursive: true });
  assert.throws(() => planSwitch(loadGenerationsInput(o, n)), (e: Error) =>
    e instanceof InputFileError && /b\.service: is a character device/.test(e.message));

  const f = generation({}, undefined);
  mkfifo(join(f, "etc/fstab"));
  const r = cli("plan", o, f);
  assert.is.not(r.status, null, "plan hung on a FIFO fstab");
  assert.is(r.status, 1);
  assert.match(r.stderr, /fstab: .*etc\/fstab: is a FIFO/);
});

test("a FIFO given as --active is refused by name", () => {
  const o = generation({ "test.service": simpleService({ ExecStart: "/bin/a" }) });
  const fifo = join(o, "active.json");
  mkfifo(fifo);
  const r = cli("plan", o, o, "--active", fifo);
  assert.is.not(r.status, null, "plan hung on a FIFO --active");
  assert.is(r.status, 1);
  assert.match(r.stderr, /--active file: .*active\.json: is a FIFO/);
});

test("a unit directory that loops on itself is a loop, not a missing directory", () => {
  const top = generation({});
  const dir = join(top, "etc/systemd/system");
  rmSync(dir, { recursive: true });
  symlinkSync("system", dir);
  assert.throws(() => generationUnitDirectory(top), (e: Error) =>
    e instanceof UnitDirectoryError && e.path === dir && /symlink loop \(ELOOP\)/.test(e.message) && !/no etc\/systemd\/system/.test(e.message));
  const r = cli("plan", top, top);
  assert.is(r.status, 1);
  assert.match(r.stderr, /etc\/systemd\/system: symlink loop \(ELOOP\)/);
  // Not a directory at all: said so too.
  const file = generation({});
  rmSync(join(file, "etc/systemd/system"), { recursive: true });
  writeFileSync(join(file, "etc/systemd/system"), "");
  assert.throws(() => generationUnitDirectory(file), /etc\/systemd\/system: not a directory/);
  // Missing is still "no etc/systemd/system".
  assert.throws(() => generationUnitDirectory("/nonexistent-generation"), /no etc\/systemd\/system in this generation/);
});

test("a drop-in folder that loops on itself holds no drop-ins, as systemd reads it", () => {
  const o = generation({ "a.service": simpleService({ ExecStart: "/bin/a" }) });
  const n = generation({ "a.service": simpleService({ ExecStart: "/bin/a" }) });
  symlinkSync("a.service.d", join(n, "etc/systemd/system/a.service.d"));
  const plan = planSwitch(loadGenerationsInput(o, n));
  assert.equal(Object.keys(plan.restart), []);
  assert.equal(Object.keys(plan.stop), []);
});

test.run();
