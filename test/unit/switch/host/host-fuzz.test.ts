/**
 * Seeded fuzzing of what a switch reads of its host before it plans: /etc/os-release and /etc/NIXOS
 * (the NixOS check), the init interface versions, and the switch lock, each random bytes, mangled
 * lines, huge, a FIFO, a directory, a link or missing. The result is ng's, by a model of ng's code
 * (main.rs: `read_to_string`, `lines()`, `split_once('=')`, `^"?ID"?$`, `Path::is_file`), or
 * SwitchExit with ng's message where ng fails; never another exception or a hang.
 * Replay one case: STAGEHAND_FUZZ_SEED=N bun test/unit/switch/host/host-fuzz.test.ts
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fuzzSeeds, Random } from "../../../harness/random.ts";
import { heartbeat } from "../../../harness/watchdog.ts";
import { isNixos } from "../../../../src/switch/host/contract.ts";
import { SwitchExit } from "../../../../src/switch/host/exit.ts";
import { checkInitInterfaceVersion } from "../../../../src/switch/host/interface-version.ts";
import { acquireSwitchLock } from "../../../../src/switch/host/lock.ts";
import { tempDir } from "../../tmp.ts";

const OS_LINES = ["ID=nixos", 'ID="nixos"', 'ID=nixos"', 'ID="nixos', "ID='nixos'", "ID=debian", "ID = nixos", " ID=nixos", "ID=nixos ", "ID==nixos", "IDnixos", "ID=",
  "ID=nixos\r", "ID=nix.s", "ID=NIXOS", "\ufeffID=nixos", "NAME=NixOS", "# ID=nixos", "VERSION_ID=\"25.11\"", "", "ID=nixos\0", "ID=\"\"nixos\"\""];

/** What the file is: bytes, or another kind of thing. */
type Planted = { bytes: Buffer } | { kind: "missing" | "fifo" | "dir" | "link-fifo" | "dangling" | "loop" } | { link: Buffer };

function text(r: Random, lines: readonly string[]): Buffer {
  if (r.chance(0.1)) return Buffer.from(r.bytes(r.int(300)));
  const parts: Buffer[] = [];
  for (let i = r.int(6); i > 0; i--) {
    parts.push(Buffer.from(r.pick(lines)));
    if (r.chance(0.05)) parts.push(Buffer.from([0x80 + r.int(0x80)]));
    parts.push(Buffer.from(r.pick(["\n", "\n", "\r\n", "\r"])));
  }
  if (r.chance(0.3) && parts.length > 0) parts.pop();
  return Buffer.concat(parts);
}

function planted(r: Random, content: () => Buffer, huge: number): Planted {
  const k = r.int(20);
  if (k < 12) return { bytes: content() };
  if (k === 12) return { bytes: Buffer.alloc(huge + 1 + r.int(100), "x") };
  if (k === 13) return { link: content() };
  return { kind: r.pick(["missing", "fifo", "dir", "link-fifo", "dangling", "loop"] as const) };
}

/** Puts `p` at `path`; `scratch` holds the targets of links. */
function put(path: string, p: Planted, scratch: string): void {
  mkdirSync(join(path, ".."), { recursive: true });
  if ("bytes" in p) return writeFileSync(path, p.bytes);
  if ("link" in p) {
    const target = join(scratch, `target-${Math.random().toString(36).slice(2)}`);
    writeFileSync(target, p.link);
    return symlinkSync(target, path);
  }
  switch (p.kind) {
    case "missing": return;
    case "fifo": execFileSync("mkfifo", [path]); return;
    case "dir": mkdirSync(path); return;
    case "link-fifo": { const f = join(scratch, `fifo-${Math.random().toString(36).slice(2)}`); execFileSync("mkfifo", [f]); symlinkSync(f, path); return; }
    case "dangling": symlinkSync(join(scratch, "nowhere"), path); return;
    case "loop": symlinkSync(path, path); return;
  }
}

/** The content ng's `read_to_string` gets: a regular file's bytes as UTF-8, or undefined where it fails (or, for a FIFO, blocks). */
function ngReads(p: Planted, maxBytes: number): string | undefined {
  const bytes = "bytes" in p ? p.bytes : "link" in p ? p.link : undefined;
  if (bytes === undefined || bytes.length > maxBytes) return undefined; // stagehand refuses what ng would read without end or block at
  try { return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes); } catch { return undefined; }
}

/** ng's `lines()`: split at LF, a CR before an LF dropped (a last CR without LF stays). */
function rustLines(s: string): string[] {
  if (s === "") return [];
  const parts = s.split("\n");
  if (parts[parts.length - 1] === "") parts.pop();
  return parts.map((l, i) => (l.endsWith("\r") && (i < parts.length - 1 || s.endsWith("\n")) ? l.slice(0, -1) : l));
}

test("os-release and /etc/NIXOS: ng's verdict, or ng's 'Failed to parse os-release'", () => {
  for (const seed of fuzzSeeds(400)) {
    const r = new Random(seed);
    const root = tempDir("host-fuzz-");
    const scratch = tempDir("host-fuzz-out-");
    const os = planted(r, () => text(r, OS_LINES), 64 << 10);
    const marker = r.chance(0.5) ? ({ kind: "missing" } as Planted) : planted(r, () => Buffer.from(""), 1 << 20);
    put(join(root, "etc/os-release"), os, scratch);
    put(join(root, "etc/NIXOS"), marker, scratch);
    heartbeat("host-fuzz", `seed ${seed} os-release`);
    const osText = ngReads(os, 64 << 10);
    let got: boolean | string;
    try {
      got = isNixos(root, "nixos");
    } catch (e) {
      if (!(e instanceof SwitchExit)) throw new Error(`seed ${seed}: untyped ${(e as Error)?.name}: ${(e as Error)?.message}`);
      got = `exit ${e.code}: ${e.lines[0]}`;
    }
    let want: boolean | string;
    if (osText === undefined) want = "exit 1: Error: Failed to parse os-release";
    else if ("bytes" in marker || "link" in marker) want = true;
    else {
      const ids = rustLines(osText).filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] as const).filter(([k]) => k === "ID");
      const id = ids.length > 0 ? ids[ids.length - 1]![1] : undefined;
      want = id !== undefined && /^"?nixos"?$/.test(id);
    }
    assert.is(got, want, `seed ${seed}: ${JSON.stringify(os).slice(0, 300)} / ${JSON.stringify(marker).slice(0, 60)}`);
  }
});

test("init interface versions: ng's verdict (100 on a difference, 1 without a readable new file), never a hang", () => {
  for (const seed of fuzzSeeds(300)) {
    const r = new Random(seed);
    const dir = tempDir("host-fuzz-iv-");
    const scratch = tempDir("host-fuzz-out-");
    const words = ["systemd", "systemd 2", "systemd\n", "systemd 2\n", "", "\ufeffsystemd", "systemd\r\n"];
    const sameish = r.pick(words);
    const content = () => (r.chance(0.15) ? Buffer.from(r.bytes(r.int(20))) : Buffer.from(r.chance(0.5) ? sameish : r.pick(words)));
    const cur = planted(r, content, 4096);
    const next = planted(r, content, 4096);
    put(join(dir, "current"), cur, scratch);
    put(join(dir, "top/init-interface-version"), next, scratch);
    heartbeat("host-fuzz", `seed ${seed} interface version`);
    let got: string;
    try {
      checkInitInterfaceVersion(join(dir, "top"), join(dir, "current"));
      got = "same";
    } catch (e) {
      if (!(e instanceof SwitchExit)) throw new Error(`seed ${seed}: untyped ${(e as Error)?.name}: ${(e as Error)?.message}`);
      got = `exit ${e.code}`;
    }
    const n = ngReads(next, 4096);
    const want = n === undefined ? "exit 1" : (ngReads(cur, 4096) ?? "") === n ? "same" : "exit 100";
    assert.is(got, want, `seed ${seed}: current ${JSON.stringify(cur)}, new ${JSON.stringify(next)}`);
  }
});

test("the switch lock: taken over whatever is at its name (moved aside if not a regular file), or ng's 'Could not acquire lock'", () => {
  for (const seed of fuzzSeeds(60)) {
    const r = new Random(seed);
    const dir = tempDir("host-fuzz-lock-");
    const scratch = tempDir("host-fuzz-out-");
    put(join(dir, "switch-to-configuration.lock"), planted(r, () => Buffer.from(r.bytes(r.int(50))), 4096), scratch);
    heartbeat("host-fuzz", `seed ${seed} lock`);
    let lock;
    try {
      lock = acquireSwitchLock(dir);
    } catch (e) {
      throw new Error(`seed ${seed}: ${(e as Error)?.name}: ${(e as Error)?.message}`);
    }
    try {
      assert.throws(() => acquireSwitchLock(dir), (e: Error) => e instanceof SwitchExit && e.code === 11, `seed ${seed}: held`);
    } finally {
      lock.release();
    }
    acquireSwitchLock(dir).release();
  }
});

test.run();
