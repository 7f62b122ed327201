/**
 * nixos/module.nix evaluated by real Nix outside NixOS (a stub lib, pkgs and config in
 * fixtures/eval-module.nix): the generation's scripts, ng's wrapper environment, the users spec,
 * the initrd unit and the assertions. The VM tests in nixos/tests/ check the same on a real system.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const EVAL = join(import.meta.dir, "fixtures/eval-module.nix");
const S = (name: string) => `/nix/store/00000000000000000000000000000000-${name}`;

interface Evaluated {
  assertions: { assertion: boolean; message: string }[];
  builderCommands: string;
  separateActivationScript: string | null;
  graph: { shell: { interpreter: string; path: string[]; preamble: string }; steps: Record<string, Record<string, unknown>> };
  usersSpec: { mutableUsers: boolean; users: Record<string, unknown>[]; groups: Record<string, unknown>[] };
  usersSpecPath: string;
  initrdUnit: Record<string, unknown> | null;
}

function evaluate(overrides = "{ }"): Evaluated {
  const r = spawnSync("nix-instantiate", ["--eval", "--strict", "--json", "--expr", `import ${EVAL} { overrides = ${overrides}; }`], { encoding: "utf8" });
  if (r.error) throw new Error(`cannot run nix-instantiate (Debian package nix-bin): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`nix-instantiate failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as Evaluated;
}

/** The `--set NAME VALUE` pairs of the makeWrapper call in a builder script. */
function wrapperEnv(commands: string): Map<string, string> {
  return new Map([...commands.matchAll(/--set (\S+) (\S+)/g)].map((m) => [m[1]!, m[2]!]));
}

test("switch-to-configuration is stagehand with exactly ng's wrapper environment", () => {
  const { builderCommands } = evaluate();
  assert.match(builderCommands, `makeWrapper ${S("stagehand-0.1.0")}/bin/switch-to-configuration $out/bin/switch-to-configuration`);
  assert.equal([...wrapperEnv(builderCommands).entries()], [
    ["OUT", "$out"],
    ["TOPLEVEL", "$out"],
    ["DISTRO_ID", "'nixos'"],
    ["INSTALL_BOOTLOADER", `'${S("no-bootloader")}'`],
    ["PRE_SWITCH_CHECK", `'${S("pre-switch-checks")}'`],
    ["LOCALE_ARCHIVE", `${S("glibc-locales")}/lib/locale/locale-archive`],
    ["SYSTEMD", S("systemd")],
  ]);
  // ng's own binary and its wrapper are removed, not left beside stagehand's.
  assert.match(builderCommands, "rm -f $out/bin/switch-to-configuration $out/bin/.switch-to-configuration-wrapped");
});

test("without preSwitchChecks or glibcLocales, their variables are left out as nixpkgs does", () => {
  const { builderCommands } = evaluate("{ i18n.glibcLocales = null; }");
  assert.not.ok(wrapperEnv(builderCommands).has("LOCALE_ARCHIVE"));
});

test("activate and dry-activate run stagehand over the generation's graph", () => {
  const { builderCommands } = evaluate();
  assert.match(builderCommands, `cp ${S("activation-graph.toml")} $out/activation-graph.toml`);
  assert.match(builderCommands, `exec ${S("stagehand-0.1.0")}/bin/stagehand activate --graph $out/activation-graph.toml $out" > $out/activate`);
  assert.match(builderCommands, `exec ${S("stagehand-0.1.0")}/bin/stagehand activate --dry --graph $out/activation-graph.toml $out" > $out/dry-activate`);
  assert.match(builderCommands, `ln -s ${S("stagehand-0.1.0")}/bin/stagehand $out/stagehand`);
  assert.not.match(builderCommands, /perl/);
});

test("separateActivationScript: the scripts run the toplevel, OUT is the script's own path", () => {
  const { separateActivationScript } = evaluate();
  assert.ok(separateActivationScript);
  assert.match(separateActivationScript!, "activate --graph $out/activation-graph.toml $toplevel");
  const env = wrapperEnv(separateActivationScript!);
  assert.is(env.get("OUT"), "$out");
  assert.is(env.get("TOPLEVEL"), "$toplevel");
});

test("system.activatable = false leaves the toplevel without activation scripts", () => {
  const { builderCommands } = evaluate("{ system.activatable = false; }");
  assert.not.match(builderCommands, "activate");
  assert.not.match(builderCommands, "makeWrapper");
});

test("the graph: NixOS's shell settings, users and etc as builtins over the module's store paths", () => {
  const { graph, usersSpecPath } = evaluate();
  assert.is(graph.shell.interpreter, `${S("bash")}/bin/bash`);
  assert.equal(graph.shell.path, ["coreutils", "gnugrep", "findutils", "getent", "glibc", "shadow", "util-linux"].map(S));
  assert.is(graph.shell.preamble, "", "no lib.sh in this stub modulesPath");
  assert.equal(graph.steps.users!.options, { spec: usersSpecPath });
  assert.equal(graph.steps.etc!.options, { etc: `${S("etc")}/etc` });
  assert.not.ok("script" in graph.steps, "the generated `script` attribute is not a step");
  assert.is(graph.steps["users-homes"]!.kind, "shell");
});

test("the users spec has update-users-groups.pl's fields, enabled users only", () => {
  const { usersSpec } = evaluate();
  assert.is(usersSpec.mutableUsers, true);
  assert.equal(usersSpec.users.map((u) => u.name), ["alice"]);
  assert.equal(Object.keys(usersSpec.users[0]!).sort(), [
    "autoSubUidGidRange", "createHome", "description", "expires", "group", "hashedPassword", "hashedPasswordFile",
    "home", "homeMode", "initialHashedPassword", "initialPassword", "isSystemUser", "name", "password", "shell",
    "subGidRanges", "subUidRanges", "uid",
  ]);
  assert.equal(usersSpec.groups, [{ name: "users", gid: 100, members: [] }]);
});

test("the initrd unit runs stagehand from /sysroot before switch-root, without the binary in the initrd", () => {
  const unit = evaluate().initrdUnit!;
  assert.ok(unit);
  assert.ok((unit.before as string[]).includes("initrd-nixos-activation.service"));
  assert.ok((unit.before as string[]).includes("initrd-switch-root.target"));
  assert.equal(unit.after, ["initrd-fs.target"]);
  assert.ok(((unit.unitConfig as Record<string, string[]>).RequiresMountsFor).includes("/sysroot/nix/store"));
  const script = unit.script as string;
  assert.match(script, 'exec chroot /sysroot "$closure/stagehand" etc "$etc"');
  assert.not.match(script, "stagehand-0.1.0", "the package is not referenced, so not copied into the initrd");
  assert.is(evaluate("{ system.stagehand.initrdEtc = false; }").initrdUnit, null);
});

const conflicts: [string, string][] = [
  ["{ system.etc.overlay.enable = true; }", "system.etc.overlay.enable"],
  ["{ systemd.sysusers.enable = true; }", "systemd.sysusers.enable"],
  ["{ services.userborn.enable = true; }", "services.userborn.enable"],
];
for (const [overrides, option] of conflicts) {
  test(`an assertion names ${option}`, () => {
    const failed = evaluate(overrides).assertions.filter((a) => !a.assertion);
    assert.is(failed.length, 1);
    assert.match(failed[0]!.message, `cannot be combined with ${option}`);
  });
}

test("the configuration as given passes every assertion", () => {
  assert.ok(evaluate().assertions.every((a) => a.assertion));
});

test.run();
