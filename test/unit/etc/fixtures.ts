/**
 * Fixture etc trees for the etc tests: a fake store under a root directory, laid out as NixOS's
 * etc.nix builds it (each entry a symlink to its source, sidecars for copies), and a snapshot of a
 * root's /etc that tests compare.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { tempDir } from "../tmp.ts";
import { ETC_LOCK } from "../../../src/etc/paths.ts";

/** One `environment.etc` entry. `dir` makes the source a directory of files. */
export interface FixtureEntry {
  text?: string;
  dir?: Record<string, string>;
  /** `symlink` (default), `direct-symlink`, or an octal mode; written verbatim into `.mode`. */
  mode?: string;
  user?: string;
  group?: string;
}

/** A new empty root directory (removed by the OS's tmp cleaning; tests are small). */
export function makeRoot(prefix = "etc-root-"): string {
  const root = tempDir(prefix);
  mkdirSync(join(root, "etc"));
  return root;
}

/** Builds `/nix/store/HASH-etc/etc` in `root` from entries; returns its in-root path. */
export function buildEtcTree(root: string, entries: Record<string, FixtureEntry>): string {
  const hash = createHash("sha256").update(JSON.stringify(entries)).digest("hex").slice(0, 32);
  const store = join(root, "nix/store");
  const out = `/nix/store/${hash}-etc`;
  if (existsSync(join(root, out))) return `${out}/etc`; // store paths are immutable: built once
  mkdirSync(join(root, out, "etc"), { recursive: true });
  for (const [target, e] of Object.entries(entries)) {
    const srcName = createHash("sha256").update(target + JSON.stringify(e)).digest("hex").slice(0, 32);
    const src = `/nix/store/${srcName}-etc-${target.replace(/\//g, "-")}`;
    if (existsSync(join(root, src))) {
      // the same source, already in the store
    } else if (e.dir) {
      mkdirSync(join(root, src), { recursive: true });
      for (const [n, t] of Object.entries(e.dir)) writeFileSync(join(root, src, n), t);
    } else {
      mkdirSync(store, { recursive: true });
      writeFileSync(join(root, src), e.text ?? "");
    }
    const link = join(root, out, "etc", target);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(src, link);
    if (e.mode && e.mode !== "symlink") {
      writeFileSync(`${link}.mode`, `${e.mode}\n`);
      writeFileSync(`${link}.uid`, `${e.user ?? "+0"}\n`);
      writeFileSync(`${link}.gid`, `${e.group ?? "+0"}\n`);
    }
  }
  return `${out}/etc`;
}

/** A line per path under DIR: type, mode, owner and link target or content. */
export function snapshot(dir: string, skip: (name: string) => boolean = () => false): Record<string, string> {
  const snap: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const n of readdirSync(rel ? join(dir, rel) : dir).sort()) {
      const name = rel ? `${rel}/${n}` : n;
      // stagehand's lock file is not part of what /etc holds (setup-etc.pl makes none).
      if (skip(name) || name === ETC_LOCK) continue;
      const p = join(dir, name);
      const st = lstatSync(p);
      const own = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isSymbolicLink()) snap[name] = `link -> ${readlinkSync(p)}`;
      else if (st.isDirectory()) { snap[name] = `dir ${own}`; walk(name); }
      else snap[name] = `file ${own} ${JSON.stringify(readFileSync(p, "utf8"))}`;
    }
  };
  walk("");
  return snap;
}

/** A root with passwd and group naming a user and group the host does not have. */
export function makeUserRoot(prefix = "etc-root-"): string {
  const root = makeRoot(prefix);
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\netcsvc:x:4242:4343::/var/empty:/bin/false\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\netcsvc:x:4343:\n");
  return root;
}
