/**
 * The etc step during a real switch: a booted container (systemd as PID 1), generations whose
 * `activate` runs `stagehand activate` over a graph holding the `etc` builtin step, switched to
 * with switch-to-configuration. /etc must follow each generation, and the machine keep running.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createHash } from "node:crypto";
import type { Container } from "../harness/container.ts";
import { buildGeneration, type Generation } from "../harness/generation.ts";
import { assertContains, bootSwitchMachine, nixos, runSwitch } from "./switch-helpers.ts";

let c: Container;

/** An etc entry added to a built generation's tree, as etc.nix makes it. */
interface Entry { text: string; mode?: string; user?: string; group?: string }

const GRAPH = `[steps.etc]
builtin = "etc"
supportsDryActivation = true
options = { etc = "\${systemConfig}/etc" }
`;

/** A generation whose activation is stagehand's graph, with extra etc entries. */
function generation(name: string, entries: Record<string, Entry>): Generation {
  const gen = buildGeneration(c.root, nixos({
    name,
    activateScript: '/usr/local/bin/stagehand activate "$systemConfig"',
    dryActivate: '/usr/local/bin/stagehand activate --dry "$systemConfig"',
  }));
  for (const [target, e] of Object.entries(entries)) {
    const src = `/nix/store/${createHash("sha256").update(target + e.text).digest("hex").slice(0, 32)}-etc-${target.replace(/\//g, "-")}`;
    writeFileSync(join(c.root, src), e.text);
    const link = join(c.root, gen.etc, target);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(src, link);
    if (e.mode) {
      writeFileSync(`${link}.mode`, `${e.mode}\n`);
      writeFileSync(`${link}.uid`, `${e.user ?? "+0"}\n`);
      writeFileSync(`${link}.gid`, `${e.group ?? "+0"}\n`);
    }
  }
  writeFileSync(join(c.root, gen.toplevel, "activation-graph.toml"), GRAPH);
  return gen;
}

test.before(async () => {
  ({ c } = await bootSwitchMachine("etc"));
});
test.after(async () => {
  await c?.halt();
});

test("switching sets up /etc with the etc step; the next switch cleans up after it", () => {
  const a = generation("etc-a", {
    "stagehand-test/link": { text: "one\n" },
    "stagehand-test/secret": { text: "s3cret\n", mode: "0440", user: "nobody", group: "nogroup" },
    "stagehand-test/direct": { text: "direct\n", mode: "direct-symlink" },
  });
  let r = runSwitch(c, a, "test");
  assert.is(r.status, 0, r.out);
  assertContains(r.out, "setting up /etc...");
  assert.is(c.must(`readlink /etc/static`).trim(), a.etc);
  assert.is(c.must("cat /etc/stagehand-test/link").trim(), "one");
  assert.is(c.must("stat -c '%a %U:%G' /etc/stagehand-test/secret").trim(), "440 nobody:nogroup");
  assert.is(c.must("readlink /etc/stagehand-test/direct").trim().startsWith("/nix/store/"), true);
  assert.is(c.must("cat /etc/.clean"), "stagehand-test/direct\nstagehand-test/secret\n");

  const b = generation("etc-b", { "stagehand-test/link": { text: "two\n" } });
  r = runSwitch(c, b, "test");
  assert.is(r.status, 0, r.out);
  assertContains(r.out, "removing obsolete file ‘/etc/stagehand-test/secret’...");
  assertContains(r.out, "removing obsolete file ‘/etc/stagehand-test/direct’...");
  assert.is(c.must("cat /etc/stagehand-test/link").trim(), "two");
  assert.is(c.sh("test -e /etc/stagehand-test/secret").status, 1);
  assert.is(c.must("cat /etc/.clean"), "");
  assert.ok(/running|degraded/.test(c.sh("systemctl is-system-running").stdout), "the machine still runs");
});

test("dry-activate shows the etc plan and changes nothing", () => {
  const d = generation("etc-d", { "stagehand-test/link": { text: "three\n" }, "stagehand-test/new": { text: "n\n" } });
  const before = c.must("ls -la /etc/stagehand-test");
  const r = runSwitch(c, d, "dry-activate");
  assert.is(r.status, 0, r.out);
  assertContains(r.out, "would link ‘/etc/stagehand-test/new’ to /etc/static/stagehand-test/new");
  assert.is(c.must("ls -la /etc/stagehand-test"), before);
});

test.run();
