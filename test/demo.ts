/**
 * `npm run demo`: boots a Debian container with systemd as PID 1, builds two NixOS-like
 * generations in it, and shows stagehand at work: the activation graph's plan, a D-Bus round trip
 * with the real systemd, and — once the switch is implemented — a real `dry-activate` and `switch`
 * from generation A to B. Everything it starts is stopped and removed at the end.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { Container, REPO_ROOT } from "./harness/container.ts";
import { buildGeneration, prepareBooted } from "./harness/generation.ts";
import { isBuilt } from "./harness/cache.ts";
import { defaultSuite, ensureRootfs, rootfsPath } from "./harness/rootfs.ts";
import type { Generation, GenerationSpec } from "./harness/generation.ts";

const BIN = join(REPO_ROOT, "dist/stagehand");
const color = process.stdout.isTTY && !process.env.NO_COLOR;
const bold = (s: string) => (color ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (color ? `\x1b[2m${s}\x1b[0m` : s);

function heading(s: string): void {
  console.log(`\n${bold(`== ${s}`)}`);
}

function show(cmd: string, r: { status: number; stdout: string; stderr: string }): void {
  console.log(dim(`$ ${cmd}`));
  const text = (r.stdout + r.stderr).trimEnd();
  if (text) console.log(text.split("\n").map((l) => `  ${l}`).join("\n"));
  if (r.status !== 0) console.log(dim(`  (exit status ${r.status})`));
}

const service = (description: string, extra = "") =>
  `[Unit]\nDescription=${description}\n[Service]\nExecStart=/bin/sleep infinity\n${extra}`;

/** Generation A: what the machine boots. */
const specA: GenerationSpec = {
  name: "demo-a",
  units: {
    "demo-web.service": service("demo web server", "Environment=PORT=8080\n"),
    "demo-cache.service": service("demo cache", "ExecReload=/bin/true\nX-ReloadIfChanged=true\nEnvironment=SIZE=64M\n"),
    "demo-legacy.service": service("demo legacy daemon"),
  },
  wantedBy: { "demo-web.service": ["multi-user.target"], "demo-cache.service": ["multi-user.target"], "demo-legacy.service": ["multi-user.target"] },
};

/** Generation B: web changes (restart), cache changes (reload), legacy goes (stop), metrics arrives (start). */
const specB: GenerationSpec = {
  name: "demo-b",
  units: {
    "demo-web.service": service("demo web server", "Environment=PORT=9090\n"),
    "demo-cache.service": service("demo cache", "ExecReload=/bin/true\nX-ReloadIfChanged=true\nEnvironment=SIZE=128M\n"),
    "demo-metrics.service": service("demo metrics exporter"),
  },
  wantedBy: { "demo-web.service": ["multi-user.target"], "demo-cache.service": ["multi-user.target"], "demo-metrics.service": ["multi-user.target"] },
};

function unitStates(c: Container): string {
  return c.exec(["stagehand", "systemd", "list-units", "--all", "demo-*"]).stdout.trimEnd();
}

async function main(): Promise<number> {
  heading("The activation graph (planned before anything runs)");
  const plan = spawnSync(BIN, ["plan", "--graph", join(REPO_ROOT, "activation-scripts")], { encoding: "utf8" });
  show("stagehand plan --graph activation-scripts", { status: plan.status ?? 1, stdout: plan.stdout, stderr: plan.stderr });

  // On a new machine the Debian rootfs is built first (debootstrap: a minute or two, once); the
  // container then boots from a copy of it in about a second. Timed apart, so neither hides the other.
  const suite = defaultSuite();
  if (!isBuilt(rootfsPath(suite))) {
    heading(`Building the Debian ${suite} rootfs cache (debootstrap; once per machine)`);
    const tb = Date.now();
    ensureRootfs(suite);
    console.log(`  built ${rootfsPath(suite)} in ${((Date.now() - tb) / 1000).toFixed(1)} s`);
  }

  heading("Booting a container: Debian, systemd as PID 1, generation A");
  let genA!: Generation;
  const t0 = Date.now();
  const c = await Container.boot({
    name: "stagehand-demo",
    prepare: (root) => {
      genA = buildGeneration(root, specA);
      prepareBooted(root, genA);
    },
  });
  try {
    console.log(`  booted ${c.name} in ${((Date.now() - t0) / 1000).toFixed(1)} s: systemd says '${c.exec(["systemctl", "is-system-running"]).stdout.trim()}'`);
    c.installStagehand();
    const genB = buildGeneration(c.root, specB);
    console.log(`  generation A: ${genA.toplevel}`);
    console.log(`  generation B: ${genB.toplevel}`);

    heading("D-Bus round trip with the real systemd (stagehand's own client, no systemctl)");
    show("stagehand systemd list-units 'demo-*'", c.exec(["stagehand", "systemd", "list-units", "demo-*"]));
    show("stagehand systemd show demo-web.service", c.exec(["stagehand", "systemd", "show", "demo-web.service"]));
    show("stagehand systemd restart demo-legacy.service", c.exec(["stagehand", "systemd", "restart", "demo-legacy.service"]));

    heading("Switching from generation A to B");
    const stc = `${genB.toplevel}/bin/switch-to-configuration`;
    const dry = c.exec([stc, "dry-activate"]);
    if (dry.status === 2 && /not implemented/i.test(dry.stderr)) {
      show(`${stc} dry-activate`, dry);
      console.log("  switch-to-configuration is not implemented yet in this build: stopping the demo here.");
      return 0;
    }
    show("switch-to-configuration dry-activate", dry);
    // The same generation with NixOS's Perl switch-to-configuration in place of stagehand.
    const perlB = buildGeneration(c.root, { ...specB, switchBinary: "perl" });
    const perlDry = c.exec([`${perlB.toplevel}/bin/switch-to-configuration`, "dry-activate"]);
    const same = perlDry.status === dry.status && perlDry.stdout + perlDry.stderr === dry.stdout + dry.stderr;
    console.log(same
      ? "  (identical to what NixOS's Perl switch-to-configuration prints for the same generations)"
      : `  NixOS's Perl switch-to-configuration prints instead (exit ${perlDry.status}):\n${(perlDry.stdout + perlDry.stderr).trimEnd().split("\n").map((l) => `    ${l}`).join("\n")}`);
    const before = unitStates(c);
    const sw = c.exec([stc, "switch"]);
    show("switch-to-configuration switch", sw);

    heading("What changed");
    console.log(dim("  before:"));
    console.log(before.split("\n").map((l) => `    ${l}`).join("\n"));
    console.log(dim("  after:"));
    console.log(unitStates(c).split("\n").map((l) => `    ${l}`).join("\n"));
    console.log(`  /run/current-system -> ${c.exec(["readlink", "/run/current-system"]).stdout.trim()}`);
    console.log(`  demo-web.service now runs with ${c.exec(["systemctl", "show", "-p", "Environment", "--value", "demo-web.service"]).stdout.trim()}`);
    return sw.status === 0 ? 0 : 1;
  } finally {
    heading("Halting the container");
    await c.halt();
    console.log("  done: container stopped, overlay removed");
  }
}

process.exit(await main());
