/**
 * The schemas themselves: each compiles under ajv's strict mode as draft 2020-12, says what it
 * describes, is listed in docs/json.md; and every command that takes --json has one.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, SCHEMA_NAMES, schemaDocument, validator } from "./validate.ts";

/** The schemas of each command's --json output, by command source file (src/cli/commands). */
const COMMAND_SCHEMAS: Record<string, string[]> = {
  "switch-to-configuration.ts": ["switch-summary"],
  "plan.ts": ["unit-plan", "activation-order"],
  "activate.ts": ["activate"],
  "status.ts": ["status"],
};

test("every schema is draft 2020-12, named by its $id, titled, described, and compiles strictly", () => {
  assert.ok(SCHEMA_NAMES.length >= 7, SCHEMA_NAMES.join(", "));
  for (const name of SCHEMA_NAMES) {
    const s = schemaDocument(name);
    assert.is(s.$schema, "https://json-schema.org/draft/2020-12/schema", name);
    assert.is(s.$id, `urn:stagehand:schema:${name}`, name);
    assert.type(s.title, "string", name);
    assert.type(s.description, "string", name);
    assert.type(validator(name), "function", name);
  }
});

test("docs/json.md links every schema", () => {
  const doc = readFileSync(join(REPO_ROOT, "docs", "json.md"), "utf8");
  for (const name of SCHEMA_NAMES) assert.ok(doc.includes(`(schemas/${name}.schema.json)`), `docs/json.md links ${name}`);
});

test("every command with a --json flag has a schema for it", () => {
  const dir = join(REPO_ROOT, "src", "cli", "commands");
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
    const text = readFileSync(join(dir, file), "utf8");
    if (!/"--json"|"json"/.test(text)) continue;
    const schemas = COMMAND_SCHEMAS[file];
    assert.ok(schemas, `src/cli/commands/${file} takes --json: add its schema to docs/schemas and here`);
    for (const s of schemas!) assert.ok(SCHEMA_NAMES.includes(s), `docs/schemas/${s}.schema.json exists`);
  }
});

test.run();
