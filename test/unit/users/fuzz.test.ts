/**
 * Seeded fuzzing of what the users step reads: mangled specs only ever give a SpecError (never an
 * untyped exception), and mangled databases and state files only ever plan, or give a typed error.
 * Replay one case with STAGEHAND_FUZZ_SEED=N.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseSpec, SpecError } from "../../../src/users/spec.ts";
import { IdConflictError, planUsers } from "../../../src/users/plan.ts";
import { AllocationError } from "../../../src/users/allocate.ts";
import { StateError } from "../../../src/users/state.ts";
import { isRecord } from "../../../src/users/verbatim.ts";
import { fuzzSeeds, Random } from "../../harness/random.ts";
import { fakeHash, files, group, spec, user } from "./helpers.ts";

const VALID = JSON.stringify({
  mutableUsers: true,
  groups: [{ name: "wheel", gid: 1, members: ["alice"] }, { name: "users", gid: 100, members: [] }],
  users: [
    { name: "alice", uid: 1000, group: "users", home: "/home/alice", createHome: true, homeMode: "700", shell: "/bin/sh", hashedPasswordFile: "/run/pw", subUidRanges: [{ startUid: 100000, count: 65536 }] },
    { name: "svc", isSystemUser: true, group: "wheel", expires: "2030-01-02", autoSubUidGidRange: true, description: "x" },
  ],
}, null, 1);
const PIECES = ["[", "]", "{", "}", ",", ":", '"', "\\", "\n", "0", "-1", "1e400", "null", "true", '"/../x"', '""', "\u0000", "ü", "[".repeat(400), '"a":1,"a":2'];

/** The valid spec with a few random insertions, deletions and repeated slices. */
function mangle(r: Random, text: string): string {
  let t = text;
  for (let n = 1 + r.int(4); n > 0; n--) {
    const at = r.int(t.length + 1);
    const what = r.int(3);
    if (what === 0) t = t.slice(0, at) + r.pick(PIECES) + t.slice(at);
    else if (what === 1) t = t.slice(0, at) + t.slice(at + 1 + r.int(8));
    else t = t.slice(0, at) + t.slice(r.int(t.length), r.int(t.length)) + t.slice(at);
  }
  return t;
}

test("mangled specs: a SpecError or a spec, never another exception (400 seeds)", () => {
  for (const seed of fuzzSeeds(400)) {
    const text = mangle(new Random(seed), VALID);
    try {
      parseSpec("/s.json", text);
    } catch (e) {
      assert.ok(e instanceof SpecError, `seed ${seed}: ${(e as Error).name}: ${(e as Error).message}`);
      assert.not.ok((e as Error).message.includes("\u0000"), `seed ${seed}: the message quotes a NUL`);
    }
  }
});

/** Values a spec field may be given: each type, and the strings each check refuses or accepts. */
const FIELD_VALUES: unknown[] = [
  undefined, null, true, false, 0, -1, 1.5, 1000, 4294967294, 4294967295, "", "a", "alice", "Bad", "a:b", "a\nb", "a\u0000b", "a,b",
  "x".repeat(33), "700", "0755", "rwx", "99999999999", "100", "/home/a", "/home/../x", "/", "home", "/h//a", "2030-01-02", "2030-02-30",
  [], ["alice"], ["alice", "bob"], ["bob", "alice"], ["alice", "alice"], ["Bad"], [1], [{ startUid: 1, count: 2 }], [{ startGid: 1, count: 2 }], {}, [null],
];
const USER_FIELDS = [
  "name", "uid", "group", "description", "home", "homeMode", "createHome", "isSystemUser", "shell", "password", "hashedPassword",
  "hashedPasswordFile", "passwordFile", "initialPassword", "initialHashedPassword", "expires", "subUidRanges", "subGidRanges", "autoSubUidGidRange",
];
const GROUP_FIELDS = ["name", "gid", "members"];

/** The outcome of reading `text`: the spec, or the refusal's message. */
function outcome(text: string, checked: boolean): unknown {
  try {
    return parseSpec("/s.json", text, checked);
  } catch (e) {
    assert.instance(e, SpecError);
    return (e as Error).message;
  }
}

test("the shortcut for plain entries reads what the per-field checks read, and refuses the same (600 seeds)", () => {
  for (const seed of fuzzSeeds(600)) {
    const r = new Random(seed);
    const doc = JSON.parse(VALID) as { users: Record<string, unknown>[]; groups: Record<string, unknown>[] };
    for (let n = 1 + r.int(3); n > 0; n--) {
      const [list, fields] = r.chance(0.7) ? [doc.users, USER_FIELDS] : [doc.groups, GROUP_FIELDS];
      const entry = r.pick(list);
      const field = r.pick(fields);
      const v = r.pick(FIELD_VALUES);
      if (v === undefined) delete entry[field];
      else entry[field] = v;
    }
    const text = JSON.stringify(doc);
    assert.equal(outcome(text, false), outcome(text, true), `seed ${seed}: ${text}`);
  }
});

const LINE_PIECES = ["root", "alice", "+", "-", "#", "", "x", "0", "1000", "12abc", "-5", "99999999999", "4294967295", "a,b", ":", "\r", "ü"];
/** A random database text of `fields`-field lines from pieces (colons, odd IDs, NIS lines). */
function database(r: Random, fields: number): string {
  const lines: string[] = [];
  for (let n = r.int(8); n > 0; n--) lines.push(Array.from({ length: 1 + r.int(fields + 2) }, () => r.pick(LINE_PIECES)).join(":"));
  return lines.join("\n") + (r.chance(0.5) ? "\n" : "");
}

test("mangled databases and state files: a plan or a typed error (400 seeds)", () => {
  const s = spec([user("root", { uid: 0, group: "root" }), user("alice"), user("svc", { isSystemUser: true, autoSubUidGidRange: true })], [group("root", 0), group("users")], true);
  const typed = (e: unknown) => e instanceof StateError || e instanceof IdConflictError || e instanceof AllocationError;
  for (const seed of fuzzSeeds(400)) {
    const r = new Random(seed);
    const cur = files({
      passwd: database(r, 7), group: database(r, 4), shadow: database(r, 9), subuid: database(r, 3),
      uidMap: r.pick(['{"alice":1000}', "{", "[]", '{"x":-1}', '{"a":"5"}', ""]), declarativeUsers: r.pick(["alice root", "", "  "]),
    });
    let plan;
    try {
      plan = planUsers(s, cur, { dry: false, hashPassword: fakeHash });
    } catch (e) {
      assert.ok(typed(e), `seed ${seed}: ${(e as Error).name}: ${(e as Error).message}`);
      continue;
    }
    // Whatever came in, every line written anew (not kept verbatim) is a well-formed record, and
    // each declared user has exactly one.
    const kept = new Set(cur.files.passwd!.split("\n"));
    const fresh = plan.next.passwd.split("\n").filter((l) => l !== "" && !kept.has(l));
    // (More than 7 fields: an undeclared record's shell field holding `:`, kept as it was.)
    for (const line of fresh) assert.ok(line.split(":").length >= 7 && /^\d+$/.test(line.split(":")[2]!), `seed ${seed}: ${line}`);
    for (const name of ["root", "alice", "svc"]) {
      const records = plan.next.passwd.split("\n").filter((l) => l.startsWith(`${name}:`) && isRecord(name, l.split(":")[2]));
      assert.is(records.length, 1, `seed ${seed}: one record for ${name}`);
    }
  }
});

test.run();
