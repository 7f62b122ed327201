/** What the fuzzers check is left behind: temporary names of src/fs/staged.ts anywhere in a root. */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { isTempName } from "../../src/fs/staged.ts";

/** Every temporary name of src/fs/staged.ts under `root` (paths relative to it, sorted), directories walked. */
export function stagedTemporaries(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    let list;
    try { list = readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const d of list) {
      if (isTempName(d.name)) found.push(join(dir, d.name).slice(root.length));
      if (d.isDirectory()) walk(join(dir, d.name));
    }
  };
  walk(root);
  return found.sort();
}
