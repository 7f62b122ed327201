/**
 * nixos/module.nix evaluated with nixpkgs' real `lib` and module system (June 2026) and the real
 * activation modules (fixtures/real-eval/eval.nix), by a Nix that lib accepts (Debian trixie's
 * nix-bin in a cached root, test/harness/nix.ts). Stand-ins cover only `pkgs` and the modules not
 * in the reference. For a default configuration, the systemd initrd, the perlless profile, the
 * profile with the etc overlay and userborn turned on explicitly, third-party snippets and 25.11's
 * top-level.nix, it checks: no warnings or failed assertions, stagehand's builder commands after
 * NixOS's own, the activation graph in the order of the real `activate` script and the real
 * lib.textClosureList, ng's wrapper environment, the initrd unit, and no Perl in what stagehand adds.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import TOML from "@iarna/toml";
import { MIN_NIX_VERSION, nixEval, NixEvalError, nixVersion } from "../../harness/nix.ts";
import { parseDeclarations } from "../../../src/graph/declarations.ts";
import { orderSteps } from "../../../src/graph/order.ts";
import { makeEvalTree } from "./real-eval-tree.ts";

interface Evaluated {
  warnings: string[];
  failedAssertions: string[];
  builder: string | null;
  stagehandBuilderCommands: string;
  activatableSystemBuilderCommands: string;
  activateScript: string;
  separateActivationScript: string;
  textClosureOrder: string[];
  graph: { shell: Record<string, unknown>; steps: Record<string, Record<string, unknown>> };
  usersSpec: { users: { name: string }[] };
  initrdUnit: { after: string[]; before: string[]; unitConfig: Record<string, unknown>; script: string } | null;
  etcOverlay: boolean;
  userborn: boolean;
  initrdEtc: boolean;
  forbiddenDependenciesRegexes: string[];
  stagehandReferences: string[];
  /** What Nix printed besides the value (its own warnings, `evaluation warning:` lines). */
  stderr: string;
}

const PERLLESS = `(modulesPath + "/profiles/perlless.nix")`;
/** Configurations under test, as Nix modules. */
const CONFIGS = {
  default: "{ }",
  initrd: "{ boot.initrd.systemd.enable = true; }",
  perlless: `{ modulesPath, ... }: { imports = [ ${PERLLESS} ]; }`,
  // The profile with its choices made in the configuration itself: stagehand gives way.
  overlayUserborn: `{ modulesPath, ... }: { imports = [ ${PERLLESS} ]; system.etc.overlay.enable = true; services.userborn.enable = true; }`,
  // Snippets of other modules and third parties, which NixOS 2026 warns about (deprecated).
  sysusers: "{ systemd.sysusers.enable = true; }",
  noLocales: "{ i18n.glibcLocales = null; }",
  notActivatable: "{ system.activatable = false; }",
  initrdEtcOff: "{ boot.initrd.systemd.enable = true; system.stagehand.initrdEtc = false; }",
  thirdParty: `{
    system.activationScripts = {
      inherit (builtins.fromJSON (builtins.readFile /mnt/eval/fixtures/activation-scripts.json))
        wrappers nix nix-channel agenixNewGeneration agenixInstall agenixChown setupSecrets restart-and-reload-test Zlate;
    };
  }`,
} as const;
type ConfigName = keyof typeof CONFIGS | "topLevel2511" | "perlless2511";

let tree = "";
const cache = new Map<ConfigName, Evaluated>();

function evaluate(name: ConfigName): Evaluated {
  const hit = cache.get(name);
  if (hit) return hit;
  const topLevel2511 = "/mnt/eval/nixpkgs/nixos/modules/system/activation/top-level-25.11.nix";
  const args =
    name === "topLevel2511" ? `{ topLevel = ${topLevel2511}; }`
    : name === "perlless2511" ? `{ topLevel = ${topLevel2511}; configuration = ${CONFIGS.perlless}; }`
    : `{ configuration = ${CONFIGS[name]}; }`;
  const { value, stderr } = nixEval(tree, `import /mnt/eval/fixtures/real-eval/eval.nix ${args}`);
  const e = { ...(value as Omit<Evaluated, "stderr">), stderr };
  cache.set(name, e);
  return e;
}

test.before(() => {
  tree = makeEvalTree();
});

/** The `--set NAME VALUE` pairs of a makeWrapper/wrapProgram call, `${!toplevelVar}` read as `toplevel`. */
function wrapperEnv(commands: string, toplevel: string): [string, string][] {
  return [...commands.matchAll(/--set (\S+) (\S+)/g)].map((m) => [m[1]!, m[2]! === "${!toplevelVar}" ? toplevel : m[2]!]);
}

/** The snippets in the order the generated `activate` script runs them (its headlines). */
function activateOrder(script: string): string[] {
  return [...script.matchAll(/^#### Activation script snippet (.+):$/gm)].map((m) => m[1]!);
}

/** What stagehand runs: the graph written as TOML, loaded and ordered by stagehand itself. */
function stagehandOrder(graph: object): string[] {
  const { steps } = parseDeclarations("activation-graph.toml", TOML.stringify(graph as TOML.JsonMap));
  return orderSteps(steps).map((s) => s.name);
}

test(`the Nix is at least ${MIN_NIX_VERSION}, which nixpkgs' lib requires`, () => {
  const v = nixVersion();
  const [major, minor] = v.split(".").map(Number);
  assert.ok(major! > 2 || (major === 2 && minor! >= 18), `Nix ${v}`);
});

for (const name of ["default", "initrd", "perlless", "overlayUserborn", "topLevel2511", "perlless2511"] as const) {
  test(`${name}: evaluates with no warning and no failed assertion; the toplevel builds its script`, () => {
    const e = evaluate(name);
    assert.equal(e.failedAssertions, []);
    assert.equal(e.warnings, []);
    assert.not.match(e.stderr, /warning/i, e.stderr);
    assert.type(e.builder, "string");
  });
}

for (const name of ["default", "initrd", "perlless", "topLevel2511", "perlless2511"] as const) {
  test(`${name}: stagehand's builder commands come once, after NixOS's own`, () => {
    const { builder, stagehandBuilderCommands } = evaluate(name);
    const b = builder!;
    const ours = b.indexOf("# stagehand: the activation graph");
    assert.ok(ours > 0, "stagehand's commands are in the builder");
    assert.is(b.indexOf("# stagehand: the activation graph", ours + 1), -1, "once");
    assert.ok(b.includes(stagehandBuilderCommands), "as the module defines them");
    // What NixOS writes and stagehand replaces: activate, dry-activate, bin/ and ng's wrapper.
    for (const line of ['echo "$activationScript" > $out/activate', 'echo "$dryActivationScript" > $out/dry-activate', "mkdir $out/bin", "wrapProgram $out/bin/switch-to-configuration"]) {
      const at = b.lastIndexOf(line);
      assert.ok(at >= 0, `NixOS's ${line}`);
      assert.ok(at < ours, `${line} runs before stagehand's commands`);
    }
    assert.ok(b.indexOf("makeWrapper ", ours) > ours, "stagehand's wrapper is made after ng's");
  });
}

for (const name of ["default", "perlless", "thirdParty"] as const) {
  test(`${name}: stagehand orders the real snippets as the real activate script and lib.textClosureList do`, () => {
    const e = evaluate(name);
    const nixos = activateOrder(e.activateScript);
    assert.equal(e.textClosureOrder, nixos, "the real script runs in textClosureList's order");
    const ours = stagehandOrder(e.graph);
    assert.equal(ours.filter((n) => n !== "users-homes"), nixos);
    // The directories the Perl users snippet made first are made right where it made them.
    assert.is(ours.indexOf("users-homes") + 1, ours.indexOf("users"));
    assert.is(e.graph.steps.users!.builtin, "users");
    assert.is(e.graph.steps.etc!.builtin, "etc");
  });
}

test("thirdParty: the only warning is NixOS's own about deprecated activation scripts", () => {
  const e = evaluate("thirdParty");
  assert.is(e.warnings.length, 1);
  assert.match(e.warnings[0]!, "Activation scripts are deprecated");
  assert.not.match(e.warnings[0]!, "system.activationScripts.users", "stagehand's steps add no snippet");
});

for (const name of ["default", "perlless", "topLevel2511", "noLocales"] as const) {
  test(`${name}: switch-to-configuration gets exactly the environment switchable-system.nix gives ng`, () => {
    const e = evaluate(name);
    const ng = wrapperEnv(e.activatableSystemBuilderCommands, "$out");
    assert.ok(ng.length >= 6, "ng's wrapper found");
    assert.equal(wrapperEnv(e.stagehandBuilderCommands, "$out"), ng);
    // system.activatable = false: the separate activation script, whose generation is $toplevel.
    assert.equal(wrapperEnv(e.separateActivationScript, "$toplevel"), wrapperEnv(e.activatableSystemBuilderCommands, "$toplevel"));
  });
}

test("noLocales: without glibcLocales, LOCALE_ARCHIVE is left out as for ng", () => {
  assert.not.match(evaluate("noLocales").stagehandBuilderCommands, "LOCALE_ARCHIVE");
  assert.match(evaluate("default").stagehandBuilderCommands, "--set LOCALE_ARCHIVE ");
});

test("default: activate and dry-activate run stagehand over the generation's graph; ng's binary goes", () => {
  const c = evaluate("default").stagehandBuilderCommands;
  const stagehand = /\/nix\/store\/[a-z0-9]{32}-stagehand-0\.1\.0\/bin\/stagehand/.exec(c)?.[0];
  assert.ok(stagehand, "the package's binary");
  assert.match(c, /cp \/nix\/store\/[a-z0-9]{32}-activation-graph\.toml \$out\/activation-graph\.toml/);
  assert.match(c, `exec ${stagehand} activate --graph $out/activation-graph.toml $out" > $out/activate`);
  assert.match(c, `exec ${stagehand} activate --dry --graph $out/activation-graph.toml $out" > $out/dry-activate`);
  assert.match(c, `makeWrapper ${stagehand.replace(/stagehand$/, "switch-to-configuration")} $out/bin/switch-to-configuration`);
  // Dispatch is on the invoked name, kept whatever name or link the wrapper is called by.
  assert.match(c, /\$out\/bin\/switch-to-configuration \\\n\s*--argv0 switch-to-configuration \\\n/);
  assert.match(c, "rm -f $out/bin/switch-to-configuration $out/bin/.switch-to-configuration-wrapped");
  assert.not.match(c, "$out/stagehand", "no initrd unit, no link for it");
  assert.match(evaluate("default").separateActivationScript, "activate --graph $out/activation-graph.toml $toplevel");
});

test("notActivatable: the toplevel gets neither NixOS's activation scripts nor stagehand's", () => {
  const e = evaluate("notActivatable");
  assert.not.match(e.stagehandBuilderCommands, "activate");
  assert.not.match(e.stagehandBuilderCommands, "makeWrapper");
  assert.not.match(e.builder!, "$out/activate");
});

test("default: the graph has activation-script.nix's shell (interpreter, PATH, lib.sh) and stagehand's builtins", () => {
  const e = evaluate("default");
  const { shell, steps } = e.graph;
  assert.is(shell.interpreter, /^#!(\S+)/m.exec(e.activateScript)![1]);
  const scriptPath = /^for i in (.+); do$/m.exec(e.activateScript)![1]!.split(" ");
  assert.equal(shell.path, scriptPath);
  assert.is(shell.preamble, /^source \S+-lib\.sh$/m.exec(e.activateScript)![0]);
  assert.equal(Object.keys(steps.users!.options as object), ["spec"]);
  assert.match((steps.etc!.options as { etc: string }).etc, /-etc\/etc$/);
  assert.not.ok("script" in steps);
});

test("default: the users spec has update-users-groups.pl's fields, enabled users only", () => {
  const { usersSpec } = evaluate("default");
  assert.equal(usersSpec.users.map((u) => u.name), ["alice"]);
  assert.equal(Object.keys(usersSpec.users[0]!).sort(), [
    "autoSubUidGidRange", "createHome", "description", "expires", "group", "hashedPassword", "hashedPasswordFile",
    "home", "homeMode", "initialHashedPassword", "initialPassword", "isSystemUser", "name", "password", "shell",
    "subGidRanges", "subUidRanges", "uid",
  ]);
});

test("initrdEtcOff: no initrd unit and no link to the binary", () => {
  const e = evaluate("initrdEtcOff");
  assert.is(e.initrdUnit, null);
  assert.not.match(e.stagehandBuilderCommands, "$out/stagehand");
});

test("initrd: the unit runs after initrd-find-nixos-closure and boots what it found", () => {
  const e = evaluate("initrd");
  assert.ok(e.initrdEtc);
  const unit = e.initrdUnit!;
  assert.ok(unit, "stagehand-etc.service is defined");
  assert.ok(unit.after.includes("initrd-find-nixos-closure.service"));
  assert.ok(unit.before.includes("initrd-nixos-activation.service"));
  assert.is(unit.unitConfig.ConditionPathIsSymbolicLink, "/nixos-closure");
  assert.match(unit.script, 'closure="$(readlink /nixos-closure)"');
  assert.not.match(unit.script, "init=", "the kernel command line is initrd-find-nixos-closure's business");
  assert.not.match(unit.script, "/proc/cmdline");
  assert.not.match(unit.script, "stagehand-0.1.0", "the binary stays out of the initrd");
  assert.match(unit.script, 'exec chroot /sysroot "$closure/stagehand" etc "$etc"');
  assert.ok((unit.unitConfig.RequiresMountsFor as string[]).includes("/sysroot/nix/store"));
  assert.match(e.stagehandBuilderCommands, /ln -s \/nix\/store\/\S+-stagehand-0\.1\.0\/bin\/stagehand \$out\/stagehand/);
  assert.is(evaluate("default").initrdUnit, null, "no systemd initrd, no unit");
});

test("perlless: the profile with stagehand keeps a symlink /etc and NixOS's users, without Perl", () => {
  const e = evaluate("perlless");
  assert.is(e.etcOverlay, false);
  assert.is(e.userborn, false);
  assert.ok(e.initrdEtc, "the profile's systemd initrd sets up /etc with stagehand");
  assert.ok(e.initrdUnit);
  assert.equal(e.forbiddenDependenciesRegexes, ["perl"]);
  assert.equal(e.usersSpec.users.map((u) => u.name), ["alice"]);
  // The profile's closure check on paper: nothing stagehand adds refers to a forbidden path.
  assert.ok(e.stagehandReferences.some((r) => r.startsWith("stagehand-")), "the references are read");
  for (const re of e.forbiddenDependenciesRegexes) {
    assert.equal(e.stagehandReferences.filter((r) => new RegExp(re).test(r)), [], `references matching ${re}`);
  }
  // The Perl snippet it replaces is still NixOS's (so the real script differs), not stagehand's.
  assert.match(e.activateScript, "perl");
  assert.not.match(JSON.stringify(e.graph), "perl");
});

test("overlayUserborn: with the overlay and userborn chosen in the configuration, stagehand gives way", () => {
  const e = evaluate("overlayUserborn");
  assert.is(e.etcOverlay, true);
  assert.is(e.userborn, true);
  assert.is(e.initrdEtc, false);
  assert.is(e.initrdUnit, null);
  assert.equal(e.graph.steps.etc, { kind: "shell", text: e.graph.steps.etc!.text, after: ["users", "groups", "specialfs"], supportsDryActivation: false });
  assert.match(e.graph.steps.etc!.text as string, "overlay", "NixOS's overlay remount runs");
  assert.is(e.graph.steps.users!.kind, "shell");
  assert.is(e.graph.steps.users!.text, "");
  assert.not.ok("users-homes" in e.graph.steps);
  assert.match(e.builder!, "makeWrapper ", "switch-to-configuration is still stagehand");
});

test("sysusers: with systemd-sysusers chosen, stagehand leaves users to it and keeps its etc step", () => {
  const e = evaluate("sysusers");
  assert.equal([e.failedAssertions, e.warnings], [[], []]);
  assert.equal(e.graph.steps.users, { kind: "shell", text: "", after: [], supportsDryActivation: false });
  assert.not.ok("users-homes" in e.graph.steps);
  assert.is(e.graph.steps.etc!.builtin, "etc");
});

test("initrdEtc forced on with the etc overlay fails an assertion naming both", () => {
  const { value } = nixEval(tree, `(import /mnt/eval/fixtures/real-eval/eval.nix {
    configuration = { system.etc.overlay.enable = true; boot.initrd.systemd.enable = true; system.stagehand.initrdEtc = true; };
  }).failedAssertions`);
  assert.is((value as string[]).length, 1);
  assert.match((value as string[])[0]!, /system\.stagehand\.initrdEtc cannot be combined with system\.etc\.overlay\.enable/);
});

test("the old extraSystemBuilderCmds definition warns on nixpkgs master (why the module does not use it)", () => {
  const { value } = nixEval(tree, `(import /mnt/eval/fixtures/real-eval/eval.nix {
    configuration = { system.extraSystemBuilderCmds = "true"; };
  }).warnings`);
  assert.is((value as string[]).length, 1);
  assert.match((value as string[])[0]!, "system.extraSystemBuilderCmds");
});

/** package.nix with stand-ins for its inputs and a bun of the given version: its name, or the error. */
function packageWithBun(version: string): string {
  const { value } = nixEval(tree, `
    let
      lib = import /mnt/eval/nixpkgs/lib;
      pkgs = import /mnt/eval/fixtures/real-eval/pkgs.nix;
      p = import /mnt/eval/stagehand/nixos/package.nix {
        inherit lib;
        inherit (pkgs) stdenvNoCC;
        fetchurl = { url, hash }: url;
        bun = { version = "${version}"; };
        nix = null; gnutar = null; gzip = null;
        src = /mnt/eval/stagehand;
      };
    in "\${p.pname}-\${p.version}"`);
  return value as string;
}

test("package.nix refuses a bun older than 1.4.3 (--compile-jit-policy) and takes 1.4.3", () => {
  let refused: unknown;
  try {
    packageWithBun("1.4.2");
  } catch (e) {
    refused = e;
  }
  assert.instance(refused, NixEvalError, "bun 1.4.2 is refused");
  assert.match((refused as Error).message, /needs bun >= 1\.4\.3/);
  assert.is(packageWithBun("1.4.3"), "stagehand-0.1.0");
});

test.run();
