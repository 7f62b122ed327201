/**
 * NixOS-like system generations inside a container root, built from a declarative description.
 *
 * Layout (as top-level.nix and switchable-system.nix build it):
 *
 *   /nix/store/<h>-nixos-system-NAME/
 *     etc -> /nix/store/<h>-etc/etc         systemd/system (units, drop-ins, links to systemd's own
 *                                            units), systemd/system.conf (content-addressed), fstab
 *     systemd -> /nix/store/<h>-systemd-V    lib -> /usr/lib, bin -> /usr/bin of the container
 *     init-interface-version                 "systemd 2"
 *     activate, dry-activate                 shell scripts (see below)
 *     bin/switch-to-configuration            wrapper setting OUT, TOPLEVEL, ... then exec'ing the
 *                                            stagehand binary as `switch-to-configuration`
 *
 * Booting "into" a generation means /etc/static -> its etc, /etc/systemd/system ->
 * /etc/static/systemd/system, /run/current-system and /run/booted-system -> its top level.
 * The default `activate` does what matters of NixOS's for a switch: repoint /etc/static, link the
 * generation's extra /etc files, write the activation restart/reload lists it was asked to, and
 * finally point /run/current-system at the new generation.
 */
import { createHash } from "node:crypto";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Container } from "./container.ts";
import { systemdVersion } from "./rootfs.ts";
import { reference } from "./shared.ts";

/** Where the reference Perl switch-to-configuration lives on the host. */
export const PERL_SWITCH = reference("nixos/modules/system/activation/switch-to-configuration.pl");

/** A unit file's content, a symlink (e.g. a wants link "../foo.service"), or null for masked. */
export type UnitEntry = string | { symlink: string } | null;

/** A generation, declaratively. */
export interface GenerationSpec {
  /** The system name: the store path ends in `nixos-system-NAME`. */
  name: string;
  /**
   * Files under etc/systemd/system, by relative path: "foo.service", "foo.service.d/x.conf",
   * "multi-user.target.wants/foo.service": { symlink: "../foo.service" }. They shadow systemd's
   * own units of the same name.
   */
  units?: Record<string, UnitEntry>;
  /** Shorthand for wants links: { "foo.service": ["multi-user.target"] }. */
  wantedBy?: Record<string, string[]>;
  /** Content of etc/systemd/system.conf (default "[Manager]\n"); stored content-addressed. */
  systemConf?: string;
  /** Content of etc/fstab (default: a comment). */
  fstab?: string;
  /** Extra files under etc/ (relative paths), linked into /etc by activate. */
  etc?: Record<string, string>;
  /** Shell run by the default activate before /run/current-system is switched. */
  activate?: string;
  /** Replaces the whole activate script (gets systemConfig=TOPLEVEL set above it). */
  activateScript?: string;
  /** Shell run by the default dry-activate. */
  dryActivate?: string;
  /** Units activate asks the switch to restart / reload (/run/nixos/activation-*-list). */
  activationRestartList?: string[];
  activationReloadList?: string[];
  /** The same for dry-activate (/run/nixos/dry-activation-*-list). */
  dryActivationRestartList?: string[];
  dryActivationReloadList?: string[];
  /** "stagehand" (default: /usr/local/bin/stagehand), "perl" (the reference Perl script), or a path inside. */
  switchBinary?: string;
  /** Default "systemd 2" (NixOS's systemd interfaceVersion). */
  initInterfaceVersion?: string;
  /** Body of the pre-switch check script (called with TOPLEVEL ACTION); default exits 0. */
  preSwitchCheck?: string;
  /** Body of the bootloader installer (called with TOPLEVEL); default records the call in /run/stagehand-test/bootloader. */
  installBootloader?: string;
  /** Value of DISTRO_ID (default "nixos"). */
  distroId?: string;
}

/** A built generation; paths are as seen inside the container. */
export interface Generation {
  name: string;
  /** /nix/store/<h>-nixos-system-NAME */
  toplevel: string;
  /** The store path of its etc tree: /nix/store/<h>-etc/etc */
  etc: string;
  /** The systemd package path used as SYSTEMD. */
  systemd: string;
  /** Relative paths of the extra etc files (linked into /etc). */
  etcFiles: string[];
}

/** Units every NixOS system has that the switch relies on (nixos/modules/system/boot/systemd.nix). */
export const NIXOS_UNITS: Record<string, string> = {
  // Restarted by the switch after activation, so services ordered before it re-run.
  "sysinit-reactivation.target": "[Unit]\nDescription=Reactivate sysinit units\n",
};

const hash = (...parts: string[]) => createHash("sha256").update(parts.join("\0")).digest("hex").slice(0, 32);
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function write(root: string, path: string, content: string, mode = 0o444): void {
  const host = join(root, path);
  mkdirSync(dirname(host), { recursive: true });
  rmSync(host, { force: true });
  writeFileSync(host, content);
  chmodSync(host, mode);
}

function link(root: string, path: string, target: string): void {
  const host = join(root, path);
  mkdirSync(dirname(host), { recursive: true });
  rmSync(host, { force: true, recursive: true });
  symlinkSync(target, host);
}

/** A content-addressed store file: /nix/store/<h>-NAME (a file, or a dir holding FILE when `file`). */
function storeFile(root: string, name: string, content: string, file?: string): string {
  const dir = `/nix/store/${hash(name, content)}-${name}`;
  const path = file ? `${dir}/${file}` : dir;
  if (!existsSync(join(root, path))) write(root, path, content);
  return path;
}

/** The container's systemd as a store path (lib and bin point into /usr), named after its version (252, 257). */
export function systemdPackage(root: string): string {
  const version = String(systemdVersion(root) ?? "unknown");
  const path = `/nix/store/${hash("systemd", version)}-systemd-${version}`;
  if (!existsSync(join(root, path))) {
    for (const d of ["lib", "bin", "share"]) link(root, `${path}/${d}`, `/usr/${d}`);
    // systemd's own units, outside systemd's search path (as NixOS has them), so that units
    // linked from a generation report FragmentPath=/etc/systemd/system/NAME.
    const lib = join(root, "usr/lib/systemd/system");
    for (const name of readdirSync(lib)) {
      const st = lstatSync(join(lib, name));
      const dest = `${path}/example/systemd/system/${name}`;
      if (st.isDirectory()) continue;
      if (st.isSymbolicLink()) {
        const t = readlinkSync(join(lib, name));
        link(root, dest, t.startsWith("/lib/systemd/system/") || t.startsWith("/usr/lib/systemd/system/") ? t.split("/").at(-1)! : t);
      } else write(root, dest, readFileSync(join(lib, name), "utf8"));
    }
  }
  return path;
}

/** The system profile (`sw`): bin, sbin, lib, share of the container's /usr. */
function systemPath(root: string): string {
  const path = `/nix/store/${hash("system-path")}-system-path`;
  if (!existsSync(join(root, path))) for (const d of ["bin", "sbin", "lib", "share"]) link(root, `${path}/${d}`, `/usr/${d}`);
  return path;
}

/** Copies a directory of symlinks (Debian's /etc/systemd/system wants dirs) into `dest`. */
function copyLinkTree(root: string, src: string, dest: string, skip: Set<string>, rel = ""): void {
  const host = join(root, src, rel);
  if (!existsSync(host)) return;
  for (const name of readdirSync(host)) {
    const r = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(host, name));
    if (st.isDirectory()) copyLinkTree(root, src, dest, skip, r);
    else if (!skip.has(r)) {
      if (st.isSymbolicLink()) link(root, `${dest}/${r}`, readlinkSync(join(host, name)));
      else write(root, `${dest}/${r}`, readFileSync(join(host, name), "utf8"));
    }
  }
}

function listLines(file: string, units: string[] | undefined): string {
  if (!units?.length) return "";
  return `mkdir -p /run/nixos\n${units.map((u) => `echo ${q(u)} >> ${file}`).join("\n")}\n`;
}

function switchWrapper(spec: GenerationSpec, toplevel: string, systemd: string): string {
  const env: Record<string, string> = {
    OUT: toplevel,
    TOPLEVEL: toplevel,
    DISTRO_ID: spec.distroId ?? "nixos",
    PRE_SWITCH_CHECK: `${toplevel}/bin/pre-switch-check`,
    INSTALL_BOOTLOADER: `${toplevel}/bin/install-bootloader`,
    LOCALE_ARCHIVE: "/usr/lib/locale/locale-archive",
    SYSTEMD: systemd,
  };
  const target = spec.switchBinary === undefined || spec.switchBinary === "stagehand" ? "/usr/local/bin/stagehand" : spec.switchBinary;
  return [
    "#!/bin/bash",
    "# Generated like NixOS's makeWrapper around switch-to-configuration-ng.",
    ...Object.entries(env).map(([k, v]) => `export ${k}=${q(v)}`),
    `exec -a "$0" ${q(target)} "$@"`,
    "",
  ].join("\n");
}

function perlSwitch(toplevel: string, systemd: string, spec: GenerationSpec): string {
  const subst: Record<string, string> = {
    out: toplevel, toplevel, coreutils: "/usr", distroId: spec.distroId ?? "nixos",
    installBootLoader: `${toplevel}/bin/install-bootloader`, localeArchive: "/usr/lib/locale/locale-archive",
    perl: "/usr", shell: "/bin/sh", su: "/bin/su", systemd, utillinux: "/usr",
  };
  return readFileSync(PERL_SWITCH, "utf8").replace(/@([a-zA-Z]+)@/g, (m, k: string) => subst[k] ?? m);
}

/** Builds a generation in the store of the container root `root` (a host path). Deterministic. */
export function buildGeneration(root: string, spec: GenerationSpec): Generation {
  saveDebianUnitLinks(root);
  const systemd = systemdPackage(root);
  const units: Record<string, UnitEntry> = { ...NIXOS_UNITS, ...spec.units };
  for (const [unit, targets] of Object.entries(spec.wantedBy ?? {})) {
    for (const t of targets) units[`${t}.wants/${unit}`] ??= { symlink: `../${unit}` };
  }
  const descr = JSON.stringify({ ...spec, units, systemd });
  const h = hash("generation", descr);

  // The etc tree.
  const etcRoot = `/nix/store/${hash("etc", descr)}-etc`;
  const etc = `${etcRoot}/etc`;
  rmSync(join(root, etcRoot), { recursive: true, force: true });
  const unitDir = `${etc}/systemd/system`;
  mkdirSync(join(root, unitDir), { recursive: true });
  for (const [rel, entry] of Object.entries(units)) {
    if (entry === null) link(root, `${unitDir}/${rel}`, "/dev/null");
    else if (typeof entry === "string") {
      const base = rel.split("/").at(-1)!;
      link(root, `${unitDir}/${rel}`, storeFile(root, `unit-${rel.replace(/\//g, "-")}`, entry, base));
    } else link(root, `${unitDir}/${rel}`, entry.symlink);
  }
  // Debian's enablement links (wants dirs), then every unit systemd ships, so units active in the
  // container have a file here as they would on NixOS.
  const given = new Set(Object.keys(units));
  copyLinkTree(root, "/usr/lib/stagehand-debian-etc-systemd-system", unitDir, given);
  const upstream = `${systemd}/example/systemd/system`;
  for (const name of readdirSync(join(root, upstream))) {
    if (given.has(name) || existsSync(join(root, unitDir, name))) continue;
    link(root, `${unitDir}/${name}`, `${upstream}/${name}`);
  }
  link(root, `${etc}/systemd/system.conf`, storeFile(root, "system.conf", spec.systemConf ?? "[Manager]\n"));
  write(root, `${etc}/fstab`, spec.fstab ?? "# generated by the stagehand test harness\n");
  const etcFiles = Object.keys(spec.etc ?? {}).sort();
  for (const f of etcFiles) write(root, `${etc}/${f}`, spec.etc![f]!);

  // The top level.
  const toplevel = `/nix/store/${h}-nixos-system-${spec.name}`;
  rmSync(join(root, toplevel), { recursive: true, force: true });
  link(root, `${toplevel}/etc`, etc);
  link(root, `${toplevel}/systemd`, systemd);
  link(root, `${toplevel}/sw`, systemPath(root));
  write(root, `${toplevel}/init-interface-version`, spec.initInterfaceVersion ?? "systemd 2");
  write(root, `${toplevel}/nixos-version`, `test-${spec.name}`);
  write(root, `${toplevel}/system`, "x86_64-linux");
  const linkEtc = etcFiles.map((f) => `mkdir -p ${q(dirname(`/etc/${f}`))}; ln -sfn ${q(`/etc/static/${f}`)} ${q(`/etc/${f}`)}`).join("\n");
  const activate = spec.activateScript ?? [
    "# Point /etc/static at this generation's etc, atomically.",
    `ln -sfn ${q(etc)} /etc/.static.tmp && mv -T /etc/.static.tmp /etc/static`,
    linkEtc,
    listLines("/run/nixos/activation-restart-list", spec.activationRestartList),
    listLines("/run/nixos/activation-reload-list", spec.activationReloadList),
    spec.activate ?? "",
    "# Make this configuration the current configuration.",
    `ln -sfn "$(readlink -f "$systemConfig")" /run/.current-system.tmp && mv -T /run/.current-system.tmp /run/current-system`,
  ].filter(Boolean).join("\n");
  write(root, `${toplevel}/activate`, `#!/bin/bash\nset -e\nsystemConfig=${q(toplevel)}\nexport PATH=/usr/sbin:/usr/bin:/sbin:/bin\n${activate}\n`, 0o555);
  const dry = [
    listLines("/run/nixos/dry-activation-restart-list", spec.dryActivationRestartList),
    listLines("/run/nixos/dry-activation-reload-list", spec.dryActivationReloadList),
    spec.dryActivate ?? "",
  ].filter(Boolean).join("\n");
  write(root, `${toplevel}/dry-activate`, `#!/bin/bash\nset -e\nsystemConfig=${q(toplevel)}\nexport PATH=/usr/sbin:/usr/bin:/sbin:/bin\n${dry}\n`, 0o555);
  write(root, `${toplevel}/bin/pre-switch-check`, `#!/bin/sh\n${spec.preSwitchCheck ?? "exit 0"}\n`, 0o555);
  write(root, `${toplevel}/bin/install-bootloader`, `#!/bin/sh\n${spec.installBootloader ?? 'mkdir -p /run/stagehand-test && echo "$1" >> /run/stagehand-test/bootloader'}\n`, 0o555);
  write(root, `${toplevel}/bin/switch-to-configuration`,
    spec.switchBinary === "perl" ? perlSwitch(toplevel, systemd, spec) : switchWrapper(spec, toplevel, systemd), 0o555);
  return { name: spec.name, toplevel, etc, systemd, etcFiles };
}

/**
 * Makes `gen` the generation the container boots into. Call before booting (e.g. in
 * Container.boot's `prepare`): /etc/static, /etc/systemd/system, system.conf, fstab and the extra
 * etc files point into it, /etc/NIXOS exists, and tmpfiles creates /run/current-system and
 * /run/booted-system at boot (only if missing, so a later switch is not undone).
 */
export function prepareBooted(root: string, gen: Generation): void {
  saveDebianUnitLinks(root);
  link(root, "/etc/static", gen.etc);
  link(root, "/etc/systemd/system", "/etc/static/systemd/system");
  link(root, "/etc/systemd/system.conf", "/etc/static/systemd/system.conf");
  link(root, "/etc/fstab", "/etc/static/fstab");
  for (const f of gen.etcFiles) link(root, `/etc/${f}`, `/etc/static/${f}`);
  write(root, "/etc/NIXOS", "", 0o644);
  write(root, "/etc/tmpfiles.d/stagehand-booted-system.conf",
    `L /run/current-system - - - - ${gen.toplevel}\nL /run/booted-system - - - - ${gen.toplevel}\n`, 0o644);
}

/**
 * Keeps Debian's own /etc/systemd/system (enablement links) where generations can copy it from,
 * before prepareBooted replaces that directory by a link. Idempotent.
 */
export function saveDebianUnitLinks(root: string): void {
  const saved = join(root, "usr/lib/stagehand-debian-etc-systemd-system");
  if (existsSync(saved)) return;
  const src = join(root, "etc/systemd/system");
  mkdirSync(saved, { recursive: true });
  if (existsSync(src) && !lstatSync(src).isSymbolicLink()) copyLinkTree(root, "/etc/systemd/system", "/usr/lib/stagehand-debian-etc-systemd-system", new Set());
}

/** In a running container: points /run/current-system (and /run/booted-system) at `gen`, reloads systemd. */
export function markBooted(c: Container, gen: Generation): void {
  prepareBooted(c.root, gen);
  c.must(`ln -sfn ${q(gen.toplevel)} /run/current-system && ln -sfn ${q(gen.toplevel)} /run/booted-system && systemctl daemon-reload`);
}
