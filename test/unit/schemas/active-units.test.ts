/**
 * The `plan OLD NEW --active FILE` input against docs/schemas/active-units.schema.json, side by
 * side with stagehand's reader (src/switch/load.ts) and the built binary: what the schema
 * accepts stagehand accepts; what stagehand refuses the schema refuses; where stagehand is more
 * lenient, the schema's description says so.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseActiveFile } from "../../../src/switch/load.ts";
import { generation, simpleService } from "../switch/helpers.ts";
import { tempDir } from "../tmp.ts";
import { assertInvalid, assertValid, schemaDocument, schemaErrors, stagehand } from "./validate.ts";

const accepts = (doc: unknown): boolean => {
  try {
    parseActiveFile(JSON.stringify(doc), "/active.json");
    return true;
  } catch {
    return false;
  }
};

const ACCEPTED: [string, unknown][] = [
  ["the object form", { "a.service": { activeState: "active", subState: "running", fragmentPath: "/etc/systemd/system/a.service" }, "b.socket": { activeState: "active", subState: "listening" } }],
  ["the list form", [{ name: "a.service", activeState: "active", subState: "running" }, { name: "b.service", activeState: "failed", subState: "failed", fragmentPath: "/x" }]],
  ["no units (object)", {}],
  ["no units (list)", []],
  ["only activeState", { "a.service": { activeState: "activating" } }],
  ["keys systemctl adds", [{ name: "a.service", activeState: "active", subState: "running", load: "loaded", description: "A" }]],
];

const REFUSED: [string, unknown][] = [
  ["a string", "a.service"],
  ["a number", 5],
  ["null", null],
  ["a list entry without a name", [{ activeState: "active" }]],
  ["a numeric name", [{ name: 5, activeState: "active" }]],
  ["a state without activeState", { "a.service": { subState: "running" } }],
  ["a numeric activeState", { "a.service": { activeState: 1 } }],
  ["a state as a string", { "a.service": "active" }],
  ["a list of lists", [["a.service", "active"]]],
];

/** Accepted by stagehand, not by the schema: the leniency its description names. */
const LENIENT: [string, unknown][] = [
  ["a numeric subState", { "a.service": { activeState: "active", subState: 5 } }],
  ["a null fragmentPath", { "a.service": { activeState: "active", fragmentPath: null } }],
];

test("files stagehand accepts match the schema", () => {
  for (const [what, doc] of ACCEPTED) {
    assert.ok(accepts(doc), `stagehand accepts ${what}`);
    assertValid("active-units", doc, what);
  }
});

test("negative: files stagehand refuses are refused by the schema", () => {
  for (const [what, doc] of REFUSED) {
    assert.not.ok(accepts(doc), `stagehand refuses ${what}`);
    assertInvalid("active-units", doc, what);
  }
});

test("stagehand's leniency is named in the schema's description", () => {
  const description = schemaDocument("active-units").description as string;
  assert.ok(description.includes("subState that is not a string") && description.includes("fragmentPath that is not a string"));
  for (const [what, doc] of LENIENT) {
    assert.ok(accepts(doc), `stagehand accepts ${what}`);
    assert.ok(schemaErrors("active-units", doc).length > 0, `the schema refuses ${what}`);
  }
});

test("the binary takes what the schema accepts and refuses what it refuses (exit 1)", () => {
  const top = generation({ "a.service": simpleService() });
  const dir = tempDir("schema-active-");
  mkdirSync(join(dir, "f"));
  const plan = (doc: unknown) => {
    const f = join(dir, "f", "active.json");
    writeFileSync(f, JSON.stringify(doc));
    return stagehand(["plan", "--active", f, top, top, "--json"]).status;
  };
  assert.is(plan(ACCEPTED[1]![1]), 0);
  assert.is(plan(REFUSED[3]![1]), 1);
});

test.run();
