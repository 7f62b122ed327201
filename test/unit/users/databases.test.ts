import { test } from "uvu";
import * as assert from "uvu/assert";
import { parsePasswd, parsePasswdFile, serializePasswd } from "../../../src/users/passwd.ts";
import { parseGroup, serializeGroup } from "../../../src/users/group.ts";
import { parseShadow, serializeShadow } from "../../../src/users/shadow.ts";
import { parseSubId, serializeSubId } from "../../../src/users/subid.ts";
import { IdMap, parseIdMap, parseNameList, readIdMap, serializeIdMap, serializeNameList, StateError } from "../../../src/users/state.ts";
import { Random } from "../../harness/random.ts";

test("passwd round-trips, fields split on ':'", () => {
  const text = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:100:Alice A:/home/alice:/bin/sh\n";
  const p = parsePasswd(text);
  assert.equal(p[1], { name: "alice", password: "x", uid: 1000, gid: "100", description: "Alice A", home: "/home/alice", shell: "/bin/sh" });
  assert.is(serializePasswd(p), text);
});

test("group round-trips, members split on ','; short lines get empty members", () => {
  const text = "wheel:x:1:alice,bob\nusers:x:100:\n";
  const g = parseGroup(text + "short:x:7\n");
  assert.equal(g[0]!.members, ["alice", "bob"]);
  assert.equal(g[2], { name: "short", password: "x", gid: 7, members: [] });
  assert.is(serializeGroup(g.slice(0, 2)), text);
});

test("shadow round-trips all nine fields", () => {
  const text = "root:$6$a$b:19000:0:99999:7:::\nalice:!:1:::::21916:\n";
  const s = parseShadow(text);
  assert.is(s[1]!.expire, "21916");
  assert.is(serializeShadow(s), text);
});

test("subuid: name:start:count; always newline-terminated like the Perl script", () => {
  assert.equal(parseSubId("a:100000:65536\n\nbad\n"), [{ name: "a", start: 100000, count: 65536 }]);
  assert.is(serializeSubId([{ name: "a", start: 100000, count: 65536 }]), "a:100000:65536\n");
  assert.is(serializeSubId([]), "\n");
});

test("state: canonical JSON maps (Perl's to_json canonical), space-separated sorted name lists", () => {
  const m = parseIdMap("/m", '{"b":2,"a":1,"c":"3"}');
  assert.is(serializeIdMap(m), '{"a":1,"b":2,"c":3}');
  assert.is(serializeIdMap(new Map()), "{}");
  assert.equal([...parseNameList("b a  c")], ["b", "a", "c"]);
  assert.is(serializeNameList(["b", "a", "B"]), "B a b");
  assert.throws(() => parseIdMap("/var/lib/nixos/uid-map", "{oops"), (e: Error) => e instanceof StateError && /uid-map: invalid JSON/.test(e.message));
  // Deep nesting is refused before JSON.parse builds it (8M levels: 1.4 s and 660 MiB before).
  assert.throws(() => parseIdMap("/var/lib/nixos/uid-map", "[".repeat(8e6) + "]".repeat(8e6)), (e: Error) => e instanceof StateError && /nested too deeply/.test(e.message));
});

test("ID map keys that JSON escapes (quote, backslash, control character, surrogate) are written as JSON.stringify writes them", () => {
  const keys = ["a\"b", "c\\d", "e\u0001", "f\ud800", "g😀", "hé", "plain"];
  const m = new Map(keys.map((k, i) => [k, i] as [string, number]));
  const want = "{" + [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))).map((k) => `${JSON.stringify(k)}:${m.get(k)}`).join(",") + "}";
  assert.is(serializeIdMap(m), want);
  assert.equal(parseIdMap("/m", serializeIdMap(m)), m);
});

test("an ID map forgets the text it was read from at the first change of an entry, whoever makes it", () => {
  const text = '{"a":1,"b":2}';
  const read = () => readIdMap("/m", text).map;
  assert.is(read().asRead, text);
  const same = read();
  same.set("a", 1); // the same ID again: nothing changed
  assert.is(same.asRead, text);
  const changed = read();
  changed.set("a", 3);
  assert.is(changed.asRead, undefined);
  const added = read();
  added.set("c", 4);
  assert.is(added.asRead, undefined);
  const removed = read();
  removed.delete("zz"); // absent: nothing changed
  assert.is(removed.asRead, text);
  removed.delete("b");
  assert.is(removed.asRead, undefined);
  const cleared = read();
  cleared.clear();
  assert.is(cleared.asRead, undefined);
  assert.is(readIdMap("/m", '{"b":2,"a":1}').map.asRead, undefined); // not canonical: never kept
  assert.is(new IdMap().asRead, undefined);
});

test("an ID map read as canonical is exactly what serializing its entries writes (written back unchanged)", () => {
  const PIECES = ['"a":1', '"b":2', '"b":"2"', '"":0', '"10":3', '"9":4', '"é":5', '"😀":6', '"\\ue000":7', '"a\\"b":8', '"c":-0', '"d":1e3', '"e":1.0', '"a":9', '"\\ud800x":10', '"\\udc00a":11'];
  const r = new Random(7);
  let canonical = 0;
  for (let i = 0; i < 3000; i++) {
    const parts = Array.from({ length: r.int(4) }, () => r.pick(PIECES));
    if (r.chance(0.5)) parts.sort();
    const sep = r.chance(0.9) ? "," : ", ";
    const ending = r.pick(["", "\n"]);
    const text = `{${parts.join(sep)}}` + (r.chance(0.8) ? ending : ending === "" ? "\n" : "");
    let read;
    try { read = readIdMap("/m", text, ending); } catch { continue; }
    assert.equal(new Map(read.map), parseIdMap("/m", text), text);
    if (read.canonical) {
      canonical++;
      assert.is(serializeIdMap(read.map) + ending, text, `read as canonical: ${text}`);
    }
  }
  assert.ok(canonical > 100, `only ${canonical} canonical cases`);
  assert.is(readIdMap("/m", '{"a":1,"b":2}').canonical, true);
  assert.is(readIdMap("/m", '{"a":1,"b":2}\n', "\n").canonical, true);
  assert.is(readIdMap("/m", '{"b":2,"a":1}').canonical, false);
  assert.is(readIdMap("/m", '{"a":1, "b":2}').canonical, false);
  assert.is(readIdMap("/m", '{"a":"1"}').canonical, false);
  assert.is(readIdMap("/m", null).canonical, false);
});

test("name lists split at any run of whitespace, as the Perl script's split", () => {
  const r = new Random(11);
  for (let i = 0; i < 500; i++) {
    const text = Array.from({ length: r.int(6) }, () => r.pick(["a", "b", "c1", " ", "  ", "\t", "\n", "\u00a0", "\u2028", "\r\n"])).join("");
    const trimmed = text.trim();
    assert.equal([...parseNameList(text)], trimmed === "" ? [] : [...new Set(trimmed.split(/\s+/))], JSON.stringify(text));
  }
});

test("a name on two lines: the later line's fields, in the first line's place", () => {
  const f = parsePasswdFile("a:x:1:1::/:/bin/sh\nb:x:2:2::/:/bin/sh\na:x:3:3::/:/bin/zsh\n");
  assert.equal(f.entries.map((e) => [e.name, e.uid, e.shell]), [["a", 3, "/bin/zsh"], ["b", 2, "/bin/sh"]]);
  assert.equal(f.names, ["a", "b", "a"]);
});

test("lines that are not records are kept verbatim: at the top, after the record they followed (or the nearest one still there), at the end", () => {
  const text = "#top\nroot:x:0:0::/root:/bin/sh\n-bad\ngone:x:5:0::/:/bin/sh\n+@nis::::::\nodd:x:7x:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n+::::::\n";
  const f = parsePasswdFile(text);
  assert.equal(f.entries.map((e) => e.name), ["root", "gone", "nobody"]);
  assert.equal(f.verbatim.map((v) => v.text), ["#top", "-bad", "+@nis::::::", "odd:x:7x:0::/:/bin/sh", "+::::::"]);
  assert.is(f.verbatim[3]!.id, 7, "a leading number of an odd ID is kept from allocation");
  assert.is(serializePasswd(f.entries, f), text, "unchanged records: the file as it was");
  // `gone` removed: the lines after it follow `root`; a new record sorted in between stays a record line.
  const kept = f.entries.filter((e) => e.name !== "gone");
  kept.splice(1, 0, { ...kept[0]!, name: "new", uid: 1000 });
  assert.is(serializePasswd(kept, f),
    "#top\nroot:x:0:0::/root:/bin/sh\n-bad\n+@nis::::::\nodd:x:7x:0::/:/bin/sh\nnew:x:1000:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n+::::::\n");
  // Lines after the last record stay last, after records sorted past the old last one too.
  assert.ok(serializePasswd([...kept, { ...kept[0]!, name: "zed", uid: 70000 }], f)
    .endsWith("\nnobody:x:65534:65534::/:/bin/sh\nzed:x:70000:0::/root:/bin/sh\n+::::::\n"));
  // No record left at all: verbatim lines at the top.
  assert.is(serializePasswd([], f), "#top\n-bad\n+@nis::::::\nodd:x:7x:0::/:/bin/sh\n+::::::\n");
});

test("a corrupt ID map's warning quotes no control character of the file: a token like ESC is escaped, no line can be forged", () => {
  const warned: string[] = [];
  readIdMap("/var/lib/nixos/uid-map", '{"a":1,\n\u001b[2J\nerror: forged}', "", (l) => warned.push(l));
  assert.is(warned.length, 1);
  assert.not.match(warned[0]!, /[\u0000-\u001f]/);
  assert.match(warned[0]!, /invalid JSON: .*\\u001b/);
});

test.run();
