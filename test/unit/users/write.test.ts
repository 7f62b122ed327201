import { test } from "uvu";
import * as assert from "uvu/assert";
import { chmodSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run as cli } from "../../../src/cli/commands/users.ts";
import { planUsersStep } from "../../../src/users/step.ts";
import { ConcurrentChangeError, writeDatabases } from "../../../src/users/write.ts";
import { builtins } from "../../../src/cli/builtins.ts";
import type { StepContext } from "../../../src/graph/step.ts";
import { tempDir } from "../tmp.ts";

const made: string[] = [];
test.after(() => { for (const d of made) rmSync(d, { recursive: true, force: true }); });

function mkroot() {
  const root = tempDir("users-write-");
  made.push(root);
  mkdirSync(join(root, "etc"));
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n", { mode: 0o600 });
  writeFileSync(join(root, "etc/group"), "root:x:0:\nshadow:x:42:\n");
  return root;
}
const spec = (root: string, o: unknown) => {
  const p = join(root, "spec.json");
  writeFileSync(p, JSON.stringify(o));
  return p;
};
const good = {
  mutableUsers: true,
  groups: [{ name: "root", gid: 0, members: [] }, { name: "shadow", gid: 42, members: [] }, { name: "alice", gid: null, members: [] }],
  users: [
    { name: "root", uid: 0, group: "root", home: "/root", shell: "/bin/sh", description: "" },
    { name: "alice", uid: null, group: "alice", home: "/home/alice", createHome: true, homeMode: "751", shell: "/bin/sh", initialPassword: "pw", description: "" },
  ],
};
const snapshot = (root: string) => {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (!p.endsWith("spec.json")) out[p] = `${statSync(p).ino}:${statSync(p).mode.toString(8)}:${readFileSync(p, "utf8")}`;
    }
  };
  walk(root);
  return out;
};

test("writes the databases, keeps an existing file's mode, creates shadow 0640 root:shadow and homes", async () => {
  const root = mkroot();
  assert.is(await cli(["--root", root, spec(root, good)]), 0);
  assert.is(statSync(join(root, "etc/passwd")).mode & 0o7777, 0o600);
  const sh = statSync(join(root, "etc/shadow"));
  assert.is(sh.mode & 0o7777, 0o640);
  assert.is(sh.gid, 42);
  assert.match(readFileSync(join(root, "etc/passwd"), "utf8"), /^alice:x:1000:999::\/home\/alice:\/bin\/sh$/m);
  const home = statSync(join(root, "home/alice"));
  assert.is(home.mode & 0o7777, 0o751);
  assert.is(home.uid, 1000);
  assert.is(home.gid, 999);
  assert.is(readFileSync(join(root, "var/lib/nixos/declarative-users"), "utf8"), "alice root");
  assert.is(statSync(join(root, "var/lib/nixos/uid-map")).mode & 0o7777, 0o644);
});

test("a second run writes nothing (same inodes)", async () => {
  const root = mkroot();
  const p = spec(root, good);
  assert.is(await cli(["--root", root, p]), 0);
  chmodSync(join(root, "home/alice"), 0o700);
  const before = snapshot(root);
  assert.is(await cli(["--root", root, p]), 0);
  assert.equal(snapshot(root), before);
  assert.is(statSync(join(root, "home/alice")).mode & 0o7777, 0o751);
});

test("--dry writes nothing", async () => {
  const root = mkroot();
  const before = snapshot(root);
  assert.is(await cli(["--root", root, "--dry", spec(root, good)]), 0);
  assert.equal(snapshot(root), before);
});

const invalid: [string, unknown][] = [
  ["invalid name", { ...good, users: [{ name: "Alice!" }] }],
  ["colon in a field", { ...good, users: [{ name: "a", description: "a:b" }] }],
  ["newline in a field", { ...good, users: [{ name: "a", shell: "/bin/sh\nroot::0:0::/:/bin/sh" }] }],
  ["duplicate name", { ...good, groups: [{ name: "g" }, { name: "g" }] }],
  ["a name declared twice", { ...good, users: [{ name: "a", uid: 5 }, { name: "a", uid: 6 }] }],
  ["ID out of range", { ...good, groups: [{ name: "g", gid: 4294967295 }] }],
];
for (const [name, s] of invalid) {
  test(`bad input (${name}): exit 1, every file untouched`, async () => {
    const root = mkroot();
    assert.is(await cli(["--root", root, spec(root, good)]), 0);
    const before = snapshot(root);
    assert.is(await cli(["--root", root, spec(root, s)]), 1);
    assert.equal(snapshot(root), before);
  });
}

test("a file changed between plan and apply: nothing written", async () => {
  const root = mkroot();
  const plan = planUsersStep(root, spec(root, good), false);
  writeFileSync(join(root, "etc/group"), "root:x:0:\n");
  const before = snapshot(root);
  const refused = await writeDatabases(root, plan.data).then(() => undefined, (e: unknown) => e);
  assert.ok(refused instanceof ConcurrentChangeError, String(refused));
  assert.equal(snapshot(root), before);
});

test("meanwhile (the homes) runs once, after staging and before any file is published; not when the files changed", async () => {
  const root = mkroot();
  const plan = planUsersStep(root, spec(root, good), false);
  const before = readFileSync(join(root, "etc/passwd"), "utf8");
  let seen: { passwd: string; temps: string[] }[] = [];
  await writeDatabases(root, plan.data, () => {
    seen.push({ passwd: readFileSync(join(root, "etc/passwd"), "utf8"), temps: readdirSync(join(root, "etc")).filter((n) => n.includes(".stagehand-")) });
  });
  assert.is(seen.length, 1);
  assert.is(seen[0]!.passwd, before, "nothing published yet");
  assert.ok(seen[0]!.temps.length > 0, "the new files were staged");
  assert.match(readFileSync(join(root, "etc/passwd"), "utf8"), /^alice:/m);
  // Files changed since planning: refused before anything is made.
  const root2 = mkroot();
  const plan2 = planUsersStep(root2, spec(root2, good), false);
  writeFileSync(join(root2, "etc/group"), "root:x:0:\n");
  seen = [];
  await writeDatabases(root2, plan2.data, () => seen.push({ passwd: "", temps: [] })).catch(() => {});
  assert.is(seen.length, 0);
});

test("meanwhile throwing: nothing published, no temporary left", async () => {
  const root = mkroot();
  const plan = planUsersStep(root, spec(root, good), false);
  const before = snapshot(root);
  const refused = await writeDatabases(root, plan.data, () => { throw new Error("boom"); }).then(() => undefined, (e: unknown) => e);
  assert.is((refused as Error).message, "boom");
  assert.equal(snapshot(root), before);
});

test("the builtin step `users`: plan prints the messages, apply writes", async () => {
  const root = mkroot();
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\nold:x:1200:0::/:/bin/sh\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\nshadow:x:42:\n");
  const step = builtins().get("users")!;
  const err: string[] = [];
  const ctx = (mode: "activate" | "dry-activate"): StepContext => ({
    systemConfig: "/nix/store/x", root, mode, env: {}, stdout: () => {}, stderr: (l) => err.push(l),
  });
  const immutable = { ...good, mutableUsers: false };
  // The step reads the generation's spec inside the root it acts on: DIR/spec.json is /spec.json.
  spec(root, immutable);
  const dry = await step.plan(ctx("dry-activate"), { spec: "/spec.json" });
  assert.ok(dry.lines.includes("would remove user ‘old’"));
  const plan = await step.plan(ctx("activate"), { spec: "/spec.json" });
  assert.ok(plan.lines.includes("removing user ‘old’"));
  assert.is(await step.apply(ctx("activate"), plan), 0);
  assert.ok(err.includes("removing user ‘old’"));
  assert.not.match(readFileSync(join(root, "etc/passwd"), "utf8"), /^old:/m);
});

test.run();
