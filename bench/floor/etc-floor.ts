/**
 * The floor of the etc step in Bun: etc-floor.c's algorithm, call for call, through node:fs in a
 * binary built as stagehand is (`bun build --compile`, the same flags). bench/etc.ts times it
 * beside the C floor and stagehand, so that what stagehand pays above the floor splits in two:
 * the runtime's (start-up, and node:fs's cost per call: C floor → this) and stagehand's own
 * (locking, validation, confinement, owner names, reporting: this → stagehand).
 *
 * Usage: etc-floor-bun ETC-TREE   (run by chroot, like the C floor). See etc-floor.c for what it does.
 */
import {
  closeSync, constants, fchmodSync, fchownSync, fstatSync, fsyncSync, mkdirSync, openSync, readdirSync, readlinkSync, readSync,
  renameSync, symlinkSync, unlinkSync, writeSync,
} from "node:fs";
import { syncfs } from "../../src/fs/libc.ts";

interface Copy { name: string; src: string; mode: number; uid: number; gid: number }

const declared: string[] = [];
const copies: Copy[] = [];
const links: { name: string; target: string }[] = [];
const cleanNames: string[] = [];
const dirty = new Set<string>();

function markDirty(path: string): void {
  const slash = path.lastIndexOf("/");
  dirty.add(slash === 0 ? "/" : path.slice(0, slash));
}

function tryCall<T>(f: () => T): T | undefined {
  try { return f(); } catch { return undefined; }
}

/** mkdir -p of NAME's parents under /etc (EEXIST is the common, one-call case). */
function parents(name: string): void {
  const p = `/etc/${name}`;
  for (let i = 5; i < p.length; i++) {
    if (p[i] !== "/") continue;
    const dir = p.slice(0, i);
    if (tryCall(() => { mkdirSync(dir, 0o755); return true; })) markDirty(dir);
  }
}

const small = Buffer.allocUnsafe(64);
function readSmall(path: string): string | undefined {
  let fd: number;
  try { fd = openSync(path, constants.O_RDONLY); } catch { return undefined; }
  try { return small.toString("latin1", 0, readSync(fd, small, 0, small.length - 1, null)); } catch { return undefined; } finally { closeSync(fd); }
}

/** Walks the tree (relative `rel`), collecting link and copy entries from one listing per directory. */
function walkTree(tree: string, rel: string): void {
  const dir = rel === "" ? tree : `${tree}/${rel}`;
  const listed = tryCall(() => readdirSync(dir, { withFileTypes: true }));
  if (!listed) return;
  const names = new Set(listed.map((d) => d.name));
  for (const d of listed) {
    const nm = d.name;
    if (/\.(mode|uid|gid)$/.test(nm) && nm.length > 5) continue;
    const r = rel === "" ? nm : `${rel}/${nm}`;
    if (d.isDirectory()) { walkTree(tree, r); continue; }
    declared.push(r);
    if (!names.has(`${nm}.mode`)) { links.push({ name: r, target: `/etc/static/${r}` }); continue; }
    const mode = readSmall(`${dir}/${nm}.mode`) ?? "";
    if (mode.startsWith("direct-symlink")) {
      links.push({ name: r, target: tryCall(() => readlinkSync(`${dir}/${nm}`)) ?? "" });
      cleanNames.push(r);
      continue;
    }
    cleanNames.push(r);
    const id = (s: string | undefined) => parseInt((s ?? "0").replace(/^\+/, ""), 10);
    copies.push({ name: r, src: `/etc/static/${r}`, mode: parseInt(mode, 8), uid: id(readSmall(`${dir}/${nm}.uid`)), gid: id(readSmall(`${dir}/${nm}.gid`)) });
  }
}

function linkIntoPlace(path: string, target: string): void {
  if (tryCall(() => readlinkSync(path)) === target) return;
  const tmp = `${path}.floor-tmp`;
  tryCall(() => unlinkSync(tmp));
  if (tryCall(() => { symlinkSync(target, tmp); renameSync(tmp, path); return true; })) markDirty(path);
}

const srcBuf = Buffer.allocUnsafe(1 << 20);
const curBuf = Buffer.allocUnsafe(1 << 20);
const pending: { fd: number; tmp: string; dst: string }[] = [];

/** Leaves /etc/NAME alone when it already is the copy, else stages a new file (renamed into place later). */
function copyIntoPlace(c: Copy): void {
  const path = `/etc/${c.name}`;
  let sfd: number;
  try { sfd = openSync(c.src, constants.O_RDONLY); } catch { return; }
  const sl = tryCall(() => readSync(sfd, srcBuf, 0, srcBuf.length, null)) ?? 0;
  closeSync(sfd);
  const fd = tryCall(() => openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW));
  if (fd !== undefined) {
    const st = fstatSync(fd);
    const same = st.isFile() && (st.mode & 0o7777) === c.mode && st.uid === c.uid && st.gid === c.gid && st.size === sl &&
      readSync(fd, curBuf, 0, curBuf.length, null) === sl && srcBuf.compare(curBuf, 0, sl, 0, sl) === 0;
    closeSync(fd);
    if (same) return;
  }
  parents(c.name);
  const tmp = `${path}.floor-tmp`;
  tryCall(() => unlinkSync(tmp));
  const t = tryCall(() => openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600));
  if (t === undefined) return;
  if (writeSync(t, srcBuf, 0, sl) !== sl) { closeSync(t); return; }
  fchownSync(t, c.uid, c.gid);
  fchmodSync(t, c.mode);
  pending.push({ fd: t, tmp, dst: path });
}

/** Removes symlinks into /etc/static that the tree no longer declares (one listing per directory). */
function sweep(rel: string, isDeclared: Set<string>): void {
  const dir = rel === "" ? "/etc" : `/etc/${rel}`;
  const listed = tryCall(() => readdirSync(dir, { withFileTypes: true }));
  if (!listed) return;
  for (const d of listed) {
    if (rel === "" && d.name === "static") continue;
    const r = rel === "" ? d.name : `${rel}/${d.name}`;
    if (d.isDirectory()) { sweep(r, isDeclared); continue; }
    if (!d.isSymbolicLink() || isDeclared.has(r)) continue;
    const p = `/etc/${r}`;
    const target = tryCall(() => readlinkSync(p));
    if (target?.startsWith("/etc/static/") && tryCall(() => { unlinkSync(p); return true; })) markDirty(p);
  }
}

function main(tree: string): number {
  linkIntoPlace("/etc/static", tree);
  walkTree(tree, "");
  const isDeclared = new Set(declared);
  for (const l of links) {
    const path = `/etc/${l.name}`;
    if (tryCall(() => readlinkSync(path)) === l.target) continue;
    parents(l.name);
    linkIntoPlace(path, l.target);
  }
  for (const c of copies) copyIntoPlace(c);
  // Durable before visible: fsync each new file, or one syncfs from 16 on.
  if (pending.length >= 16) syncfs(pending[0]!.fd);
  else for (const p of pending) fsyncSync(p.fd);
  for (const p of pending) {
    closeSync(p.fd);
    if (tryCall(() => { renameSync(p.tmp, p.dst); return true; })) markDirty(p.dst);
  }
  sweep("", isDeclared);
  // .clean: the old list's copies not declared any more go; the list is rewritten only on change.
  let old = "";
  const cfd = tryCall(() => openSync("/etc/.clean", constants.O_RDONLY));
  if (cfd !== undefined) { old = curBuf.toString("utf8", 0, readSync(cfd, curBuf, 0, curBuf.length, null)); closeSync(cfd); }
  const now = cleanNames.sort().map((n) => `${n}\n`).join("");
  if (old !== now) {
    for (const line of old.split("\n")) {
      if (line === "" || isDeclared.has(line)) continue;
      const p = `/etc/${line}`;
      if (tryCall(() => { unlinkSync(p); return true; })) markDirty(p);
    }
    const t = openSync("/etc/.clean.floor-tmp", constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o644);
    writeSync(t, now);
    fsyncSync(t);
    closeSync(t);
    renameSync("/etc/.clean.floor-tmp", "/etc/.clean");
    markDirty("/etc/.clean");
  }
  // /etc/NIXOS marks a NixOS /etc (setup-etc.pl's tag): created once, empty.
  const tag = tryCall(() => openSync("/etc/NIXOS", constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644));
  if (tag !== undefined) { closeSync(tag); markDirty("/etc/NIXOS"); }
  for (const d of dirty) {
    const fd = tryCall(() => openSync(d, constants.O_RDONLY | constants.O_DIRECTORY));
    if (fd !== undefined) { fsyncSync(fd); closeSync(fd); }
  }
  return 0;
}

if (process.argv.length !== 3) {
  console.error("usage: etc-floor-bun ETC-TREE");
  process.exit(2);
}
process.exit(main(process.argv[2]!));
