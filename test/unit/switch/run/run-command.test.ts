import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { MAX_LINE_BYTES, runChild } from "../../../../src/switch/run/run-command.ts";
import { tempDir } from "../../tmp.ts";

function collect() {
  const lines: { out: string[]; err: string[]; bytes: Buffer[] } = { out: [], err: [], bytes: [] };
  const text = (l: Uint8Array) => Buffer.from(l).toString("utf8");
  return { lines, sink: { stdout: (l: Uint8Array) => { lines.out.push(text(l)); lines.bytes.push(Buffer.from(l)); }, stderr: (l: Uint8Array) => lines.err.push(text(l)) } };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test("lines of both streams reach the sink with their newlines, the last one without one too", async () => {
  const { lines, sink } = collect();
  const r = await runChild(["sh", "-c", "echo a; echo b >&2; printf c; exit 3"], process.env, sink);
  assert.is(r.status, 3);
  assert.equal(lines.out, ["a\n", "c"]);
  assert.equal(lines.err, ["b\n"]);
});

test("output is passed on byte for byte, as ng passes it: bytes that are not UTF-8 stay, no newline is added", async () => {
  const { lines, sink } = collect();
  await runChild(["sh", "-c", "printf 'caf\\351 \\377\\n'; printf no-newline"], process.env, sink);
  assert.equal(Buffer.concat(lines.bytes), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0xff, 0x0a, ...Buffer.from("no-newline")]));
});

test("a process the child leaves in the background, holding the pipes, is not waited for", async () => {
  // As ng, which waits only for the child's exit: an activation snippet's `daemon &` must not hang
  // the switch with its units stopped.
  const dir = tempDir("run-child-");
  const pidFile = join(dir, "pid");
  const { lines, sink } = collect();
  const r = await runChild(["sh", "-c", `echo started; sleep 60 & echo $! > ${pidFile}; exit 0`], process.env, sink);
  const pid = Number(readFileSync(pidFile, "utf8"));
  try {
    assert.is(r.status, 0);
    assert.equal(lines.out, ["started\n"]);
    assert.ok(alive(pid), "resolved while the background process still runs");
  } finally {
    process.kill(pid, "SIGKILL");
  }
});

test("output without newlines is passed on in bounded pieces", async () => {
  const { lines, sink } = collect();
  const r = await runChild(["sh", "-c", `head -c ${MAX_LINE_BYTES * 3 + 5} /dev/zero | tr '\\0' x`], process.env, sink);
  assert.is(r.status, 0);
  assert.equal(lines.out.map((l) => l.length), [MAX_LINE_BYTES, MAX_LINE_BYTES, MAX_LINE_BYTES, 5]);
});

test("a program that cannot be started is reported, not thrown", async () => {
  const r = await runChild(["/nonexistent/program"], process.env, collect().sink);
  assert.ok(r.spawnError || r.status !== 0);
});

test.run();
