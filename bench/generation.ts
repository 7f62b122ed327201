/**
 * Synthetic generations for the planner and switch benchmarks: N units in a realistic NixOS mix
 * (services, some with drop-ins; sockets and timers with their services; targets; mounts; templates
 * with active instances), and a changed variant where about 10% of the units differ (restart, reload,
 * removed, added), as the files of `$toplevel/etc/systemd/system`.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ActiveUnit } from "../src/switch/plan/index.ts";

/** A generation's unit files (name -> text; `X.d/Y.conf` for drop-ins) and the units active under it. */
export interface SyntheticGeneration {
  files: Record<string, string>;
  /** Units a running system would report active: every unit file, plus the templates' instances. */
  active: Record<string, ActiveUnit>;
}

const service = (i: number, v: string) => [
  "[Unit]", `Description=Bench service ${i}`, "After=network.target", "",
  "[Service]", "Type=simple", `ExecStart=/nix/store/${"a".repeat(32)}-svc-${i}${v}/bin/svc-${i} --flag`,
  `Environment="PATH=/nix/store/${"b".repeat(32)}-coreutils/bin" "LANG=C.UTF-8"`, "Restart=on-failure",
  `X-Reload-Triggers=/nix/store/${"c".repeat(32)}-conf-${i}`, "", "[Install]", "WantedBy=multi-user.target", "",
].join("\n");

/** Generates N units; `changed` makes the 10% variant of the same generation. */
export function syntheticGeneration(n: number, changed = false): SyntheticGeneration {
  const files: Record<string, string> = {};
  const active: Record<string, ActiveUnit> = {};
  const on = (u: string) => { active[u] = { activeState: "active", subState: "running" }; };
  let count = 0;
  for (let i = 0; count < n; i++) {
    const kind = i % 20;
    // The 10% change: every 10th unit group gets a new ExecStart (restart) or reload trigger, a few go or come.
    const v = changed && i % 10 === 4 ? "-v2" : "";
    const reloadOnly = changed && i % 10 === 7;
    if (changed && i % 50 === 9) { count++; continue; }                  // removed in the new generation
    const svc = (name: string) => {
      let text = service(i, v);
      if (reloadOnly) text = text.replace(/conf-(\d+)/, "conf-$1-v2");
      files[name] = text; on(name); count++;
    };
    if (kind < 8) {
      svc(`svc-${i}.service`);
      if (kind % 4 === 0) { files[`svc-${i}.service.d/overrides.conf`] = `[Service]\nEnvironment=EXTRA=${i}${v}\nLimitNOFILE=65536\n`; }
    } else if (kind < 10) {
      svc(`sock-${i}.service`);
      files[`sock-${i}.socket`] = `[Unit]\nDescription=Socket ${i}\n\n[Socket]\nListenStream=/run/sock-${i}.sock${v}\n\n[Install]\nWantedBy=sockets.target\n`;
      on(`sock-${i}.socket`); count++;
    } else if (kind < 12) {
      svc(`job-${i}.service`);
      files[`job-${i}.timer`] = `[Unit]\nDescription=Timer ${i}\n\n[Timer]\nOnCalendar=daily${v ? "\nPersistent=true" : ""}\n\n[Install]\nWantedBy=timers.target\n`;
      on(`job-${i}.timer`); count++;
    } else if (kind < 14) {
      files[`group-${i}.target`] = `[Unit]\nDescription=Target ${i}\nWants=svc-${i - 12}.service\n`; on(`group-${i}.target`); count++;
    } else if (kind < 16) {
      const name = `mnt-data${i}.mount`;
      files[name] = `[Unit]\nDescription=Mount ${i}\n\n[Mount]\nWhat=/dev/disk/by-label/data${i}\nWhere=/mnt/data${i}\nType=ext4\nOptions=noatime${v ? ",nodev" : ""}\n`;
      on(name); count++;
    } else if (kind < 18) {
      files[`tmpl-${i}@.service`] = service(i, v).replace("Bench service", "Template %i of");
      for (let k = 0; k < 3 && count < n; k++) { on(`tmpl-${i}@inst${k}.service`); count++; }
    } else {
      svc(`oneshot-${i}.service`);
      files[`oneshot-${i}.service`] = files[`oneshot-${i}.service`]!.replace("Type=simple", "Type=oneshot\nRemainAfterExit=true");
    }
  }
  if (changed) for (let k = 0; k < n / 50; k++) files[`added-${k}.service`] = service(100000 + k, "");
  for (const t of ["multi-user.target", "sockets.target", "timers.target", "network.target"]) {
    files[t] = `[Unit]\nDescription=${t}\n`; on(t);
  }
  return { files, active };
}

/** Writes a generation as a toplevel directory (`DIR/etc/systemd/system`), replacing what was there. */
export function writeGeneration(dir: string, gen: SyntheticGeneration): string {
  rmSync(dir, { recursive: true, force: true });
  const units = join(dir, "etc/systemd/system");
  for (const [name, text] of Object.entries(gen.files)) {
    mkdirSync(dirname(join(units, name)), { recursive: true });
    writeFileSync(join(units, name), text);
  }
  mkdirSync(units, { recursive: true });
  return dir;
}
