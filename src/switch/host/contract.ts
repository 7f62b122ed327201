/**
 * The environment contract of a generation's `bin/switch-to-configuration`: NixOS's wrapper sets
 * these variables before exec'ing the engine, exactly as for switch-to-configuration-ng.
 */
import { readToString } from "../../text/utf8.ts";
import { statSync } from "node:fs";
import { MAX_BYTES, readRegularFile } from "../../fs/read.ts";
import { join } from "node:path";
import { EXIT, SwitchExit } from "./exit.ts";

/** The actions of switch-to-configuration. */
export type Action = "switch" | "boot" | "test" | "dry-activate" | "check";

const ACTIONS: readonly Action[] = ["switch", "boot", "test", "dry-activate", "check"];

/** Parses an action word; undefined when it is none of ACTIONS. */
export function parseAction(word: string | undefined): Action | undefined {
  return ACTIONS.find((a) => a === word);
}

/** What the wrapper passes in, read once at start. */
export interface SwitchEnv {
  /** The generation's own path (`$OUT`): holds `activate` and `dry-activate`. */
  out: string;
  /** The toplevel being switched to (`$TOPLEVEL`, differs from OUT for specialisations' wrappers). */
  toplevel: string;
  /** The os-release ID accepted as NixOS (`$DISTRO_ID`). */
  distroId: string;
  /** Command run with TOPLEVEL and ACTION before anything else (`$PRE_SWITCH_CHECK`). */
  preSwitchCheck: string;
  /** Command run with TOPLEVEL for switch and boot (`$INSTALL_BOOTLOADER`). */
  installBootloader: string;
  /** The new generation's systemd package (`$SYSTEMD`). */
  systemd: string;
  /** `$LOCALE_ARCHIVE`, passed on to children unchanged. */
  localeArchive?: string;
  /** NIXOS_NO_CHECK=1 skips the pre-switch check. */
  noCheck: boolean;
  /** NIXOS_NO_SYNC=1 skips syncfs of /nix/store. */
  noSync: boolean;
  /** STC_DISPLAY_ALL_UNITS=1 shows targets that are always started. */
  displayAllUnits: boolean;
}

/** Reads a required variable, failing as ng does ("missing required environment variable $X"). */
export function requiredEnv(env: Record<string, string | undefined>, name: string): string {
  const v = env[name];
  if (v === undefined) {
    throw new SwitchExit(EXIT.error, [`Error: missing required environment variable $${name}`]);
  }
  return v;
}

/** Reads the contract from an environment (process.env in production). */
export function readSwitchEnv(env: Record<string, string | undefined>): SwitchEnv {
  return {
    out: requiredEnv(env, "OUT"),
    toplevel: requiredEnv(env, "TOPLEVEL"),
    distroId: requiredEnv(env, "DISTRO_ID"),
    preSwitchCheck: requiredEnv(env, "PRE_SWITCH_CHECK"),
    installBootloader: requiredEnv(env, "INSTALL_BOOTLOADER"),
    systemd: requiredEnv(env, "SYSTEMD"),
    localeArchive: env.LOCALE_ARCHIVE,
    noCheck: env.NIXOS_NO_CHECK === "1",
    noSync: env.NIXOS_NO_SYNC === "1",
    displayAllUnits: env.STC_DISPLAY_ALL_UNITS === "1",
  };
}

/** Parses os-release as ng does: `KEY=VALUE` lines, value kept verbatim (quotes included). */
function parseOsRelease(text: string): Map<string, string> {
  const m = new Map<string, string>();
  const raws = text.split("\n");
  for (let i = 0; i < raws.length; i++) {
    // Lines as Rust's `lines()` gives them to ng: a line ending in CRLF loses its CR (a CR with no
    // LF after it, at the end of the file, stays).
    const raw = raws[i]!;
    const line = i < raws.length - 1 && raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const eq = line.indexOf("=");
    if (eq >= 0) m.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return m;
}

/**
 * Whether `root` is a NixOS installation: `/etc/NIXOS` is a regular file, or os-release's ID is
 * DISTRO_ID, optionally double-quoted. ng builds a regex from DISTRO_ID; we compare literally, so
 * an ID with regex metacharacters means itself.
 */
export function isNixos(root: string, distroId: string): boolean {
  // ng reads os-release first and fails without it, even where /etc/NIXOS exists.
  let text: string;
  try {
    // Only a regular file of sane size: a FIFO or a device planted there must not hang a switch.
    const bytes = readRegularFile(join(root, "etc/os-release"), { maxBytes: MAX_BYTES.osRelease, what: "os-release" });
    // ng reads it with read_to_string: bytes that are not UTF-8 fail the read, not the check.
    // A BOM is kept, as read_to_string keeps it (then `ID` is not the first key, for ng too).
    text = readToString(bytes);
  } catch (e) {
    throw new SwitchExit(EXIT.error, ["Error: Failed to parse os-release", "", "Caused by:", "    0: Failed to read /etc/os-release", `    1: ${(e as Error).message}`]);
  }
  try {
    if (statSync(join(root, "etc/NIXOS")).isFile()) return true;
  } catch { /* fall back to os-release */ }
  const id = parseOsRelease(text).get("ID");
  if (id === undefined) return false;
  return id === distroId || id === `"${distroId}"` || id === `"${distroId}` || id === `${distroId}"`;
}

/** Fails with ng's message and status unless `root` is NixOS. */
export function requireNixos(root: string, distroId: string): void {
  if (!isNixos(root, distroId)) throw new SwitchExit(EXIT.notNixos, ["This is not a NixOS installation!"]);
}

/** Fails as ng does when not run as root. */
export function requireRootUser(argv0: string, euid = process.geteuid?.() ?? 0): void {
  if (euid !== 0) throw new SwitchExit(EXIT.error, [`Error: ${argv0} must be run as the root user`]);
}
