/**
 * The container harness and the generation builder themselves: commands inside (env, user, stdin,
 * cwd), NixOS's layout of a generation, its switch-to-configuration wrapper and activate script.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { Container } from "../harness/container.ts";
import { buildGeneration, prepareBooted } from "../harness/generation.ts";
import { defaultSuite, SUITE_SYSTEMD, systemdVersion } from "../harness/rootfs.ts";
import type { Generation } from "../harness/generation.ts";

let c: Container;
let genA: Generation;
let root = "";

test.before(async () => {
  c = await Container.boot({
    name: "stagehand-harness",
    prepare: (r) => {
      genA = buildGeneration(r, { name: "a", units: { "hello.service": "[Service]\nExecStart=/bin/sleep infinity\n" }, wantedBy: { "hello.service": ["multi-user.target"] } });
      prepareBooted(r, genA);
    },
  });
  root = c.root;
  c.installStagehand();
});

test.after(async () => {
  await c?.halt();
});

test("commands run inside with a clean environment plus the given one, as a user, with stdin and cwd", () => {
  const r = c.exec(["sh", "-c", "echo $FOO; id -un; cat; pwd; echo ${HOST_ONLY:-unset}"], { env: { FOO: "bar" }, user: "nobody", input: "from stdin\n", cwd: "/tmp" });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, "bar\nnobody\nfrom stdin\n/tmp\nunset\n");
  assert.is(c.exec(["sh", "-c", "exit 7"]).status, 7);
  assert.throws(() => c.must("echo oops >&2; exit 3"), /exited 3[\s\S]*oops/);
  assert.match(c.must(["stagehand", "--version"]), /^stagehand \d/);
});

test("the container runs its suite's Debian and systemd (bookworm 252, trixie 257), without Debian's tmp.conf", () => {
  assert.is(c.suite, defaultSuite());
  assert.is(c.must(". /etc/os-release; echo $VERSION_CODENAME").trim(), c.suite);
  assert.is(c.systemdVersion, SUITE_SYSTEMD[c.suite]);
  assert.match(c.must(["systemctl", "--version"]), new RegExp(`^systemd ${c.systemdVersion} `));
  assert.is(systemdVersion(root), c.systemdVersion);
  assert.match(genA.systemd, new RegExp(`-systemd-${c.systemdVersion}$`));
  // Debian's tmpfiles /tmp rule (bookworm "D", trixie "q ... 10d") would empty /tmp under a test.
  assert.is(c.exec(["test", "-e", "/usr/lib/tmpfiles.d/tmp.conf"]).status, 1);
});

test("commands run outside the container's cgroup tree; systemd-run puts one inside", () => {
  // Some services check their caller's cgroup (logind 257 refuses SetUserLinger with EUNATCH):
  // such calls go through `systemd-run --wait --pipe`.
  assert.match(c.must(["cat", "/proc/self/cgroup"]), /^0::\/\.\.(\/|$)/m);
  assert.match(c.must(["systemd-run", "--wait", "--pipe", "--quiet", "cat", "/proc/self/cgroup"]), /^0::\/system\.slice\/run-[^/\n]+\.service$/m);
});

test("a generation has NixOS's layout", () => {
  assert.match(genA.toplevel, /^\/nix\/store\/[0-9a-f]{32}-nixos-system-a$/);
  for (const f of ["activate", "dry-activate", "bin/switch-to-configuration", "init-interface-version", "etc/fstab", "etc/systemd/system.conf", "systemd/lib/systemd/systemd", "sw/bin/busctl"]) {
    assert.is(c.exec(["test", "-e", `${genA.toplevel}/${f}`]).status, 0, f); // inside: the links are absolute
  }
  assert.is(c.must(["cat", `${genA.toplevel}/init-interface-version`]), "systemd 2");
  assert.is(readlinkSync(join(root, genA.etc, "systemd/system/multi-user.target.wants/hello.service")), "../hello.service");
  // system.conf is content-addressed: the same content in another generation is the same path.
  const other = buildGeneration(root, { name: "other" });
  assert.is(c.must(["readlink", "-f", `${other.toplevel}/etc/systemd/system.conf`]), c.must(["readlink", "-f", `${genA.toplevel}/etc/systemd/system.conf`]));
  const changed = buildGeneration(root, { name: "other", systemConf: "[Manager]\nDefaultTimeoutStopSec=10s\n" });
  assert.is.not(c.must(["readlink", "-f", `${changed.toplevel}/etc/systemd/system.conf`]), c.must(["readlink", "-f", `${genA.toplevel}/etc/systemd/system.conf`]));
  // The switch's re-exec check compares these canonical paths: they must match for the booted system.
  assert.is(c.must(["readlink", "-f", "/etc/systemd/system.conf"]), c.must(["readlink", "-f", `${genA.toplevel}/etc/systemd/system.conf`]));
  assert.is(c.must(["readlink", "-f", "/proc/1/exe"]), c.must(["readlink", "-f", `${genA.systemd}/lib/systemd/systemd`]));
});

test("the booted system is generation A, with systemd's own units linked from it", () => {
  assert.is(c.must(["readlink", "/run/current-system"]).trim(), genA.toplevel);
  assert.is(c.must(["readlink", "/run/booted-system"]).trim(), genA.toplevel);
  assert.ok(existsSync(join(root, "etc/NIXOS")));
  assert.is(c.must(["systemctl", "is-active", "hello.service"]).trim(), "active");
  assert.is(c.must(["systemctl", "show", "-p", "FragmentPath", "--value", "systemd-journald.service"]).trim(), "/etc/systemd/system/systemd-journald.service");
  assert.is(c.must(["systemctl", "show", "-p", "FragmentPath", "--value", "multi-user.target"]).trim(), "/etc/systemd/system/multi-user.target");
});

test("bin/switch-to-configuration sets NixOS's environment and runs the target binary under its own name", () => {
  const probe = buildGeneration(root, { name: "probe", switchBinary: "/usr/bin/env" });
  const env = Object.fromEntries(c.must([`${probe.toplevel}/bin/switch-to-configuration`]).trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  assert.is(env.OUT, probe.toplevel);
  assert.is(env.TOPLEVEL, probe.toplevel);
  assert.is(env.DISTRO_ID, "nixos");
  assert.is(env.PRE_SWITCH_CHECK, `${probe.toplevel}/bin/pre-switch-check`);
  assert.is(env.INSTALL_BOOTLOADER, `${probe.toplevel}/bin/install-bootloader`);
  assert.is(env.LOCALE_ARCHIVE, "/usr/lib/locale/locale-archive");
  assert.is(env.SYSTEMD, probe.systemd);
  // The real wrapper execs stagehand with argv0 .../bin/switch-to-configuration: it acts as the switch.
  const r = c.exec([`${genA.toplevel}/bin/switch-to-configuration`, "no-such-action"]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /switch-to-configuration/);
});

test("the Perl original can stand in for the switch (for differential tests)", () => {
  const perl = buildGeneration(root, { name: "a", units: { "hello.service": "[Service]\nExecStart=/bin/sleep infinity\n" }, wantedBy: { "hello.service": ["multi-user.target"] }, switchBinary: "perl" });
  const r = c.exec([`${perl.toplevel}/bin/switch-to-configuration`, "dry-activate"]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /would activate the configuration/);
});

test("activate repoints /etc/static and /run/current-system and writes the activation lists", () => {
  const b = buildGeneration(root, {
    name: "b", etc: { "demo.conf": "hello\n" }, activationRestartList: ["x.service"], activationReloadList: ["y.service"],
    dryActivationRestartList: ["z.service"], activate: "touch /run/activate-ran",
  });
  try {
    c.must([`${b.toplevel}/dry-activate`]);
    assert.is(c.must(["cat", "/run/nixos/dry-activation-restart-list"]), "z.service\n");
    assert.is(c.must(["readlink", "/run/current-system"]).trim(), genA.toplevel);
    c.must([`${b.toplevel}/activate`]);
    assert.is(c.must(["readlink", "/etc/static"]).trim(), b.etc);
    assert.is(c.must(["cat", "/etc/demo.conf"]), "hello\n");
    assert.is(c.must(["cat", "/run/nixos/activation-restart-list"]), "x.service\n");
    assert.is(c.must(["cat", "/run/nixos/activation-reload-list"]), "y.service\n");
    assert.ok(existsSync(join(root, "run/activate-ran")) || c.exec(["test", "-e", "/run/activate-ran"]).status === 0);
    assert.is(c.must(["readlink", "/run/current-system"]).trim(), b.toplevel);
  } finally {
    c.must(`rm -f /run/nixos/*-list; ln -sfn ${genA.etc} /etc/static; ln -sfn ${genA.toplevel} /run/current-system`);
  }
});

test.run();
