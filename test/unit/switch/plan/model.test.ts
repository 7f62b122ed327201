/** The planner's data: ng's printed order, its active-unit filter, the list files' contents. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { activeUnits, dryLines, generation, planBetween, simpleService } from "../helpers.ts";
import { activeUnitsFrom, listsToPersist, sortUnits } from "../../../../src/switch/plan/index.ts";

const ACT = "would activate the configuration...";

test("sortUnits: by lower-cased name, then by name, both in code-point order (as Rust compares strings)", () => {
  const names = ["b.service", "A.service", "a.service", "a-b.service", "\u{1F600}.service", "\uFF21.service", "\uE000.service", "z.service", "a.service.d"];
  // The order by definition: split into code points, compare numerically.
  const byCodePoints = (x: string, y: string) => {
    const p = [...x].map((c) => c.codePointAt(0)!), q = [...y].map((c) => c.codePointAt(0)!);
    for (let i = 0; i < Math.min(p.length, q.length); i++) if (p[i] !== q[i]) return p[i]! - q[i]!;
    return p.length - q.length;
  };
  const expected = [...names].sort((x, y) => byCodePoints(x.toLowerCase(), y.toLowerCase()) || byCodePoints(x, y));
  assert.equal(sortUnits(names), expected);
  // U+1F600 (a surrogate pair in UTF-16) sorts after U+FF21 and U+E000, unlike UTF-16 code-unit order.
  assert.equal(expected.slice(-3), ["\uE000.service", "\uFF21.service", "\u{1F600}.service"]);
  assert.equal(expected.slice(0, 2), ["a-b.service", "A.service"]);
});

test("ordering: by lower-cased name", () => {
  const names = ["b.service", "A.service", "a2.service", "C.service"];
  const files = Object.fromEntries(names.map((n) => [n, simpleService({ "X-StopIfChanged": "false" })]));
  const next = Object.fromEntries(names.map((n) => [n, simpleService({ "X-StopIfChanged": "false", X: "1" })]));
  assert.equal(dryLines(files, next, activeUnits(...names)), [ACT, "would restart the following units: A.service, a2.service, b.service, C.service"]);
});

test("activeUnitsFrom keeps ng's filter; listsToPersist lists the sets", () => {
  const rows = [
    { name: "a.service", following: "", activeState: "active", subState: "running", fragmentPath: "/etc/systemd/system/a.service" },
    { name: "b.service", following: "", activeState: "inactive", subState: "dead" },
    { name: "dev-x.device", following: "sys-x.device", activeState: "active", subState: "plugged" },
    { name: "c.service", following: "", activeState: "failed", subState: "failed" },
  ];
  assert.equal(Object.keys(activeUnitsFrom(rows)), ["a.service", "c.service"]);
  const plan = planBetween(generation({ "t.service": simpleService() }), generation({ "t.service": simpleService({ X: "1" }) }), activeUnits("t.service"), { lists: { reload: ["r.service"] } });
  assert.equal(listsToPersist(plan), { start: ["t.service"], restart: [], reload: ["r.service"] });
});

test.run();
