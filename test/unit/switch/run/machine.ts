/** A NixOS root and a new generation on disk, and a whole system switch of it against the fake service manager. */
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { memoryLog } from "../../../../src/switch/run/log.ts";
import { emptySummary } from "../../../../src/switch/run/summary.ts";
import { runSystemSwitch, type SystemHost } from "../../../../src/switch/run/system.ts";
import type { Action } from "../../../../src/switch/host/contract.ts";
import { tempDir } from "../../tmp.ts";
import { type FakeOpts, fakeSystemd } from "./fake-systemd.ts";

const OLD_UNIT = "[Unit]\nDescription=a\n[Service]\nExecStart=/bin/a\n";
const NEW_UNIT = "[Unit]\nDescription=a\n[Service]\nExecStart=/bin/a --new\n";

/** Writes a file, its directories made. */
export function write(path: string, text: string, mode = 0o644): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, mode);
}

/** A NixOS root running a.service, and a new generation that changes it. */
export function machine(nixos = true) {
  const root = tempDir("stc-system-root-");
  const toplevel = tempDir("stc-system-top-");
  const systemd = tempDir("stc-system-systemd-");
  write(join(root, "etc/os-release"), nixos ? "ID=nixos\n" : "ID=debian\n");
  if (nixos) write(join(root, "etc/NIXOS"), "");
  write(join(root, "etc/systemd/system/a.service"), OLD_UNIT);
  write(join(root, "run/current-system/init-interface-version"), "systemd 2\n");
  write(join(toplevel, "init-interface-version"), "systemd 2\n");
  write(join(toplevel, "etc/systemd/system/a.service"), NEW_UNIT);
  write(join(toplevel, "activate"), "#!/bin/sh\necho \"activating $1\"\n", 0o755);
  write(join(systemd, "lib/systemd/systemd"), "", 0o755);
  mkdirSync(join(root, "proc/1"), { recursive: true });
  symlinkSync(join(systemd, "lib/systemd/systemd"), join(root, "proc/1/exe"));
  const env = {
    OUT: toplevel, TOPLEVEL: toplevel, DISTRO_ID: "nixos", PRE_SWITCH_CHECK: "/bin/false", INSTALL_BOOTLOADER: "/bin/false",
    SYSTEMD: systemd, NIXOS_NO_CHECK: "1", NIXOS_NO_SYNC: "1", PATH: process.env.PATH,
  };
  return { root, toplevel, env };
}

/** Runs a system switch of `m` to its new generation with the fake manager: status, jobs, users and lines. */
export async function switchTo(m: ReturnType<typeof machine>, action: Action, o: FakeOpts = {}) {
  const events: string[] = [];
  const users: string[] = [];
  let connected = 0;
  let closed = 0;
  const host: SystemHost = {
    root: m.root,
    async connect() {
      connected++;
      return {
        systemd: fakeSystemd(events, { after: { "a.service": { activeState: "active", subState: "running" } }, ...o }),
        switchUsers: async (p) => { users.push(`${p.action} ${p.toplevel}`); return 0; },
        close() { closed++; },
      };
    },
  };
  const log = memoryLog();
  const summary = emptySummary(action, m.toplevel);
  const status = await runSystemSwitch({ action, log, summary, env: m.env }, host);
  return { status, events, users, lines: log.lines, summary, connected, closed };
}
