/**
 * Seeded random NixOS-like systems and their successors, for differential tests of the switch
 * (stagehand against NixOS's ng). A `RandomSystem` is a small model — units of every kind the
 * planner distinguishes, each a set of "knobs" (one unit file line or a few), drop-ins, masks,
 * template instances, an fstab with mounts and swaps, system.conf — rendered into a
 * GenerationSpec. `mutate` derives a next generation by changes chosen to hit the planner's rules
 * (ignored `[Unit]` keys, reload triggers, `ExecReload`, `X-RestartIfChanged`, `X-ReloadIfChanged`,
 * `X-StopIfChanged`, `X-OnlyManualStart`, `RefuseManualStop`, socket activation, removal, masking,
 * instance drop-ins, fstab options/device/type, swaps, systemd re-exec, ...). Everything is a pure
 * function of the seed, so a failing case replays from its seed alone.
 *
 * Units are named `r-*` (and `mnt-r*` mounts) so a test can stop them all; the target
 * `r-all.target` wants the units a system runs, so starting it brings a container to the state.
 */
import type { GenerationSpec, UnitEntry } from "./generation.ts";
import { Random } from "./random.ts";

/** Each item independently with probability p, in order. */
function subset<T>(rng: Random, items: readonly T[], p: number): T[] {
  return items.filter(() => rng.chance(p));
}

/** A derived seed (for state s, pair p, ...): stable, well mixed, 32 bits. */
export function subSeed(seed: number, ...parts: number[]): number {
  let h = seed >>> 0;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x9e3779b1) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
  }
  return h;
}

type Kind = "service" | "socket" | "timer" | "path" | "target" | "slice" | "mount";

/** One unit file line (or a few) with its alternatives; a missing knob renders nothing. */
interface Knob {
  section: string;
  values: readonly string[];
  /** Always present (the unit would not load without it). */
  required?: boolean;
  /** Only in systems for dry-activate (a real switch would hang or depend on timing). */
  dryOnly?: readonly number[];
}

const UNIT_KNOBS: Record<string, Knob> = {
  description: { section: "Unit", values: ["Description=random unit", "Description=random unit, renamed"] },
  documentation: { section: "Unit", values: ["Documentation=man:r(8)", "Documentation=https://example.org/r"] },
  triggers: { section: "Unit", values: ["X-Reload-Triggers=/nix/store/aaaa-trigger", "X-Reload-Triggers=/nix/store/bbbb-trigger", "X-Reload-Triggers=a b"] },
  after: { section: "Unit", values: ["After=basic.target", "After=network.target", "After=basic.target\nAfter=sysinit.target"] },
  refuseStop: { section: "Unit", values: ["RefuseManualStop=true", "RefuseManualStop=no"] },
  refuseStart: { section: "Unit", values: ["RefuseManualStart=yes", "RefuseManualStart=false"] },
  onlyManual: { section: "Unit", values: ["X-OnlyManualStart=true", "X-OnlyManualStart=0"] },
  stopOnRemoval: { section: "Unit", values: ["X-StopOnRemoval=false", "X-StopOnRemoval=true"] },
  onFailure: { section: "Unit", values: ["OnFailure=r-svc0.service", "StopWhenUnneeded=false"] },
};

const SERVICE_KNOBS: Record<string, Knob> = {
  ...UNIT_KNOBS,
  shape: {
    section: "Service", required: true,
    values: [
      "Type=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true",
      "Type=simple\nExecStart=/bin/sleep infinity",
      "Type=exec\nExecStart=/bin/sleep 86400",
      // activating for ten minutes: dry-activate only
      "Type=oneshot\nExecStart=/bin/sleep 600",
      // fails at once: "failed" counts as active for ng's map of active units, not for the pass
      "Type=oneshot\nExecStart=/bin/false",
    ],
    dryOnly: [3],
  },
  reload: { section: "Service", values: ["ExecReload=/bin/true", "ExecReload=/bin/echo reloaded"] },
  env: { section: "Service", values: ["Environment=R=1", "Environment=R=2", "Environment=R=1 \\\n  S=2", "Environment=R=1\n# a comment\nEnvironment=S=2"] },
  restartIfChanged: { section: "Service", values: ["X-RestartIfChanged=false", "X-RestartIfChanged=true"] },
  reloadIfChanged: { section: "Service", values: ["X-ReloadIfChanged=true", "X-ReloadIfChanged=no", "X-ReloadIfChanged=on"] },
  stopIfChanged: { section: "Service", values: ["X-StopIfChanged=false", "X-StopIfChanged=yes"] },
  notSocket: { section: "Service", values: ["X-NotSocketActivated=true", "X-NotSocketActivated=false"] },
  sockets: { section: "Service", values: ["Sockets=r-sa0.socket", "Sockets=r-sa1.socket", "Sockets=r-sa0.socket r-sa1.socket"] },
  xtest: { section: "Service", values: ["X-Test=a", "X-Test=b", ";X-Test=commented\nX-Test=a"] },
  slice: { section: "Service", values: ["Slice=r-slice0.slice"] },
  // '#' and ';' inside a value. Not after a space: ng's INI library takes " ;"/" #" as the start of
  // an inline comment (systemd has none), a named difference (ng-differences.test.ts), as are
  // quoted values and lines without '=', which these units avoid too.
  inline: { section: "Service", values: ["X-Inline=a#1", "X-Inline=a#2", "X-Inline=a;1", "X-Inline=a;2"] },
  extra: { section: "X-Extra", values: ["Foo=bar", "Foo=baz"] },
};

const SOCKET_KNOBS: Record<string, Knob> = {
  description: UNIT_KNOBS.description!, triggers: UNIT_KNOBS.triggers!, refuseStop: UNIT_KNOBS.refuseStop!,
  stopOnRemoval: UNIT_KNOBS.stopOnRemoval!,
  listen: { section: "Socket", required: true, values: ["ListenStream=/run/@NAME@.sock", "ListenStream=/run/@NAME@-b.sock"] },
  mode: { section: "Socket", values: ["SocketMode=0600", "SocketMode=0666"] },
};

const TIMER_KNOBS: Record<string, Knob> = {
  description: UNIT_KNOBS.description!, triggers: UNIT_KNOBS.triggers!, stopOnRemoval: UNIT_KNOBS.stopOnRemoval!,
  refuseStop: UNIT_KNOBS.refuseStop!,
  calendar: { section: "Timer", required: true, values: ["OnCalendar=2099-01-01", "OnCalendar=Fri 2098-11-23 16:00:00"] },
  accuracy: { section: "Timer", values: ["AccuracySec=1h", "AccuracySec=1min"] },
};

const PATH_KNOBS: Record<string, Knob> = {
  description: UNIT_KNOBS.description!, stopOnRemoval: UNIT_KNOBS.stopOnRemoval!,
  watch: { section: "Path", required: true, values: ["PathExists=/run/@NAME@-never", "PathExistsGlob=/run/@NAME@-never-*"] },
  mkdir: { section: "Path", values: ["MakeDirectory=false"] },
};

const TARGET_KNOBS: Record<string, Knob> = {
  description: UNIT_KNOBS.description!, documentation: UNIT_KNOBS.documentation!, stopOnRemoval: UNIT_KNOBS.stopOnRemoval!,
  refuseStart: UNIT_KNOBS.refuseStart!, onlyManual: UNIT_KNOBS.onlyManual!,
  stopOnReconf: { section: "Unit", values: ["X-StopOnReconfiguration=true", "X-StopOnReconfiguration=false"] },
  isolate: { section: "Unit", values: ["AllowIsolate=true"] },
  wants: { section: "Unit", values: ["Wants=r-svc1.service", "Wants=r-svc2.service"] },
};

const SLICE_KNOBS: Record<string, Knob> = {
  description: UNIT_KNOBS.description!, stopOnRemoval: UNIT_KNOBS.stopOnRemoval!,
  weight: { section: "Slice", values: ["CPUWeight=100", "CPUWeight=200"] },
  tasks: { section: "Slice", values: ["TasksMax=500"] },
};

const MOUNT_KNOBS: Record<string, Knob> = {
  description: UNIT_KNOBS.description!, stopOnRemoval: UNIT_KNOBS.stopOnRemoval!, triggers: UNIT_KNOBS.triggers!,
  what: { section: "Mount", required: true, values: ["What=tmpfs\nWhere=@WHERE@\nType=tmpfs", "What=r-tmpfs\nWhere=@WHERE@\nType=tmpfs"] },
  options: { section: "Mount", values: ["Options=size=1m", "Options=size=2m,mode=0755"] },
};

const KNOBS: Record<Kind, Record<string, Knob>> = {
  service: SERVICE_KNOBS, socket: SOCKET_KNOBS, timer: TIMER_KNOBS, path: PATH_KNOBS,
  target: TARGET_KNOBS, slice: SLICE_KNOBS, mount: MOUNT_KNOBS,
};

/** Knob name -> index into its values. */
type Knobs = Record<string, number>;

/** A drop-in `NAME.d/FILE.conf`: knobs of its own, or masked (a link to /dev/null). */
interface DropinModel {
  masked?: boolean;
  knobs: Knobs;
}

/** A unit of the model. */
interface UnitModel {
  kind: Kind;
  /** No file of its own: a template instance made by its template (and drop-ins), or a unit only drop-ins name. */
  noFile?: boolean;
  masked?: boolean;
  knobs: Knobs;
  dropins: Record<string, DropinModel>;
  /** Cosmetic rendering variant (comments, blank lines, key order): changes no value. */
  style: number;
}

/** An fstab line. */
export interface FstabEntry {
  device: string;
  mountpoint: string;
  type: string;
  options: string;
}

/** A random system: units, fstab, system.conf, and what runs. */
export interface RandomSystem {
  units: Record<string, UnitModel>;
  /** Units `r-all.target` wants: what runs once the system is "booted". */
  wanted: string[];
  fstab: FstabEntry[];
  swaps: string[];
  systemConf: number;
  /** Only things a real switch can do in a container, deterministically. */
  real: boolean;
}

/** What a pair adds beyond the next system: requests and state a switch reads. */
export interface PairExtras {
  /** /run/nixos/{start,restart,reload}-list (an interrupted switch to resume). */
  lists: { start: string[]; restart: string[]; reload: string[] };
  /** The dry-activate script's restart/reload requests. */
  dryRestart: string[];
  dryReload: string[];
  /** The same from the activate script (real switches). */
  restart: string[];
  reload: string[];
  /** STC_DISPLAY_ALL_UNITS=1. */
  displayAll: boolean;
  /** A different init interface version (the switch refuses, exit 100). */
  otherInitInterface: boolean;
}

/** The unit name pool and each name's kind. Each service's socket shares its base name. */
const POOL: Record<string, Kind> = {
  "r-svc0.service": "service", "r-svc1.service": "service", "r-svc2.service": "service", "r-svc3.service": "service",
  "r-x\\x2dy.service": "service", // an escaped name, as systemd-escape makes them
  "r-sa0.service": "service", "r-sa0.socket": "socket", "r-sa1.service": "service", "r-sa1.socket": "socket",
  "r-tim0.timer": "timer", "r-tim0.service": "service",
  "r-path0.path": "path", "r-path0.service": "service",
  "r-tgt0.target": "target", "r-tgt1.target": "target",
  "r-slice0.slice": "slice",
  "r-tpl@.service": "service", "r-tpl@a.service": "service", "r-tpl@b.service": "service", "r-tpl@c.service": "service",
  "mnt-rm0.mount": "mount",
  "r-Upper.service": "service", // sorted by its lower-cased name
  "-.mount": "mount", // the root file system: reloaded, never restarted (dry-activate only)
};
/** Units a real switch in a container must not touch. */
const DRY_ONLY_UNITS = ["-.mount"];
const TEMPLATE = "r-tpl@.service";
/** Instances: a: by drop-in only; b: a file of its own; c: the template alone. */
const INSTANCES = ["r-tpl@a.service", "r-tpl@b.service", "r-tpl@c.service"];
const UNIT_NAMES = Object.keys(POOL);
/** Names requests may mention that no generation has. */
const GHOSTS = ["r-ghost.service", "r-tpl@ghost.service"];

/** fstab mount points: plain, escaped (`mnt-r\x2ddata.mount`), automount, noauto; / and /nix (dry only). */
const MOUNTPOINTS = ["/mnt/r0", "/mnt/r-data", "/mnt/r1", "/mnt/rn", "/", "/nix"];
/** Entries with `noauto`, and not in systems for real switches (ng aborts on a noauto entry's options change). */
const NEVER_MOUNTED = ["/", "/nix", "/mnt/r1", "/mnt/rn"];
const SWAPS = ["/swapfile0", "/swapfile1", "/dev/disk/by-label/r-swap"];

function randomKnobs(rng: Random, kind: Kind, real: boolean, density = 0.3, dropin = false): Knobs {
  const k: Knobs = {};
  for (const [name, knob] of Object.entries(KNOBS[kind])) {
    // A drop-in adds to the unit: a second ExecStart= (or Where=) would not load.
    if (dropin && knob.required) continue;
    if ((knob.required && !dropin) || rng.chance(density)) {
      let v = rng.int(knob.values.length);
      if (real && knob.dryOnly?.includes(v)) v = 0;
      k[name] = v;
    }
  }
  return k;
}

function randomUnit(rng: Random, name: string, real: boolean): UnitModel {
  const kind = POOL[name]!;
  const u: UnitModel = { kind, knobs: randomKnobs(rng, kind, real), dropins: {}, style: rng.int(4) };
  if (name === "r-tpl@a.service") {
    // NixOS's overrideStrategy "asDropin": the instance is its template plus an overrides.conf.
    u.noFile = true;
    u.knobs = {};
    u.dropins["overrides.conf"] = { knobs: { env: rng.int(2) } };
  } else if (name === "r-tpl@c.service") {
    u.noFile = true;
    u.knobs = {};
  }
  if (!u.noFile && rng.chance(0.2)) u.dropins[rng.pick(["10-a.conf", "20-b.conf"])] = { knobs: randomKnobs(rng, kind, real, 0.2, true) };
  if (rng.chance(0.04)) u.masked = true;
  return u;
}

/** A random system. `real`: only what a real switch in a container does deterministically. */
export function randomSystem(seed: number, real = false): RandomSystem {
  const rng = new Random(seed);
  const units: Record<string, UnitModel> = {};
  for (const name of UNIT_NAMES) {
    if (INSTANCES.includes(name) && !units[TEMPLATE] && name !== "r-tpl@b.service") continue;
    if (real && DRY_ONLY_UNITS.includes(name)) continue;
    if (rng.chance(0.75)) units[name] = randomUnit(rng, name, real);
  }
  const fstab: FstabEntry[] = [];
  for (const mp of MOUNTPOINTS) {
    if (real && NEVER_MOUNTED.includes(mp)) continue;
    if (rng.chance(0.4)) fstab.push(randomFstabEntry(rng, mp));
  }
  const swaps = subset(rng, SWAPS, 0.3);
  const sys: RandomSystem = { units, wanted: [], fstab, swaps, systemConf: rng.int(2), real };
  sys.wanted = subset(rng, Object.keys(units).filter((n) => n !== TEMPLATE), 0.7);
  return sys;
}

function randomFstabEntry(rng: Random, mountpoint: string): FstabEntry {
  const options = [rng.pick(["defaults", "size=1m", "size=2m", "size=1m,mode=0755"])];
  if (mountpoint === "/mnt/r1") options.push("x-systemd.automount");
  // Never mounted by the tests' own starts (local-fs.target is pulled in by every unit's default
  // dependencies): / and /nix of the container stay as they are; the planner reads the text only.
  if (NEVER_MOUNTED.includes(mountpoint)) options.push("noauto");
  return { device: rng.pick(["tmpfs", "r-tmpfs"]), mountpoint, type: rng.pick(["tmpfs", "tmpfs", "ramfs"]), options: options.join(",") };
}

function clone<T>(x: T): T {
  return structuredClone(x);
}

/** One kind of change, applied to `s` in place; returns a short label for the failure report. */
type Mutation = (rng: Random, s: RandomSystem) => string | undefined;

const present = (s: RandomSystem) => Object.keys(s.units);

/** A unit to change: mostly one the system runs (a change to a stopped unit rarely matters). */
function pickUnit(rng: Random, s: RandomSystem): string | undefined {
  const running = s.wanted.filter((n) => s.units[n]);
  const from = running.length && rng.chance(0.7) ? running : present(s);
  return from.length ? rng.pick(from) : undefined;
}

const MUTATIONS: Mutation[] = [
  // A knob changes value, appears or goes (the bulk of the planner's rules).
  (rng, s) => {
    const name = pickUnit(rng, s);
    if (!name) return undefined;
    const u = s.units[name]!;
    if (u.noFile) return undefined;
    const [kn, knob] = rng.pick(Object.entries(KNOBS[u.kind]));
    if (kn in u.knobs && !knob.required && rng.chance(0.4)) {
      delete u.knobs[kn];
      return `${name}: -${kn}`;
    }
    let v = rng.int(knob.values.length);
    if (s.real && knob.dryOnly?.includes(v)) v = 0;
    u.knobs[kn] = v;
    return `${name}: ${kn}=${v}`;
  },
  // Several knobs of one unit at once.
  (rng, s) => {
    const name = pickUnit(rng, s);
    const u = name ? s.units[name] : undefined;
    if (!u || u.noFile) return undefined;
    u.knobs = { ...u.knobs, ...randomKnobs(rng, u.kind, s.real, 0.25) };
    return `${name}: knobs`;
  },
  // Removed.
  (rng, s) => {
    const name = pickUnit(rng, s);
    if (!name) return undefined;
    delete s.units[name];
    return `${name}: removed`;
  },
  // Masked, or unmasked.
  (rng, s) => {
    const name = pickUnit(rng, s);
    if (!name) return undefined;
    s.units[name]!.masked = !s.units[name]!.masked;
    return `${name}: masked=${s.units[name]!.masked}`;
  },
  // Added (or re-created from scratch).
  (rng, s) => {
    const name = rng.pick(UNIT_NAMES);
    if (s.real && DRY_ONLY_UNITS.includes(name)) return undefined;
    s.units[name] = randomUnit(rng, name, s.real);
    if (rng.chance(0.5) && !s.wanted.includes(name) && name !== TEMPLATE) s.wanted.push(name);
    return `${name}: new`;
  },
  // A drop-in added, changed, masked or removed.
  (rng, s) => {
    const name = pickUnit(rng, s);
    if (!name) return undefined;
    const u = s.units[name]!;
    const file = rng.pick(["10-a.conf", "20-b.conf", "overrides.conf"]);
    const r = rng.int(4);
    if (r === 0) delete u.dropins[file];
    else if (r === 1) u.dropins[file] = { masked: true, knobs: {} };
    else u.dropins[file] = { knobs: randomKnobs(rng, u.kind, s.real, 0.25, true) };
    return `${name}.d/${file}: ${["removed", "masked", "set", "set"][r]}`;
  },
  // The template's instance drop-in goes (asDropin instance removed) or comes back.
  (rng, s) => {
    const a = s.units["r-tpl@a.service"];
    if (!a) return undefined;
    if (rng.chance(0.5)) a.dropins = {};
    else a.dropins["overrides.conf"] = { masked: rng.chance(0.3), knobs: { env: rng.int(2) } };
    return "r-tpl@a.service: instance drop-ins";
  },
  // Cosmetic: the same values rendered differently.
  (rng, s) => {
    const name = pickUnit(rng, s);
    if (!name) return undefined;
    s.units[name]!.style = rng.int(4);
    return `${name}: style`;
  },
  // fstab: an entry added, changed (device, type, options) or removed.
  (rng, s) => {
    const mps = s.real ? MOUNTPOINTS.filter((m) => !NEVER_MOUNTED.includes(m)) : MOUNTPOINTS;
    const mp = rng.pick(mps);
    const i = s.fstab.findIndex((e) => e.mountpoint === mp);
    if (i < 0) {
      s.fstab.push(randomFstabEntry(rng, mp));
      return `fstab ${mp}: added`;
    }
    const e = s.fstab[i]!;
    switch (rng.int(4)) {
      case 0: s.fstab.splice(i, 1); return `fstab ${mp}: removed`;
      case 1: e.device = e.device === "tmpfs" ? "r-tmpfs" : "tmpfs"; return `fstab ${mp}: device`;
      case 2: e.type = e.type === "tmpfs" ? "ramfs" : "tmpfs"; return `fstab ${mp}: type`;
      default: e.options = e.options.startsWith("size=1m") ? e.options.replace("size=1m", "size=2m") : `size=1m,${e.options}`; return `fstab ${mp}: options`;
    }
  },
  // Swaps added or removed.
  (rng, s) => {
    const dev = rng.pick(SWAPS);
    if (s.swaps.includes(dev)) s.swaps = s.swaps.filter((d) => d !== dev);
    else s.swaps.push(dev);
    return `swap ${dev}`;
  },
  // systemd re-exec (system.conf).
  (_rng, s) => {
    s.systemConf = 1 - s.systemConf;
    return "system.conf";
  },
  // What the new system wants started.
  (rng, s) => {
    const name = rng.pick(present(s).filter((n) => n !== TEMPLATE));
    if (!name) return undefined;
    s.wanted = s.wanted.includes(name) ? s.wanted.filter((n) => n !== name) : [...s.wanted, name];
    return `wants ${name}`;
  },
];

/** The next generation: 1-6 random changes to `from`; `changes` labels them for the report. */
export function mutate(from: RandomSystem, seed: number): { next: RandomSystem; changes: string[] } {
  const rng = new Random(seed);
  const next = clone(from);
  const changes: string[] = [];
  const n = 1 + rng.int(6);
  for (let i = 0; i < n; i++) {
    const label = rng.pick(MUTATIONS)(rng, next);
    if (label) changes.push(label);
  }
  // A template instance without its template and without a file of its own does not exist.
  if (!next.units[TEMPLATE]) for (const i of ["r-tpl@a.service", "r-tpl@c.service"]) if (next.units[i]?.noFile) delete next.units[i];
  next.wanted = next.wanted.filter((n) => next.units[n]);
  return { next, changes };
}

/** Requests and interrupted-switch state for a pair (mostly empty). */
export function randomExtras(seed: number, real: boolean): PairExtras {
  const rng = new Random(seed);
  const names = [...UNIT_NAMES.filter((n) => n !== TEMPLATE), ...GHOSTS];
  const some = (p: number) => (rng.chance(p) ? subset(rng, names, 0.15) : []);
  return {
    lists: { start: some(0.1), restart: some(0.1), reload: some(0.1) },
    dryRestart: real ? [] : some(0.15),
    dryReload: real ? [] : some(0.15),
    restart: real ? some(0.2) : [],
    reload: real ? some(0.2) : [],
    displayAll: rng.chance(0.15),
    otherInitInterface: !real && rng.chance(0.03),
  };
}

function renderKnobs(kind: Kind, knobs: Knobs, name: string, style: number): string {
  const base = name.replace(/\.mount$/, "");
  const where = base === "-" ? "/" : "/" + base.replace(/-/g, "/");
  const bySection = new Map<string, string[]>();
  const entries = Object.entries(knobs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (style % 2 === 1) entries.reverse(); // key order does not matter
  for (const [kn, v] of entries) {
    const knob = KNOBS[kind][kn];
    if (!knob) continue;
    const text = knob.values[v]!.replaceAll("@NAME@", name.replace(/\.[a-z]+$/, "").replace(/[@\\]/g, "_")).replaceAll("@WHERE@", where);
    const lines = bySection.get(knob.section) ?? [];
    lines.push(text);
    bySection.set(knob.section, lines);
  }
  if (style === 1) {
    // Spaces around '=' (systemd strips them): on assignment lines, not on continued ones.
    for (const [section, lines] of bySection) {
      let continued = false;
      bySection.set(section, lines.join("\n").split("\n").map((l) => {
        const out = !continued && /^[A-Za-z][A-Za-z0-9-]*=/.test(l) ? l.replace("=", " = ") : l;
        continued = l.endsWith("\\");
        return out;
      }));
    }
  }
  const order = ["Unit", "Service", "Socket", "Timer", "Path", "Slice", "Mount", "X-Extra"];
  const out: string[] = [];
  if (style >= 2) out.push("# generated by the stagehand differential test");
  for (const section of order) {
    const lines = bySection.get(section);
    if (!lines) continue;
    out.push(`[${section}]`, ...lines);
    if (style === 3) out.push("");
  }
  if (style === 2) out.push("[Install]", "WantedBy=multi-user.target");
  return out.join("\n") + "\n";
}

/** The GenerationSpec of a system (name: the spec's store name), with a pair's requests. */
export function toSpec(s: RandomSystem, name: string, extras?: PairExtras): GenerationSpec {
  const units: Record<string, UnitEntry> = {
    "r-all.target": "[Unit]\nDescription=the units this random system runs\n",
  };
  for (const [unit, u] of Object.entries(s.units)) {
    if (u.masked) units[unit] = null;
    else if (!u.noFile) units[unit] = renderKnobs(u.kind, u.knobs, unit, u.style);
    for (const [file, d] of Object.entries(u.dropins)) {
      units[`${unit}.d/${file}`] = d.masked ? null : renderKnobs(u.kind, d.knobs, unit, 0);
    }
  }
  const fstab = ["# random fstab", ...s.fstab.map((e) => `${e.device} ${e.mountpoint} ${e.type} ${e.options} 0 0`),
    ...s.swaps.map((d) => `${d} none swap defaults 0 0`)].join("\n") + "\n";
  const wantedBy: Record<string, string[]> = {};
  for (const u of s.wanted) {
    // An instance without a file of its own is wanted through a link to its template, as NixOS has it.
    if (s.units[u]?.noFile) units[`r-all.target.wants/${u}`] = { symlink: `../${TEMPLATE}` };
    else wantedBy[u] = ["r-all.target"];
  }
  return {
    name,
    units,
    wantedBy,
    fstab,
    systemConf: s.systemConf ? "[Manager]\nDefaultTimeoutStopSec=20s\n" : "[Manager]\n",
    ...(extras ? {
      dryActivationRestartList: extras.dryRestart, dryActivationReloadList: extras.dryReload,
      activationRestartList: extras.restart, activationReloadList: extras.reload,
      ...(extras.otherInitInterface ? { initInterfaceVersion: "systemd 1" } : {}),
    } : {}),
  };
}

/** A one-line summary of a system for failure reports. */
export function describeSystem(s: RandomSystem): string {
  const units = Object.entries(s.units).map(([n, u]) => `${n}${u.masked ? "(masked)" : ""}`).join(" ");
  return `units: ${units}; wanted: ${s.wanted.join(" ")}; fstab: ${s.fstab.map((e) => `${e.mountpoint}[${e.device},${e.type},${e.options}]`).join(" ")}; swaps: ${s.swaps.join(" ")}; system.conf ${s.systemConf}`;
}
