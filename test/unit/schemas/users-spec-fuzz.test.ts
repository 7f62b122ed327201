/**
 * Property: on random specs that stay clear of the checks only stagehand can make (names and IDs
 * unique, paths in normal form, real dates, numeric groups in range), the users-spec schema and
 * src/users/spec.ts give the same verdict. Each field is drawn from values stagehand accepts or,
 * now and then, from values it refuses for their type or pattern. Seeded; replay one case with
 * STAGEHAND_FUZZ_SEED=N.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseSpec } from "../../../src/users/spec.ts";
import { fuzzSeeds, Random } from "../../harness/random.ts";
import { schemaErrors } from "./validate.ts";

const MISSING = Symbol("missing");
type Pool = { ok: unknown[]; bad: unknown[] };

const flag: Pool = { ok: [true, false, null, MISSING], bad: ["true", 1] };
const optString: Pool = { ok: ["x", "a:b", null, MISSING], bad: [1, false, ["x"]] };
const field = (...ok: unknown[]): Pool => ({ ok: [...ok, null, MISSING], bad: ["a:b", "x\ny", "x\u0000", 3] });

function userPools(i: number): Record<string, Pool> {
  return {
    name: { ok: [`u${i}`, `_u${i}`, `u-${i}`, `u${i}$`, `u${i}${"x".repeat(28)}`, `U.${i}`, `${i}u`], bad: ["-bad", "a b", "a+b", "", "a".repeat(33), 5, null, MISSING] },
    uid: { ok: [null, MISSING, 1000 + i, 4294967294 - i], bad: [-1, 4294967295, 1.5, "1000", true] },
    group: { ok: ["users", "100", "", "4294967294", null, MISSING], bad: ["a:b", "x\ny", 5] },
    description: field("", "Alice Smith"),
    home: field("/home/u", "/var/empty"),
    homeMode: { ok: ["700", "0750", "0", "02770", null, MISSING], bad: ["rwx", "8", "12345", 700] },
    createHome: flag,
    isSystemUser: flag,
    shell: field("/bin/sh"),
    password: optString,
    hashedPassword: field("$6$salt$hash"),
    hashedPasswordFile: { ok: ["/run/keys/u", null, MISSING], bad: [3, true] },
    passwordFile: { ok: ["/run/keys/old", null, MISSING], bad: [3] },
    initialPassword: optString,
    initialHashedPassword: field("$6$salt$hash"),
    expires: { ok: ["2030-01-31", "1999-12-31", "2030-02-30", null, MISSING], bad: ["31.01.2030", "2030-1-31", 20300131] },
    subUidRanges: { ok: [[], null, MISSING, [{ startUid: 100000, count: 65536 }]], bad: [[{ startUid: 1 }], [{ startUid: "1", count: 1 }], {}, [5]] },
    subGidRanges: { ok: [[], null, MISSING, [{ startGid: 100000, count: 65536, extra: 1 }]], bad: [[{ startUid: 1, count: 1 }], [{ startGid: -1, count: 1 }], "none"] },
    autoSubUidGidRange: flag,
    extra: { ok: [MISSING, "ignored", { any: ["thing"] }], bad: [] },
  };
}

function groupPools(i: number): Record<string, Pool> {
  return {
    name: { ok: [`g${i}`, `_g${i}`, `g-${i}`, `G.${i}`, `${i}g`, `g${i}${"x".repeat(40)}`], bad: ["+g", "-g", "#g", "a b", "", "x,y", 7, MISSING] },
    gid: { ok: [null, MISSING, 100 + i, 0 + i], bad: [-5, "5", 1.5, 4294967295] },
    members: { ok: [[], ["u0"], ["u0", "nobody"], ["john.doe", "Bad"], null, MISSING], bad: [["x,y"], "u0", [5], ["a b"], [""]] },
    extra: { ok: [MISSING, 1], bad: [] },
  };
}

/** An object with each key drawn from its pool: a refused value with probability `pBad`. */
function draw(r: Random, pools: Record<string, Pool>, pBad: number): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, pool] of Object.entries(pools)) {
    const v = pool.bad.length > 0 && r.chance(pBad) ? r.pick(pool.bad) : r.pick(pool.ok);
    if (v !== MISSING) o[k] = v;
  }
  return o;
}

function randomSpec(r: Random): Record<string, unknown> {
  const pBad = r.pick([0, 0.01, 0.03]);
  const spec: Record<string, unknown> = {};
  const top = draw(r, { mutableUsers: flag }, pBad);
  Object.assign(spec, top);
  const shape = r.int(20);
  if (shape === 0) spec.users = r.pick([null, {}, "alice"]);
  else spec.users = Array.from({ length: r.int(4) }, (_, i) => draw(r, userPools(i), pBad));
  if (shape === 1) spec.groups = r.pick([null, {}]);
  else spec.groups = Array.from({ length: r.int(4) }, (_, i) => draw(r, groupPools(i), pBad));
  if (r.chance(0.05)) delete spec.users;
  return spec;
}

test("the schema and src/users/spec.ts agree on random specs", () => {
  let accepted = 0;
  const seeds = fuzzSeeds(1500);
  for (const seed of seeds) {
    const spec = randomSpec(new Random(seed));
    let stagehand = true;
    let why = "";
    try {
      parseSpec("/spec.json", JSON.stringify(spec));
    } catch (e) {
      stagehand = false;
      why = (e as Error).message;
    }
    const errors = schemaErrors("users-spec", spec);
    assert.is(errors.length === 0, stagehand, `seed ${seed}: stagehand ${stagehand ? "accepts" : `refuses (${why})`}, the schema ${errors.length === 0 ? "accepts" : `refuses (${errors.join("; ")})`}: ${JSON.stringify(spec)}`);
    if (stagehand) accepted++;
  }
  // Both verdicts occur often enough to mean something.
  if (seeds.length > 1) assert.ok(accepted > seeds.length / 5 && accepted < seeds.length * 0.9, `accepted ${accepted} of ${seeds.length}`);
});

test.run();
