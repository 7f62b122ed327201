/**
 * Random etc trees for the seeded fuzz tests (test/unit/etc/fuzz.test.ts, test/unit/graph/dry-exact.test.ts):
 * a generation is a map of names to links, direct symlinks, copies (mode and owners) and directories,
 * drawn from a shape each test chooses, mutated into a next generation, and written into a root as
 * etc.nix writes one (`/nix/store/<label>-etc/etc`, sidecars beside each entry).
 */
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Random } from "./random.ts";

/** What an entry's store source is: a file's text, or a directory's files. */
export type Source = { text: string } | { dir: Record<string, string> };
/** An entry of the tree that is not a directory of it. */
export type Leaf =
  | { kind: "link"; src: Source }
  | { kind: "direct"; src: Source }
  | { kind: "copy"; src: Source; mode: string; user: string; group: string };
/** An entry, or a directory of the tree holding more. */
export type Node = Leaf | { kind: "dir"; children: Map<string, Node> };
/** A generation: the top-level entries by name. */
export type Gen = Map<string, Node>;

/** What a test's generations are drawn from, and how often each kind comes. */
export interface EtcGenShape {
  /** Top-level names, and names inside directories of the tree. */
  top: readonly string[];
  sub: readonly string[];
  /** The files a directory source may hold. */
  dirFiles: readonly string[];
  /** What a copy's mode, user and group are picked from. */
  modes: readonly string[];
  users: readonly string[];
  groups: readonly string[];
  /** A mode and a user a copy gets now and then (`oddChance` each) instead of one of the above: refused, unknown. */
  oddMode?: string;
  oddUser: string;
  oddChance: number;
  /** How often a top-level name, a name inside a directory, a copy of a directory, random bytes as a file's text. */
  pTop: number;
  pChild: number;
  pCopyOfDir: number;
  pBytes: number;
  /** Leaf kinds by one draw: below `link` a link, below `direct` a direct symlink, else a copy. */
  link: number;
  direct: number;
  /** The largest value of the number in a file's text (`text N`), which decides how often contents repeat. */
  texts: number;
}

/** Draws generations of one shape. */
export class EtcGenerator {
  constructor(readonly shape: EtcGenShape) {}

  /** A store source; a directory only when `dirOk`. */
  source(r: Random, dirOk: boolean): Source {
    if (dirOk && r.chance(0.2)) {
      const dir: Record<string, string> = {};
      for (const n of this.shape.dirFiles) if (r.chance(0.6)) dir[n] = `${n} ${r.int(3)}\n`;
      return { dir };
    }
    if (this.shape.pBytes > 0 && r.chance(this.shape.pBytes)) return { text: Buffer.from(r.bytes(r.int(40))).toString("latin1") };
    return { text: `text ${r.int(this.shape.texts)}\n` };
  }

  /** A copy's mode: now and then the odd one. */
  private mode(r: Random): string {
    const s = this.shape;
    return s.oddMode !== undefined && r.chance(s.oddChance) ? s.oddMode : r.pick(s.modes);
  }

  leaf(r: Random): Leaf {
    const s = this.shape;
    const k = r.next();
    if (k < s.link) return { kind: "link", src: this.source(r, true) };
    if (k < s.direct) return { kind: "direct", src: this.source(r, true) };
    // A copy of a directory is refused by name; an unknown owner or a bad mode too.
    return { kind: "copy", src: this.source(r, r.chance(s.pCopyOfDir)), mode: this.mode(r), user: r.chance(s.oddChance) ? s.oddUser : r.pick(s.users), group: r.pick(s.groups) };
  }

  node(r: Random, depth: number): Node {
    if (depth < 2 && r.chance(0.3)) {
      const children = new Map<string, Node>();
      for (const n of this.shape.sub) if (r.chance(this.shape.pChild)) children.set(n, this.node(r, depth + 1));
      return { kind: "dir", children };
    }
    return this.leaf(r);
  }

  /** A generation of top-level names from the shape. */
  gen(r: Random): Gen {
    const g: Gen = new Map();
    for (const n of this.shape.top) if (r.chance(this.shape.pTop)) g.set(n, this.node(r, 0));
    return g;
  }

  /**
   * The next generation from `g`: most names kept, some removed, some of another kind now, some
   * new (from `pool`); names in `apart` are left out, for the caller to carry over as it wants.
   */
  mutate(r: Random, g: Map<string, Node>, depth = 0, pool: readonly string[] = this.shape.top, apart: ReadonlySet<string> = new Set()): Map<string, Node> {
    const out = new Map<string, Node>();
    for (const n of new Set([...g.keys(), ...pool])) {
      if (apart.has(n)) continue;
      const old = g.get(n);
      const x = r.next();
      if (old === undefined) { if (x < 0.2) out.set(n, this.node(r, depth)); continue; }
      if (x < 0.15) continue; // removed
      if (x < 0.4) { out.set(n, this.node(r, depth)); continue; } // (most often) another kind
      if (old.kind === "dir" && r.chance(0.6)) { out.set(n, { kind: "dir", children: this.mutate(r, old.children, depth + 1, this.shape.sub) }); continue; }
      if (old.kind === "copy" && r.chance(0.5)) { out.set(n, { ...old, src: this.source(r, false), mode: r.pick(this.shape.modes) }); continue; }
      out.set(n, old);
    }
    return out;
  }
}

/** Every entry of a generation by its name under /etc. */
export function flatten(g: Map<string, Node>, prefix = "", out = new Map<string, Node>()): Map<string, Node> {
  for (const [n, v] of g) {
    const name = prefix + n;
    out.set(name, v);
    if (v.kind === "dir") flatten(v.children, `${name}/`, out);
  }
  return out;
}

/** A generation in lines, for a failing case's report. */
export function showGen(g: Gen): string {
  return [...flatten(g)].map(([n, v]) => `  ${JSON.stringify(n)} ${v.kind}${v.kind === "copy" ? ` ${v.mode} ${v.user}:${v.group}` : ""}${v.kind !== "dir" && "dir" in v.src ? " (dir source)" : ""}`).join("\n");
}

/** Writes the generation as etc.nix would, at `/nix/store/<label>-etc/etc` in `root`; returns that path. */
export function buildGen(root: string, label: string, g: Gen): string {
  const out = `/nix/store/${label}-etc/etc`;
  let count = 0;
  const write = (m: Map<string, Node>, dir: string) => {
    mkdirSync(join(root, dir), { recursive: true });
    for (const [n, v] of m) {
      const at = join(root, dir, n);
      if (v.kind === "dir") { write(v.children, `${dir}/${n}`); continue; }
      // Store names of their own (an entry's name may be too long to be part of one).
      const src = `/nix/store/${label}-src${count++}`;
      if ("dir" in v.src) {
        mkdirSync(join(root, src));
        for (const [f, t] of Object.entries(v.src.dir)) writeFileSync(join(root, src, f), t);
      } else writeFileSync(join(root, src), v.src.text, "latin1");
      symlinkSync(src, at);
      if (v.kind === "direct") writeFileSync(`${at}.mode`, "direct-symlink\n");
      if (v.kind === "copy") {
        writeFileSync(`${at}.mode`, `${v.mode}\n`);
        writeFileSync(`${at}.uid`, `${v.user}\n`);
        writeFileSync(`${at}.gid`, `${v.group}\n`);
      }
    }
  };
  write(g, out);
  return out;
}
