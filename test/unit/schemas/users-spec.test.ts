/**
 * The users spec (users-groups.json) against docs/schemas/users-spec.schema.json, side by side with
 * stagehand's own validator (src/users/spec.ts) and the built binary: what the schema accepts,
 * stagehand accepts, except for the checks the schema's description names as beyond it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseSpec } from "../../../src/users/spec.ts";
import { tempDir } from "../tmp.ts";
import { NIXOS_USERS_SPEC } from "./graph-fixture.ts";
import { assertInvalid, assertValid, mutated, schemaDocument, schemaErrors, stagehand } from "./validate.ts";

const accepts = (doc: unknown): boolean => {
  try {
    parseSpec("/spec.json", JSON.stringify(doc));
    return true;
  } catch {
    return false;
  }
};

/** `stagehand users --dry` on a spec file in a scratch root: exit 0 if the spec is accepted. */
function binaryAccepts(doc: unknown): boolean {
  const dir = tempDir("schema-users-");
  const file = join(dir, "users-groups.json");
  writeFileSync(file, JSON.stringify(doc));
  return stagehand(["users", "--root", dir, "--dry", file]).status === 0;
}

test("a spec as NixOS's users-groups.nix writes it (every key, nulls included) matches, and the binary takes it", () => {
  assertValid("users-spec", NIXOS_USERS_SPEC, "the NixOS-shaped spec");
  assert.ok(binaryAccepts(NIXOS_USERS_SPEC), "stagehand users --dry accepts it");
});

const user = (extra: Record<string, unknown>) => ({ users: [{ name: "al", ...extra }] });

/** Specs stagehand accepts: the schema must accept them too. */
const ACCEPTED: [string, unknown][] = [
  ["empty", {}],
  ["null lists and flags", { mutableUsers: null, users: null, groups: null }],
  ["only names", { users: [{ name: "a" }], groups: [{ name: "g" }] }],
  ["every optional key null", user({ uid: null, group: null, description: null, home: null, homeMode: null, createHome: null, isSystemUser: null, shell: null, password: null, hashedPassword: null, hashedPasswordFile: null, passwordFile: null, initialPassword: null, initialHashedPassword: null, expires: null, subUidRanges: null, subGidRanges: null, autoSubUidGidRange: null })],
  ["the older passwordFile", user({ passwordFile: "/run/keys/al" })],
  ["a machine-account name ending in $", { users: [{ name: "host$" }] }],
  ["a name of 32 characters", { users: [{ name: "a".repeat(32) }] }],
  ["the largest ID", { users: [{ name: "a", uid: 4294967294 }], groups: [{ name: "g", gid: 0 }] }],
  ["a numeric group", user({ group: "100" })],
  ["keys NixOS may add (ignored)", { users: [{ name: "a", extra: 1 }], groups: [{ name: "g", extra: [] }], other: true }],
  ["a clear-text password with a colon", user({ password: "a:b" })],
  ["a four-digit home mode", user({ homeMode: "0750" })],
  ["a five-digit home mode (setgid)", user({ homeMode: "02770" })],
  ["user names NixOS allows: capitals, dots, a leading digit", { users: [{ name: "Alice" }, { name: "john.doe" }, { name: "1password" }] }],
  ["a group name NixOS allows, of 40 characters, with a member with a dot", { groups: [{ name: "Domain.Users" }, { name: "g".repeat(40), members: ["john.doe"] }] }],
  ["a fixed GID declared twice", { groups: [{ name: "a", gid: 5 }, { name: "b", gid: 5 }] }],
  ["a day past the month's end", user({ expires: "2030-02-30" })],
];

/** Specs stagehand refuses that the schema can tell apart. */
const REFUSED: [string, unknown][] = [
  ["mutableUsers as a string", { mutableUsers: "yes" }],
  ["users as an object", { users: {} }],
  ["a user without a name", { users: [{ uid: 3 }] }],
  ["a user name starting with '-'", { users: [{ name: "-bad" }] }],
  ["a group name starting with '+'", { groups: [{ name: "+abc" }] }],
  ["a group name with a space", { groups: [{ name: "a b" }] }],
  ["a five-digit home mode past 07777", user({ homeMode: "17777" })],
  ["a name of 33 characters", { users: [{ name: "a".repeat(33) }] }],
  ["a colon in description", user({ description: "x:y" })],
  ["a newline in home", user({ home: "/h\nevil" })],
  ["a NUL in shell", user({ shell: "/bin/sh\u0000" })],
  ["a colon in hashedPassword", user({ hashedPassword: "a:b" })],
  ["a colon in group", user({ group: "a:b" })],
  ["a member with a comma", { groups: [{ name: "g", members: ["x,y"] }] }],
  ["a negative UID", user({ uid: -1 })],
  ["UID 4294967295", user({ uid: 4294967295 })],
  ["a fractional GID", { groups: [{ name: "g", gid: 1.5 }] }],
  ["a UID as a string", user({ uid: "1000" })],
  ["expires not YYYY-MM-DD", user({ expires: "31.01.2030" })],
  ["homeMode not octal", user({ homeMode: "rwx" })],
  ["a sub-UID range without count", user({ subUidRanges: [{ startUid: 1 }] })],
  ["a sub-GID range with startUid", user({ subGidRanges: [{ startUid: 1, count: 5 }] })],
  ["createHome as a string", user({ createHome: "true" })],
  ["a password as a number", user({ password: 1234 })],
];

/** Refused by stagehand, accepted by the schema: the checks its description lists as beyond a schema. */
const BEYOND_SCHEMA: [string, unknown][] = [
  ["a duplicate user name", { users: [{ name: "a" }, { name: "a" }] }],
  ["a duplicate group name", { groups: [{ name: "a", gid: 5 }, { name: "a", gid: 6 }] }],
  ["a numeric group out of range", user({ group: "4294967295" })],
  ["createHome with a relative home", user({ createHome: true, home: "rel" })],
  ["hashedPasswordFile not in normal form", user({ hashedPasswordFile: "/a/../b" })],
  ["expires with month 13", user({ expires: "2030-13-01" })],
  ["a sub-ID range past the largest ID", user({ subUidRanges: [{ startUid: 4294967290, count: 10 }] })],
];

test("specs stagehand accepts match the schema", () => {
  for (const [what, doc] of ACCEPTED) {
    assert.ok(accepts(doc), `stagehand accepts ${what}`);
    assertValid("users-spec", doc, what);
  }
});

test("negative: specs stagehand refuses for a type or a pattern are refused by the schema too", () => {
  for (const [what, doc] of REFUSED) {
    assert.not.ok(accepts(doc), `stagehand refuses ${what}`);
    assertInvalid("users-spec", doc, what);
  }
  assertInvalid("users-spec", mutated(NIXOS_USERS_SPEC, (d) => { d.users[0].uid = "1000"; }), "a NixOS spec with a string UID");
});

test("what only stagehand checks (uniqueness, ranges of numeric strings, paths, dates) is named in the schema's description", () => {
  const description = schemaDocument("users-spec").description as string;
  for (const word of ["unique", "numeric `group`", "createHome", "hashedPasswordFile", "strptime", "sub-ID range"]) {
    assert.ok(description.includes(word), `the description names ${word}`);
  }
  for (const [what, doc] of BEYOND_SCHEMA) {
    assert.not.ok(accepts(doc), `stagehand refuses ${what}`);
    assert.equal(schemaErrors("users-spec", doc), [], `the schema cannot tell ${what}`);
  }
});

test("the binary agrees with the validator on a sample of each", () => {
  assert.ok(binaryAccepts(ACCEPTED[3]![1]), "every optional key null");
  assert.not.ok(binaryAccepts(REFUSED.find(([w]) => w === "a colon in description")![1]), "a colon in description");
});

test.run();
