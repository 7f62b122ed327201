import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { InputFileError } from "../../../../src/fs/read.ts";
import { appendToList, readList, removeFromList, sweepListTemps, SwitchLists } from "../../../../src/switch/state/lists.ts";
import { tempPathFor } from "../../../../src/fs/staged.ts";
import { tempDir } from "../../tmp.ts";

const tmp = () => tempDir("stc-lists-");

test("a missing list reads as empty; blank lines and duplicates are dropped", () => {
  const d = tmp();
  assert.equal(readList(join(d, "start-list")), []);
  writeFileSync(join(d, "start-list"), "a.service\n\nb.service\na.service\n");
  assert.equal(readList(join(d, "start-list")), ["a.service", "b.service"]);
});

test("append keeps what was there and adds one unit a line", () => {
  const d = tmp();
  const p = join(d, "restart-list");
  appendToList(p, ["a.service"]);
  appendToList(p, ["b.service", "c.mount"]);
  assert.is(readFileSync(p, "utf8"), "a.service\nb.service\nc.mount\n");
});

test("names are compared literally, never as patterns (mnt-my\\x2ddata.mount)", () => {
  const d = tmp();
  const p = join(d, "reload-list");
  appendToList(p, ["mnt-my\\x2ddata.mount", "mnt-myx2ddata.mount", "a.service"]);
  removeFromList(p, "mnt-my\\x2ddata.mount");
  assert.equal(readList(p), ["mnt-myx2ddata.mount", "a.service"]);
  removeFromList(p, "a.servic.");
  assert.equal(readList(p), ["mnt-myx2ddata.mount", "a.service"], "a dot is not a wildcard");
});

test("a dry SwitchLists reads but never writes, except consuming the dry-activation lists", () => {
  const d = tmp();
  writeFileSync(join(d, "start-list"), "a.service\n");
  writeFileSync(join(d, "dry-activation-restart-list"), "x.service\n");
  const l = new SwitchLists(d, true);
  assert.equal(l.read("start"), ["a.service"]);
  l.record("start", "b.service");
  l.unrecord("start", "a.service");
  l.remove("start");
  assert.is(readFileSync(join(d, "start-list"), "utf8"), "a.service\n");
  l.record("reload", "c.service");
  assert.not.ok(existsSync(join(d, "reload-list")));
  l.remove("dryActivationRestart");
  assert.not.ok(existsSync(join(d, "dry-activation-restart-list")));
});

test("a real SwitchLists records, unrecords and removes", () => {
  const d = tmp();
  const l = new SwitchLists(d, false);
  l.record("start", "a.service", "b.service");
  l.unrecord("start", "a.service");
  assert.equal(l.read("start"), ["b.service"]);
  l.remove("start");
  assert.not.ok(l.exists("start"));
  l.remove("start"); // removing twice is fine
});

test("a list file that is not a regular file is refused by name, not read (a FIFO would block)", () => {
  const d = tmp();
  const p = join(d, "reload-list");
  assert.is(spawnSync("mkfifo", [p]).status, 0);
  assert.throws(() => readList(p), (e: Error) => e instanceof InputFileError && e.path === p && /is a FIFO/.test(e.message));
  assert.throws(() => removeFromList(p, "a.service"), (e: Error) => e instanceof InputFileError);
});

test("appending to a list file that is a FIFO, a symlink or a directory is refused at once: no hang, nothing followed", () => {
  const d = tmp();
  const fifo = join(d, "start-list");
  assert.is(spawnSync("mkfifo", [fifo]).status, 0);
  assert.throws(() => appendToList(fifo, ["a.service"]), (e: Error) => e instanceof InputFileError && e.path === fifo);
  const target = join(d, "elsewhere");
  writeFileSync(target, "");
  const link = join(d, "restart-list");
  symlinkSync(target, link);
  assert.throws(() => appendToList(link, ["a.service"]), (e: Error) => e instanceof InputFileError && e.path === link);
  assert.is(readFileSync(target, "utf8"), "", "not written through the link");
  const dir = join(d, "reload-list");
  mkdirSync(dir);
  assert.throws(() => appendToList(dir, ["a.service"]), (e: Error) => e instanceof InputFileError && e.path === dir);
});

test("a list that cannot be read is reported, read as empty and moved aside (not when dry): it cannot stop every later switch", () => {
  const d = tmp();
  mkdirSync(join(d, "start-list"));
  assert.is(spawnSync("mkfifo", [join(d, "reload-list")]).status, 0);
  const warnings: string[] = [];
  const dry = new SwitchLists(d, true, (l) => warnings.push(l));
  assert.equal(dry.read("start"), []);
  assert.ok(existsSync(join(d, "start-list")), "a dry run moves nothing");
  const l = new SwitchLists(d, false, (w) => warnings.push(w));
  assert.equal(l.read("start"), []);
  assert.equal(l.read("reload"), []);
  assert.equal(warnings.length, 3);
  assert.match(warnings[0]!, /^warning: switch list file: .*start-list: is a directory, not a regular file; read as empty$/);
  assert.match(warnings[1]!, /start-list: is a directory, not a regular file; read as empty; moved to .*start-list\.broken-\d+$/);
  assert.match(warnings[2]!, /reload-list: is a FIFO, not a regular file; read as empty; moved to /);
  assert.not.ok(existsSync(join(d, "start-list")));
  // The next switch records and reads its lists as usual.
  l.record("start", "a.service");
  assert.equal(l.read("start"), ["a.service"]);
});

test("a symlink at a list's name (dangling, or out of the root) is not followed: reported, read as empty, moved aside; the next record works", () => {
  // Read through and never moved aside, a dangling one stopped every later switch at its first append.
  const d = tmp();
  const outside = join(tmp(), "shadow");
  writeFileSync(outside, "root:$6$hash:19000::::::\n");
  symlinkSync(outside, join(d, "restart-list"));
  symlinkSync(join(d, "nowhere", "x"), join(d, "start-list"));
  const warnings: string[] = [];
  const l = new SwitchLists(d, false, (w) => warnings.push(w));
  assert.equal(l.read("restart"), []);
  assert.equal(l.read("start"), []);
  assert.match(warnings[0]!, /restart-list: is a symbolic link, not a regular file; read as empty; moved to .*restart-list\.broken-\d+$/);
  assert.match(warnings[1]!, /start-list: is a symbolic link, not a regular file; read as empty; moved to /);
  l.record("start", "a.service");
  assert.equal(l.read("start"), ["a.service"]);
  assert.is(readFileSync(outside, "utf8"), "root:$6$hash:19000::::::\n", "the link's target untouched");
});

test("a dry run moves aside a dry-activation list that cannot be read (it deletes them anyway), so removing it cannot fail every dry-activate", () => {
  const d = tmp();
  mkdirSync(join(d, "dry-activation-restart-list"));
  mkdirSync(join(d, "start-list"));
  const warnings: string[] = [];
  const dry = new SwitchLists(d, true, (w) => warnings.push(w));
  assert.equal(dry.read("dryActivationRestart"), []);
  assert.match(warnings[0]!, /dry-activation-restart-list: is a directory, not a regular file; read as empty; moved to /);
  dry.remove("dryActivationRestart");
  assert.equal(dry.read("start"), []);
  assert.ok(existsSync(join(d, "start-list")), "the lists of a real switch are left as they are");
});

test("lines as ng's str::lines reads them: a CR before LF dropped (not on a last line without LF); bytes that are no UTF-8 make the list unreadable, as ng's read_to_string", () => {
  const d = tmp();
  const p = join(d, "start-list");
  writeFileSync(p, "a.service\r\nb.service\r\n\r\nc.service\r");
  assert.equal(readList(p), ["a.service", "b.service", "c.service\r"]);
  removeFromList(p, "b.service");
  assert.is(readFileSync(p, "utf8"), "a.service\nc.service\r\n");
  // No U+FFFD name ever reaches systemd: ng reads such a list as empty; we report and move it aside.
  writeFileSync(p, Buffer.from([0x61, 0xff, 0x2e, 0x73, 0x65, 0x72, 0x76, 0x69, 0x63, 0x65, 0x0a]));
  removeFromList(p, "a.service"); // as ng's unrecord_unit: left as it is
  assert.ok(existsSync(p));
  const warned: string[] = [];
  assert.equal(new SwitchLists(d, false, (l) => warned.push(l)).read("start"), []);
  assert.match(warned.join("\n"), /start-list: is not valid UTF-8; read as empty; moved to /);
  assert.not.ok(existsSync(p));
});

test("sweepListTemps: a killed switch's temporaries beside its lists (and the files named) are removed, nothing else", () => {
  const d = tmp();
  const mine = [tempPathFor(join(d, "reload-list")), tempPathFor(join(d, "start-list")), tempPathFor(join(d, "restart-debt.json"))];
  const other = tempPathFor(join(d, "someone-elses"));
  for (const p of [...mine, other]) writeFileSync(p, "x\n");
  writeFileSync(join(d, "reload-list"), "a.service\n");
  assert.equal(sweepListTemps(d, ["restart-debt.json"]).length, 3);
  for (const p of mine) assert.not.ok(existsSync(p), p);
  assert.ok(existsSync(other));
  assert.equal(readList(join(d, "reload-list")), ["a.service"]);
});

test.run();
