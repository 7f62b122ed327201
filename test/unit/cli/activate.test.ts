/** `stagehand activate --root DIR`: SYSTEM, the graph and the users spec inside DIR; shell steps refused. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdirSync, readdirSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NIXOS_USERS_SPEC } from "../schemas/graph-fixture.ts";
import { lastLineDocument, stagehand } from "../schemas/validate.ts";
import { tempDir } from "../tmp.ts";
import { buildEtcTree } from "../etc/fixtures.ts";

type Run = { status: number; steps: { name: string; status: string; reason?: string }[] };

/** The graph's users step, reading the generation's users-groups.json. */
const USERS_STEP = `
[steps.users]
builtin = "users"
supportsDryActivation = true
options = { spec = "\${systemConfig}/users-groups.json" }
`;

/** DIR with a generation at /gens/real-system, and /system an absolute link to it (a host path that does not exist). */
function rootWithLinkedSystem(): string {
  const root = join(tempDir("activate-root-"), "root");
  const gen = join(root, "gens/real-system");
  mkdirSync(gen, { recursive: true });
  mkdirSync(join(root, "etc"));
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\n");
  writeFileSync(join(gen, "users-groups.json"), JSON.stringify(NIXOS_USERS_SPEC));
  writeFileSync(join(gen, "activation-graph.toml"), `${USERS_STEP}
[steps.snippet]
kind = "shell"
supportsDryActivation = true
text = "echo escaped > /tmp/stagehand-activate-escaped"
`);
  symlinkSync("/gens/real-system", join(root, "system"));
  return root;
}

test("SYSTEM given as a link inside DIR: graph and spec are found inside DIR, the shell step is refused and never runs", () => {
  assert.not.ok(existsSync("/gens/real-system"), "the host has no such path");
  const root = rootWithLinkedSystem();
  const r = stagehand(["activate", "--dry", "--root", root, "--json", "/system"]);
  const doc = lastLineDocument(r.stdout, "activate --json") as Run;
  assert.is(r.status, 1, r.stderr);
  const byName = new Map(doc.steps.map((s) => [s.name, s]));
  assert.is(byName.get("users")?.status, "ok", JSON.stringify(doc));
  assert.is(byName.get("snippet")?.status, "failed");
  assert.match(byName.get("snippet")?.reason ?? "", /acts on this machine's \/, not on --root/);
  assert.not.ok(existsSync("/tmp/stagehand-activate-escaped"), "nothing ran on this machine");
});

test("a real run points DIR's /run/current-system at SYSTEM as DIR sees it; a relative SYSTEM is refused with --root", () => {
  const root = rootWithLinkedSystem();
  stagehand(["activate", "--root", root, "/system"]);
  assert.is(readlinkSync(join(root, "run/current-system")), "/gens/real-system");
  const rel = stagehand(["activate", "--dry", "--root", root, "system"]);
  assert.is(rel.status, 1);
  assert.match(rel.stderr, /with --root, SYSTEM is a path inside .* and must be absolute: system/);
});

test("dry-activate plans /etc against the users the users step would add or remove, as the real run meets them", () => {
  const root = join(tempDir("activate-owners-"), "root");
  const gen = join(root, "gens/g");
  mkdirSync(gen, { recursive: true });
  mkdirSync(join(root, "etc"));
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\nbob:x:1001:100::/:/bin/sh\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\nusers:x:100:\n");
  // alice is new in this generation and owns an /etc file; bob goes and owns another.
  const user = (name: string) => ({ name, uid: null, group: "users", description: "", home: "/var/empty", homeMode: "700", createHome: false, isSystemUser: false, shell: "/bin/sh" });
  writeFileSync(join(gen, "users-groups.json"), JSON.stringify({ mutableUsers: false, users: [{ ...user("root"), uid: 0, group: "root" }, user("alice")], groups: [{ name: "root", gid: 0, members: [] }, { name: "users", gid: 100, members: [] }] }));
  const tree = buildEtcTree(root, { alicefile: { text: "a\n", mode: "0600", user: "alice", group: "users" }, bobfile: { text: "b\n", mode: "0600", user: "bob", group: "users" } });
  writeFileSync(join(gen, "activation-graph.toml"), `${USERS_STEP}
[steps.etc]
builtin = "etc"
after = ["users"]
supportsDryActivation = true
options = { etc = "${tree}" }
`);
  const dry = stagehand(["activate", "--dry", "--root", root, "/gens/g"]);
  assert.match(dry.stdout, /would copy ‘\/etc\/alicefile’ \(mode 0600, owner alice:users = 1000:100\)/, dry.stdout + dry.stderr);
  assert.match(dry.stdout + dry.stderr, /not setting up ‘\/etc\/bobfile’: unknown user ‘bob’/);
  assert.is(dry.status, 1);
  const real = stagehand(["activate", "--root", root, "/gens/g"]);
  assert.match(real.stdout + real.stderr, /not setting up ‘\/etc\/bobfile’: unknown user ‘bob’/);
  assert.is(real.status, 1);
  assert.is(statSync(join(root, "etc/alicefile")).uid, 1000);
});

/** rootWithLinkedSystem with the users step alone (no shell step, so a run can succeed under --root). */
function rootWithUsersOnly(): string {
  const root = rootWithLinkedSystem();
  writeFileSync(join(root, "gens/real-system/activation-graph.toml"), '[steps.users]\nbuiltin = "users"\noptions = { spec = "${systemConfig}/users-groups.json" }\n');
  return root;
}

test("a directory at DIR/run/current-system is moved aside with one line, the link is set, the --json document printed, exit 0", () => {
  const root = rootWithUsersOnly();
  mkdirSync(join(root, "run/current-system"), { recursive: true });
  writeFileSync(join(root, "run/current-system/kept"), "x");
  const r = stagehand(["activate", "--root", root, "--json", "/system"]);
  const doc = lastLineDocument(r.stdout, "activate --json") as Run;
  assert.is(r.status, 0, r.stderr);
  assert.is(doc.status, 0);
  assert.is(readlinkSync(join(root, "run/current-system")), "/gens/real-system");
  const aside = readdirSync(join(root, "run")).filter((n) => n.startsWith("current-system.broken-"));
  assert.is(aside.length, 1);
  assert.ok(existsSync(join(root, "run", aside[0]!, "kept")), "its content kept");
  assert.match(r.stderr, new RegExp(`^warning: ${join(root, "run/current-system")} was not a symbolic link; moved to ${join(root, "run/current-system")}\\.broken-\\d+$`, "m"));
  assert.not.match(r.stderr, /\n\s+at /, "no stack trace");
});

test("when /run/current-system cannot be set, one line says why, the --json document is still printed, exit 1", () => {
  const root = rootWithUsersOnly();
  writeFileSync(join(root, "run"), "a file where /run should be");
  const r = stagehand(["activate", "--root", root, "--json", "/system"]);
  const doc = lastLineDocument(r.stdout, "activate --json") as Run;
  assert.is(r.status, 1);
  assert.is(doc.status, 1);
  assert.is(doc.steps[0]?.status, "ok");
  assert.match(r.stderr, new RegExp(`^stagehand activate: cannot point ${join(root, "run/current-system")} at /system: EEXIST: file already exists, mkdir .${join(root, "run")}.$`, "m"));
  assert.not.match(r.stderr, /\n\s+at /, "no stack trace");
});

test("a graph directory inside DIR: its files, links among them, are resolved inside DIR, never read from this machine", () => {
  const root = rootWithLinkedSystem();
  const gen = join(root, "gens/real-system");
  const host = tempDir("activate-host-");
  // A host file outside DIR that a link in the graph directory names by an absolute path.
  writeFileSync(join(host, "host.toml"), "[steps.fromhost]\nbuiltin = \"users\"\nsupportsDryActivation = true\n");
  const graphDir = join(gen, "activation-graph.toml");
  const original = join(gen, "steps.toml");
  Bun.spawnSync(["mv", graphDir, original]);
  mkdirSync(graphDir);
  symlinkSync("/gens/real-system/steps.toml", join(graphDir, "a.toml")); // inside DIR: the generation's file
  const r = stagehand(["activate", "--dry", "--root", root, "--json", "/system"]);
  const doc = lastLineDocument(r.stdout, "activate --json") as Run;
  assert.ok(doc.steps.some((s) => s.name === "users"), JSON.stringify(doc));
  symlinkSync(join(host, "host.toml"), join(graphDir, "b.toml")); // inside DIR this names DIR/<host path>: missing
  const r2 = stagehand(["activate", "--dry", "--root", root, "/system"]);
  assert.is(r2.status, 1);
  assert.match(r2.stderr, new RegExp(`${join(root, host, "host.toml").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: read: does not exist`));
  assert.not.match(r2.stderr + r2.stdout, /fromhost/);
});

test.run();
