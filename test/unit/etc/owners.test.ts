import { test } from "uvu";
import * as assert from "uvu/assert";
import { idTables, parseIdFile, resolveOwner } from "../../../src/etc/owners.ts";

test("passwd and group lines give name -> id; junk lines are ignored", () => {
  const ids = parseIdFile("root:x:0:0::/root:/bin/sh\n# comment\nbob:x:1000:100::/home/bob:/bin/sh\n+::::::\nbad:x:notanumber:\n\n");
  assert.equal([...ids], [["root", 0], ["bob", 1000]]);
});

test("owner specs: +N is a number, names are looked up, bare numbers fall back to numbers, unknown names fail", () => {
  const t = idTables("nginx:x:60:60::/:/bin/false\n", "nginx:x:61:\n");
  assert.is(resolveOwner("+5", t.users), 5);
  assert.is(resolveOwner("nginx", t.users), 60);
  assert.is(resolveOwner("nginx", t.groups), 61);
  assert.is(resolveOwner("1000", t.users), 1000);
  assert.is(resolveOwner("nobody", t.users), undefined);
  assert.is(resolveOwner("", t.users), undefined);
});

test.run();
