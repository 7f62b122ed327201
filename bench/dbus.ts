/**
 * D-Bus client cost, measured against a real systemd in a container: connect (socket + SASL +
 * Hello), one property read, and ListUnits, each in a fresh process; and `busctl` doing the same
 * read for scale. Prints a Markdown table (bench/run.ts may include it). Not a test.
 */
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { withContainer } from "../test/harness/container.ts";

const ROOT = join(import.meta.dir, "..");
const probe = "/tmp/stagehand-bench-dbus-probe";

/** Runs the measurement; returns Markdown lines. */
export async function measureDbus(runs = 30): Promise<string[]> {
  execFileSync(process.execPath, ["build", "--compile", "--minify",
    join(ROOT, "bench/probe/dbus-probe.ts"), "--outfile", probe], { stdio: "ignore" });
  return withContainer(async (c) => {
    c.copyIn(probe, "/usr/local/bin/dbus-probe", 0o755);
    const samples: { connect: number; call: number; listUnits: number }[] = [];
    for (let i = 0; i < runs; i++) samples.push(JSON.parse(c.must(["dbus-probe"])));
    const busctl: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      c.must(["busctl", "get-property", "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "Version"]);
      busctl.push(performance.now() - t);
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(1);
    return [
      "## D-Bus client (src/dbus, inside the compiled binary)",
      "",
      `Median of ${runs} fresh processes in a container, systemd as PID 1:`,
      "",
      "| what | ms |",
      "| --- | --- |",
      `| connect to the system bus (socket, auth, Hello) | ${med(samples.map((s) => s.connect))} |`,
      `| then read Manager.Version | ${med(samples.map((s) => s.call))} |`,
      `| then ListUnits | ${med(samples.map((s) => s.listUnits))} |`,
      `| for scale: a whole \`busctl get-property\` process (incl. nsenter) | ${med(busctl)} |`,
      "",
    ];
  }, { name: "stagehand-bench-dbus" }).finally(() => rmSync(probe, { force: true }));
}

if (import.meta.main) console.log((await measureDbus()).join("\n"));
