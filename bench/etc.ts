/**
 * setup-etc: `stagehand etc` against NixOS's setup-etc.pl on 2,000 `environment.etc` entries (links,
 * copies with modes and owners, direct-symlinks, directory sources, nested directories): first run on a
 * Debian /etc, a no-op rerun, and a switch where 10% of the entries change. Each tool runs in a chroot
 * on its own overlay copy of the cached rootfs (setup-etc.pl writes the real /etc).
 */
import { buildEtcTree, type FixtureEntry } from "../test/unit/etc/fixtures.ts";
import { compare, comparisonRoots, comparisonTable, must, saveState, type ComparisonRow, type EtcFs } from "./chroot.ts";

const PERL_SCRIPT = "/work/shared/reference/nixos/modules/system/etc/setup-etc.pl";

/** A realistic mix of N entries; `variant` changes the content (and some kinds) of every 10th one. */
export function etcEntries(n: number, variant = 0): Record<string, FixtureEntry> {
  const entries: Record<string, FixtureEntry> = {};
  for (let i = 0; i < n; i++) {
    const changed = variant > 0 && i % 10 === 3;
    const text = `entry ${i}${changed ? ` v${variant}` : ""}\n${"x".repeat(200 + (i % 7) * 50)}\n`;
    const path = i % 5 === 0 ? `top-${i}.conf` : `d${i % 40}/sub${i % 6}/${i % 3 === 0 ? "deeper/" : ""}file-${i}.conf`;
    const kind = i % 10;
    if (kind < 6) entries[path] = { text };                                            // 60% plain links
    else if (kind < 8) entries[path] = { text, mode: ["0644", "0600", "0640", "0444"][i % 4]!, user: `+${i % 3 === 0 ? 0 : 1000 + (i % 50)}`, group: `+${i % 2 ? 0 : 100}` }; // 20% copies
    else if (kind < 9) entries[path] = { text, mode: "direct-symlink" };              // 10% direct symlinks
    else entries[`dirs/${i}`] = { dir: { "a.conf": text, "b.conf": `b ${i}\n`, "c.conf": `c ${i}\n` } }; // 10% directory sources
  }
  // A removed and an added tenth of the kinds in the changed variant, so the change is not only content.
  if (variant > 0) {
    for (let i = 7; i < n; i += 50) delete entries[Object.keys(entries)[i]!];
    for (let i = 0; i < n / 50; i++) entries[`added-${variant}/new-${i}.conf`] = { text: `new ${i}\n` };
  }
  return entries;
}

/** Runs the etc comparison; returns its Markdown section. */
export function benchEtc(n = 2000, runs = 10, filesystems: EtcFs[] = ["disk", "tmpfs"]): string[] {
  const rows = filesystems.flatMap((fs) => etcRows(n, runs, fs));
  return comparisonTable("## setup-etc: `stagehand etc` vs setup-etc.pl",
    `${n} entries (60% links, 20% copies with modes and numeric owners, 10% direct symlinks, 10% directory sources; ` +
    "nested up to 4 levels). Each tool runs by `chroot` in its own overlay copy of a Debian rootfs, whose /etc is a plain " +
    "directory on the host's disk (ext4) or on a tmpfs (storage cost taken out: the tools' own work); hyperfine, " +
    `${runs} runs after 3 warm-ups, mean ± σ; first-run and change rows restore /etc before each run (\`--prepare\`, not timed). ` +
    "setup-etc.pl's no-op rerun removes and re-creates every link (a bug stagehand does not reproduce); stagehand " +
    "makes each file it writes durable before renaming it into place and each changed directory after (crash safety: " +
    "fsync of each, or one syncfs per file system from 16 on), setup-etc.pl syncs nothing; a no-op writes and syncs nothing.",
    "setup-etc.pl", rows);
}

function etcRows(n: number, runs: number, fs: EtcFs): ComparisonRow[] {
  const roots = comparisonRoots("bench-etc", PERL_SCRIPT, "setup-etc.pl", fs);
  try {
    const genA = etcEntries(n);
    const genB = etcEntries(n, 1);
    const [pA, oA] = [roots.perl, roots.ours].map((r) => buildEtcTree(r.dir, genA));
    const [pB, oB] = [roots.perl, roots.ours].map((r) => buildEtcTree(r.dir, genB));
    const perl = (etc: string) => ["chroot", roots.perl.dir, "perl", "/setup-etc.pl", etc!];
    const ours = (etc: string) => ["chroot", roots.ours.dir, "/stagehand", "etc", etc!];
    const rows: ComparisonRow[] = [];
    // Debian's /etc as debootstrap left it: the first-run starting point.
    const freshPerl = saveState(roots.perl.dir, ["etc"], ".bench-fresh");
    const freshOurs = saveState(roots.ours.dir, ["etc"], ".bench-fresh");
    rows.push(compare(`${fs}: first run, ${n} entries`, perl(pA!), ours(oA!), { prepPerl: freshPerl, prepOurs: freshOurs, runs }));
    must(["sh", "-c", freshPerl]); must(perl(pA!));
    must(["sh", "-c", freshOurs]); must(ours(oA!));
    rows.push(compare(`${fs}: no-op rerun`, perl(pA!), ours(oA!), { runs }));
    const afterPerl = saveState(roots.perl.dir, ["etc"], ".bench-after-a");
    const afterOurs = saveState(roots.ours.dir, ["etc"], ".bench-after-a");
    rows.push(compare(`${fs}: 10% of entries changed, added or removed`, perl(pB!), ours(oB!), { prepPerl: afterPerl, prepOurs: afterOurs, runs }));
    return rows;
  } finally {
    roots.dispose();
  }
}

if (import.meta.main) {
  const fs = process.argv[4] ? [process.argv[4] as EtcFs] : undefined;
  console.log(benchEtc(Number(process.argv[2] ?? 2000), Number(process.argv[3] ?? 10), fs).join("\n"));
}
