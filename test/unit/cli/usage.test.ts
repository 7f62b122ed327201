/** The usage text names every option each command accepts, so `--help` is the whole interface. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { USAGE } from "../../../src/cli/usage.ts";

const COMMANDS = join(import.meta.dir, "../../../src/cli/commands");
/** Options accepted but deliberately not advertised: aliases of advertised ones. */
const ALIASES: Record<string, string[]> = { users: ["dry-activate"] };

/** The usage lines of `command`: its own line(s) and their continuation lines. */
function usageOf(command: string): string {
  const lines = USAGE.split("\n");
  const own: string[] = [];
  let inside = false;
  for (const l of lines) {
    if (/^  [a-z]/.test(l)) inside = l.startsWith(`  ${command} `) || l === `  ${command}`;
    else if (!/^ {4,}/.test(l)) inside = false;
    if (inside) own.push(l);
  }
  return own.join("\n");
}

test("every option a command parses is in the usage text", () => {
  let checked = 0;
  for (const file of readdirSync(COMMANDS).filter((f) => f.endsWith(".ts"))) {
    const command = file.slice(0, -3);
    const m = /parseArgs\(args, \[([^\]]*)\], \[([^\]]*)\]\)/.exec(readFileSync(join(COMMANDS, file), "utf8"));
    if (!m) continue;
    const names = `${m[1]},${m[2]}`.split(",").map((s) => s.trim().replace(/^"|"$/g, "")).filter((s) => s !== "");
    const text = usageOf(command);
    assert.ok(text !== "", `no usage line for ${command}`);
    for (const name of names) {
      if (ALIASES[command]?.includes(name)) continue;
      assert.ok(new RegExp(`--${name}\\b`).test(text), `usage of ${command} lacks --${name}:\n${text}`);
      checked++;
    }
  }
  assert.ok(checked >= 12, `only ${checked} options checked`);
});

test.run();
