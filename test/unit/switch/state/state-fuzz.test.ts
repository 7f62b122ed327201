/**
 * Seeded fuzzing of switch-to-configuration's state in /run/nixos, as a killed switch, an old
 * version or a mistake leaves it: the list files (start, restart, reload, the activation's and the
 * dry activation's), restart-debt.json, the lock and a killed switch's temporaries, each missing,
 * mangled (junk lines, CRLF, NUL, invalid UTF-8, huge lines and files, names that are patterns or
 * paths), binary, a FIFO, a directory, a link out of the root, a dangling link or a link loop.
 * What must hold (docs/switch.md, "No list file can stop every later switch"): `status` reads it
 * without an exception; a switch over it ends in 0 or 4, never an exception or a hang; and the next
 * switch, with nothing planted again, ends in 0, starts no unit the junk named and warns of nothing.
 * Replay one case: STAGEHAND_FUZZ_SEED=N bun test/unit/switch/state/state-fuzz.test.ts
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fuzzSeeds, Random } from "../../../harness/random.ts";
import { heartbeat } from "../../../harness/watchdog.ts";
import { tempPathFor } from "../../../../src/fs/staged.ts";
import { DEBT_FILE, loadDebt } from "../../../../src/switch/state/debt.ts";
import { LIST_NAMES, readList } from "../../../../src/switch/state/lists.ts";
import { formatStatus } from "../../../../src/switch/state/status.ts";
import { LOCK_NAME } from "../../../../src/switch/host/lock.ts";
import type { Action } from "../../../../src/switch/host/contract.ts";
import { tempDir } from "../../tmp.ts";
import { machine, switchTo, write } from "../run/machine.ts";

/** In the file a link out of the root points to: must never be taken for a unit. */
const SECRET = "root:$6$secret-hash:19000:0:99999:7:::";
const BOOT_ID = (() => { try { return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim(); } catch { return ""; } })();

/** Lines a list file may hold, sane and not. */
const LINES = ["a.service", "b.service", "mnt-my\\x2ddata.mount", "x@y.service", "a\0@b.service", "c\0.service", "", " ", "a.service\r", "\r", "-.mount", "nix.mount",
  "sysinit.target", "foo.slice", "foo.path", "multi-user.target", "../../../etc/passwd", "a/b@c.service", "é.service", "*.service", "a.service b.service", "\u2028", "\ufeff", "@.service", ".service"];

function listContent(r: Random): Buffer {
  switch (r.int(25)) {
    case 0: case 1: return Buffer.from(r.bytes(r.int(3000)));
    case 2: return Buffer.from(Array.from({ length: 20_000 + r.int(30_000) }, (_, i) => `u${i}.service\n`).join(""));
    case 3: return Buffer.from(`${"x".repeat(500_000 + r.int(500_000))}.service\n`);
    default: {
      const parts: Buffer[] = [];
      for (let i = r.int(12); i > 0; i--) {
        parts.push(Buffer.from(r.pick(LINES)));
        if (r.chance(0.1)) parts.push(Buffer.from([0x80 + r.int(0x80)])); // a byte that is no UTF-8
        parts.push(Buffer.from(r.pick(["\n", "\n", "\n", "\r\n", "\r", "\n\n"])));
      }
      if (r.chance(0.3) && parts.length > 0) parts.pop(); // no newline at the end
      return Buffer.concat(parts);
    }
  }
}

function debtContent(r: Random): string | Buffer {
  const entry = () => ({
    unit: r.pick(["a.service", "b.service", "", "c\nd.service", 7, null]), reason: r.pick(["r", "X-RestartIfChanged=false", "", {}, "\u001b[2J"]),
    since: r.pick(["/nix/store/x", "", null]), sinceTime: r.pick(["2026-01-02T03:04:05.000Z", "yesterday", 0]), ...(r.chance(0.5) ? { invocationId: r.pick(["0123456789abcdef0123456789abcdef", "x", 1]) } : {}),
    ...(r.chance(0.1) ? { __proto__: { polluted: 1 } } : {}),
  });
  const doc = { version: r.pick([1, 1, 1, 2, "1"]), bootId: r.pick([BOOT_ID, BOOT_ID, "other", 5]), entries: r.chance(0.9) ? Array.from({ length: r.int(6) }, entry) : "none" };
  const text = JSON.stringify(doc);
  switch (r.int(8)) {
    case 0: return Buffer.from(r.bytes(r.int(2000)));
    case 1: return "[".repeat(1_000_000);
    case 2: return text.slice(0, r.int(text.length));
    case 3: return JSON.stringify({ ...doc, entries: Array.from({ length: 100_000 }, () => ({ unit: "a.service", reason: "r", since: "/g", sinceTime: "2026-01-02T03:04:05.000Z" })) });
    case 4: return '{"__proto__": {"polluted": 1}, "version": 1, "entries": []}';
    default: return text;
  }
}

/** Puts something hostile (or nothing) at `path`. */
function plant(r: Random, root: string, outside: string, path: string, content: () => string | Buffer): string {
  const kind = r.pick(["none", "none", "file", "file", "file", "fifo", "dir", "link-out", "dangling", "loop", "link-fifo"]);
  switch (kind) {
    case "file": writeFileSync(path, content()); break;
    case "fifo": execFileSync("mkfifo", [path]); break;
    case "dir": mkdirSync(path); writeFileSync(join(path, "a.service"), "a.service\n"); break;
    case "link-out": symlinkSync(join(outside, "secret"), path); break;
    case "dangling": symlinkSync(join(root, "nowhere", "x"), path); break;
    case "loop": symlinkSync(path, path); break;
    case "link-fifo": symlinkSync(join(outside, "fifo"), path); break;
  }
  return kind;
}

/** A root whose /run/nixos holds hostile state; what was planted where. */
function hostileMachine(r: Random) {
  const m = machine();
  write(join(m.toplevel, "dry-activate"), "#!/bin/sh\necho dry\n", 0o755);
  const outside = tempDir("state-fuzz-outside-");
  writeFileSync(join(outside, "secret"), `${SECRET}\nsecret.service\n`);
  execFileSync("mkfifo", [join(outside, "fifo")]);
  const run = join(m.root, "run/nixos");
  mkdirSync(run, { recursive: true });
  const planted: string[] = [];
  for (const name of Object.values(LIST_NAMES)) planted.push(`${name}: ${plant(r, m.root, outside, join(run, name), () => listContent(r))}`);
  planted.push(`${DEBT_FILE}: ${plant(r, m.root, outside, join(run, DEBT_FILE), () => debtContent(r))}`);
  if (r.chance(0.2)) planted.push(`${LOCK_NAME}: ${plant(r, m.root, outside, join(run, LOCK_NAME), () => "")}`);
  for (const name of [LIST_NAMES.start, LIST_NAMES.reload, DEBT_FILE]) {
    if (r.chance(0.15)) planted.push(`temporary of ${name}: ${plant(r, m.root, outside, tempPathFor(join(run, name)), () => listContent(r))}`);
  }
  return { m, run, planted };
}

/** A name D-Bus cannot carry is refused for that one call, as the real client refuses it. */
const fakeBus = { onSubmit: (_verb: string, unit: string) => { if (unit.includes("\0")) throw new TypeError("a D-Bus string cannot hold a NUL byte"); } };

test("hostile state in /run/nixos: status reads it, a switch over it ends in 0 or 4, and the next switch is clean", async () => {
  for (const seed of fuzzSeeds(60)) {
    const r = new Random(seed);
    const { m, run, planted } = hostileMachine(r);
    const label = `seed ${seed} (${planted.filter((p) => !p.endsWith(": none")).join("; ")})`;
    heartbeat("state-fuzz", label);
    const t0 = performance.now();

    // `stagehand status`: the debt and the pending lists, as the command reads them.
    const pending: Record<string, string[]> = {};
    for (const name of [LIST_NAMES.start, LIST_NAMES.restart, LIST_NAMES.reload]) {
      try { pending[name] = readList(join(run, name)); } catch { pending[name] = []; }
    }
    const debt = loadDebt(run, BOOT_ID);
    for (const e of debt) assert.ok(!/[\x00-\x1f]/.test(e.unit + e.reason + e.since), `${label}: no control character in a debt entry`);
    formatStatus({ debt, pending });
    assert.is(({} as Record<string, unknown>).polluted, undefined, `${label}: Object.prototype untouched`);

    const action: Action = r.chance(0.2) ? "dry-activate" : "test";
    let first;
    try {
      first = await switchTo(m, action, fakeBus);
    } catch (e) {
      throw new Error(`${label}: the switch over the hostile state threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
    }
    assert.ok(first.status === 0 || first.status === 4, `${label}: status ${first.status}\n${first.lines.join("\n")}`);
    heartbeat("state-fuzz", `${label}, second switch`);
    let second;
    try {
      second = await switchTo(m, "test", fakeBus);
    } catch (e) {
      throw new Error(`${label}: the switch after it threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
    }
    const jobs = second.events.filter((e) => e.startsWith("submit ")).map((e) => e.split(" ").slice(2).join(" "));
    if (action === "test") {
      assert.is(second.status, 0, `${label}: the next switch ends in 0\n${second.lines.join("\n")}`);
      assert.equal([...new Set(jobs)].sort(), ["a.service", "sysinit-reactivation.target"], `${label}: the next switch handles a.service only`);
      assert.equal(second.lines.filter((l) => /warning|Failed/i.test(l)), [], `${label}: the next switch warns of nothing`);
    }
    for (const l of [...first.lines, ...second.lines, ...first.events, ...second.events]) assert.not.ok(l.includes("secret"), `${label}: nothing from outside the root: ${l.slice(0, 200)}`);
    const ms = performance.now() - t0;
    assert.ok(ms < 10_000, `${label}: ${ms.toFixed(0)} ms`);
  }
});

test.run();
