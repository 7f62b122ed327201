/**
 * Differential test: setup-etc.pl (Debian's perl with File::Slurp, in a chroot) against
 * `stagehand etc` (the compiled binary, once in a chroot and once with --root from outside) on
 * identical overlay copies of the cached rootfs, through a sequence of etc generations. Trees
 * (type, link target, mode, owner, content) and messages must be identical except the two
 * documented Perl bugs, whose differences are asserted explicitly.
 *
 * The roots are overlayfs mounts (the root of the etc tree, /etc, is the merged directory): the
 * cached rootfs and a layer of our own below (etc-helpers.ts), so generations replace directories
 * of a lower layer, which overlayfs cannot rename (Debian's empty /etc/profile.d, one of links into
 * /etc/static, one with a user's file).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RootCopy } from "../harness/rootfs.ts";
import { overlayWithLower } from "./etc-helpers.ts";
import { buildEtcTree, type FixtureEntry, snapshot } from "../unit/etc/fixtures.ts";
import { reference } from "../harness/shared.ts";

const ROOT = join(import.meta.dir, "../..");
const BIN = join(ROOT, "dist/stagehand");
const PERL_SCRIPT = reference("nixos/modules/system/etc/setup-etc.pl");

/** Named owners (the chomp bug leaves such copies 0:0 under Perl). */
const NAMED = { user: "nobody", group: "nogroup" };

const gen1: Record<string, FixtureEntry> = {
  hosts: { text: "127.0.0.1 localhost\n" },
  "ssh/sshd_config": { text: "Port 22\n" },
  "ssh/moduli": { text: "moduli\n" },
  secret: { text: "s3cret\n", mode: "0400", ...NAMED },
  numeric: { text: "n\n", mode: "0640", user: "+1000", group: "+100" },
  direct: { text: "direct\n", mode: "direct-symlink" },
  "systemd/system": { dir: { "a.service": "[Unit]\n" } },
  "dirlink/a": { text: "a\n" },
  "dirlink/b": { text: "b\n" },
  "userdir/a": { text: "ua\n" },
  "tolink": { text: "copy first\n", mode: "0600" },
  "todirect": { text: "copy then direct\n", mode: "0644" },
  "becomesdir": { dir: { x: "x\n" } },
  "unitdir": { dir: { "a.service": "[Unit]\n" } },
  // The lower layer's links into /etc/static, declared: the directory holds only static links.
  "lower-static/a": { text: "a\n" },
  "lower-static/sub/b": { text: "b\n" },
};

const gen2: Record<string, FixtureEntry> = {
  hosts: { text: "127.0.0.1 localhost\n::1 localhost\n", mode: "0644" }, // link -> copy
  "ssh/sshd_config": { text: "Port 2222\n" },                            // changed, ssh/moduli removed
  secret: { text: "s3cret\n", mode: "0440", ...NAMED },                  // mode change
  direct: { text: "direct\n" },                                          // direct -> link
  "systemd/system": { dir: { "a.service": "[Unit]\n", "b.service": "[Unit]\n" } },
  dirlink: { dir: { a: "a\n", b: "b\n" } },                              // directory -> link
  userdir: { dir: { a: "ua\n" } },                                       // directory with a user file -> link (refused)
  tolink: { text: "now a link\n" },                                      // copy -> link
  todirect: { text: "copy then direct\n", mode: "direct-symlink" },      // copy -> direct
  "becomesdir/x": { text: "x\n" },                                       // link to a dir -> directory of links
  "new/nested/file": { text: "new\n", mode: "0600", user: "+0", group: "+0" },
  // Lower-layer directories (overlayfs: EXDEV on rename): removed in place, or kept with warnings.
  "profile.d": { dir: { "a.sh": "a\n" } },                               // Debian's empty directory -> link
  "lower-static": { dir: { a: "a\n", sub: "b\n" } },                     // only links into /etc/static -> link
  "lower-empty": { text: "now a copy\n", mode: "0600" },                 // empty -> copy
  "lower-user": { dir: { mine: "declared\n" } },                         // a user's file: kept (refused)
  "lower-file": { text: "declared\n", mode: "0644" },                    // a lower file -> copy
};

const gen3: Record<string, FixtureEntry> = Object.fromEntries(Object.entries({
  ...gen1,
  hosts: { text: "127.0.0.1 localhost\n" },                             // copy -> link again
  direct: { text: "direct again\n", mode: "direct-symlink" },          // link -> direct
  "unitdir": undefined as unknown as FixtureEntry,
  "unitdir/a.service": { text: "[Unit]\n" },                            // link -> directory
  "unitdir/c.service": { text: "[Unit]\n" },
}).filter(([, e]) => e !== undefined));

let perl: RootCopy;
let chrooted: RootCopy;
let prefixed: RootCopy;

/** Lines of stderr, without Perl's own noise (not messages of the script). */
function lines(s: string): string[] {
  return s.split("\n").filter((l) => l !== "" && !/^Exiting subroutine via next|^substr outside of string/.test(l))
    .map((l) => l.replace(/ at \/setup-etc\.pl line \d+\.$/, ""));
}

function runPerl(etc: string) {
  const r = spawnSync("/usr/sbin/chroot", [perl.dir, "perl", "/setup-etc.pl", etc], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } });
  assert.is(r.status, 0, r.stderr);
  return lines(r.stderr);
}

function runChrooted(etc: string) {
  const r = spawnSync("/usr/sbin/chroot", [chrooted.dir, "/stagehand", "etc", etc], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } });
  return { status: r.status, stderr: lines(r.stderr), stdout: r.stdout };
}

function runPrefixed(etc: string) {
  const r = spawnSync(BIN, ["etc", "--root", prefixed.dir, etc], { encoding: "utf8" });
  return { status: r.status, stderr: lines(r.stderr), stdout: r.stdout };
}

const snap = (c: RootCopy) => snapshot(join(c.dir, "etc"));

/** The entries on which two snapshots differ, one short line each (a readable failure). */
function differences(a: Record<string, string>, b: Record<string, string>): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => a[k] !== b[k]).map((k) => `${k}: ${(a[k] ?? "(none)").slice(0, 100)} | ${(b[k] ?? "(none)").slice(0, 100)}`);
}

/** Links that setup-etc.pl reports obsolete although the new tree still declares them (the missing `/` bug). */
function spuriousRemovals(perlLines: string[], declared: Record<string, FixtureEntry>): string[] {
  return perlLines.filter((l) => {
    const m = /^removing obsolete symlink ‘\/etc\/(.*)’\.\.\.$/.exec(l);
    return m !== null && m[1]! in declared;
  });
}

function generation(label: string, entries: Record<string, FixtureEntry>, before?: () => void) {
  test(`${label}: stagehand etc matches setup-etc.pl except the documented fixes`, () => {
    const paths = [perl, chrooted, prefixed].map((c) => buildEtcTree(c.dir, entries));
    assert.ok(paths.every((p) => p === paths[0]), "identical store paths");
    const etc = paths[0]!;
    before?.();
    const linksBefore = Object.entries(snap(perl)).filter(([, v]) => v.startsWith("link -> /etc/static/")).length;

    const perlLines = runPerl(etc);
    const a = runChrooted(etc);
    const b = runPrefixed(etc);
    const perlTree = snap(perl);
    const ourTree = snap(chrooted);

    // The two ways of running stagehand agree exactly.
    assert.ok(a.status === 0 || a.status === 1, `stagehand ran in the chroot: ${a.status} ${a.stderr.join("\n")}`);
    assert.equal(differences(snap(prefixed), ourTree), [], "chroot and --root give the same /etc");
    assert.equal(b.stderr, a.stderr, "chroot and --root print the same");
    assert.is(a.status, b.status);

    // Bug 1 (cleanup's missing `/`): Perl removes and re-creates every link into /etc/static.
    const spurious = spuriousRemovals(perlLines, entries);
    if (linksBefore > 0) assert.ok(spurious.length > 0, "setup-etc.pl reports still-declared links as obsolete");
    for (const l of spurious) assert.not.ok(a.stderr.includes(l), `stagehand does not report ${l}`);
    // Bug 2 (no chomp of .uid/.gid): Perl's named-owner copies end up 0:0 with warnings; ours resolve.
    const perlRest = perlLines.filter((l) => !spurious.includes(l) && !/^Use of uninitialized value \$[ug]id in int/.test(l));
    const named = Object.entries(entries).filter(([, e]) => e.user === NAMED.user && e.mode && /^[0-7]+$/.test(e.mode));
    for (const [name] of named) {
      assert.match(perlTree[name]!, / 0:0 /, `setup-etc.pl leaves ${name} owned by root`);
      assert.match(ourTree[name]!, / 65534:65534 /, `stagehand gives ${name} to nobody:nogroup`);
      perlTree[name] = perlTree[name]!.replace(" 0:0 ", " 65534:65534 ");
    }
    assert.equal(differences(ourTree, perlTree), [], "same /etc (ours | perl's)");
    assert.equal([...a.stderr].sort(), [...perlRest].sort(), "same messages");
    const refused = a.stderr.some((l) => l.startsWith("could not create"));
    assert.is(a.status, 0, `exit status (refused entries are setup-etc.pl warnings, not errors: ${refused})`);
  });
}

test.before(() => {
  perl = overlayWithLower("etc-diff-perl-");
  chrooted = overlayWithLower("etc-diff-chroot-");
  prefixed = overlayWithLower("etc-diff-root-");
  copyFileSync(PERL_SCRIPT, join(perl.dir, "setup-etc.pl"));
  copyFileSync(BIN, join(chrooted.dir, "stagehand"));
  // A compiled Bun binary reads its own code through /proc/self/exe. (dispose() unmounts it: umount -R.)
  spawnSync("mount", ["-t", "proc", "proc", join(chrooted.dir, "proc")]);
});

test.after(() => {
  for (const c of [perl, chrooted, prefixed]) c?.dispose();
});

generation("generation 1 (first run on a Debian /etc)", gen1);
generation("generation 1 again (a no-op)", gen1);
generation("generation 2 (added, removed, changed, transitions)", gen2, () => {
  for (const c of [perl, chrooted, prefixed]) writeFileSync(join(c.dir, "etc/userdir/mine"), "user file\n");
});
generation("generation 3 (back, with more transitions)", gen3);
generation("generation 1 again (directories become links)", gen1);
generation("generation 3 again (links become directories)", gen3);
generation("generation 2 again", gen2);

test("the three roots agree on /etc/.clean in setup-etc.pl's format", () => {
  const texts = [perl, chrooted, prefixed].map((c) => readFileSync(join(c.dir, "etc/.clean"), "utf8"));
  assert.is(texts[1], texts[0]);
  assert.is(texts[2], texts[0]);
  assert.ok(texts[0]!.endsWith("\n"));
  void mkdirSync;
});

test.run();
