/**
 * Roots for the etc system tests: overlayfs copies of the cached Debian rootfs with one more lower
 * layer of our own, so /etc holds lower-layer directories that overlayfs cannot rename (EXDEV), as
 * on the roots NixOS containers, images and live systems run on.
 */
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { defaultSuite, overlayRoot, type RootCopy } from "../harness/rootfs.ts";

/** What the extra lower layer holds under /etc: a directory ("dir"), a file (its text), or a link ({ link }). */
export type LowerNode = "dir" | string | { link: string };

/** The lower-layer directories the etc tests replace: empty, only links into /etc/static, with a user file. */
export const LOWER_ETC: Record<string, LowerNode> = {
  "lower-empty": "dir",
  "lower-static": "dir",
  "lower-static/a": { link: "/etc/static/lower-static/a" },
  "lower-static/sub": "dir",
  "lower-static/sub/b": { link: "/etc/static/lower-static/sub/b" },
  "lower-user": "dir",
  "lower-user/mine": "a user's file\n",
  "lower-file": "a file of the image\n",
  "lower-obsolete": { link: "/etc/static/lower-obsolete" },
  "lower-link": { link: "/etc/static/lower-link" },
};

/**
 * An overlay whose lower layers are `etc` (written under /etc of a layer of our own) above the
 * cached rootfs of this process's suite; the upper layer is private to the caller.
 */
export function overlayWithLower(prefix: string, etc: Record<string, LowerNode> = LOWER_ETC): RootCopy & { lower: string } {
  let lower = "";
  const copy = overlayRoot(prefix, defaultSuite(), (dir) => {
    lower = dir;
    for (const [name, node] of Object.entries(etc)) {
      const p = join(dir, "etc", name);
      mkdirSync(dirname(p), { recursive: true });
      if (node === "dir") mkdirSync(p, { recursive: true });
      else if (typeof node === "string") writeFileSync(p, node);
      else symlinkSync(node.link, p);
    }
  });
  return { ...copy, lower };
}
