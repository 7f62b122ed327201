import { test } from "uvu";
import * as assert from "uvu/assert";
import { expiresToDays, parseSpec, SpecError } from "../../../src/users/spec.ts";

const ok = (o: unknown) => parseSpec("/s.json", JSON.stringify(o));
const fails = (text: string, re: RegExp) => {
  try {
    parseSpec("/s.json", text);
    assert.unreachable("expected a SpecError");
  } catch (e) {
    assert.instance(e, SpecError);
    assert.match((e as Error).message, re);
  }
};

test("a NixOS-shaped spec loads with defaults; passwordFile is the older hashedPasswordFile", () => {
  const s = ok({ mutableUsers: false, users: [{ name: "a", group: "users", passwordFile: "/p", uid: null }], groups: [{ name: "users", gid: 100, members: ["a"] }] });
  assert.is(s.mutableUsers, false);
  assert.is(s.users[0]!.hashedPasswordFile, "/p");
  assert.is(s.users[0]!.homeMode, "700");
  assert.equal(s.groups[0], { name: "users", gid: 100, members: ["a"] });
});

test("multi-line JSON parses (the Perl script only read one-line files)", () => {
  const s = parseSpec("/s.json", '{\n  "mutableUsers": true,\n  "users": [],\n  "groups": [\n    {"name": "g", "gid": 5, "members": []}\n  ]\n}\n');
  assert.is(s.groups[0]!.gid, 5);
});

test("JSON syntax errors name the file and line", () => {
  fails('{\n  "users": [\n    {"name": "a",}\n  ]\n}', /^\/s\.json: line 3: invalid JSON/);
  fails('{"users": [', /^\/s\.json: line 1: invalid JSON: unexpected end of input/);
});

test("a repeated key is refused with its line, and validation errors find the line of a multi-line spec", () => {
  fails('{\n  "users": [],\n  "users": []\n}', /^\/s\.json: line 3: invalid JSON: duplicate key "users"/);
  fails('{"users": [{"name": "a", "x": {"k": 1, "k": 2}}]}', /line 1: invalid JSON: duplicate key "k"/);
  // Compact, as Nix writes it (the fast path that re-serializes the document must not hide it).
  fails('{"users":[{"name":"a","name":"b"}]}', /line 1: invalid JSON: duplicate key "name"/);
  fails('{"users":[{"name":"a","description":"x\\":"}],"users":[]}\n', /line 1: invalid JSON: duplicate key "users"/);
  fails('{\n  "users": [\n    {\n      "name": "-bad"\n    }\n  ]\n}', /^\/s\.json: line 4: users\[0\]\.name: "-bad" is not a valid user name/);
});

const cases: [string, string, RegExp][] = [
  ["invalid user name", '{"users":[{"name":"Bad Name"}]}', /line 1: users\[0\]\.name: "Bad Name" is not a valid user name/],
  ["invalid group name", '{"groups":[{"name":"+abc"}]}', /groups\[0\]\.name: "\+abc" starts with '\+', which makes the line of \/etc\/group a compat entry to glibc/],
  ["group name starting with #", '{"groups":[{"name":"#ops"}]}', /groups\[0\]\.name: "#ops" starts with '#', which makes the line of \/etc\/group a comment/],
  ["group name with a space", '{"groups":[{"name":"a b"}]}', /groups\[0\]\.name: "a b" contains white space/],
  ["empty group name", '{"groups":[{"name":""}]}', /groups\[0\]\.name: the group name is empty/],
  ["too long a group name", `{"groups":[{"name":"${"g".repeat(257)}"}]}`, /groups\[0\]\.name: the group name is longer than 256/],
  ["five-digit home mode past 07777", '{"users":[{"name":"a","homeMode":"17777"}]}', /users\[0\]\.homeMode: "17777" is not an octal mode/],
  ["too long a name", `{"users":[{"name":"${"a".repeat(33)}"}]}`, /is not a valid user name/],
  ["colon in description", '{"users":[{"name":"a","description":"x:y"}]}', /users\[0\]\.description: "x:y" contains ':'/],
  ["newline in home", '{"users":[{"name":"a","home":"/h\\nevil"}]}', /users\[0\]\.home: .* contains a newline/],
  ["colon in shell", '{"users":[{"name":"a","shell":"/bin/sh:x"}]}', /users\[0\]\.shell: .* contains ':'/],
  ["newline in hashedPassword", '{"users":[{"name":"a","hashedPassword":"$6$x\\nb"}]}', /users\[0\]\.hashedPassword: .* newline/],
  ["colon in initialHashedPassword", '{"users":[{"name":"a","initialHashedPassword":"a:b"}]}', /initialHashedPassword: .* contains ':'/],
  ["colon in group", '{"users":[{"name":"a","group":"a:b"}]}', /users\[0\]\.group: .* contains ':'/],
  ["bad member", '{"groups":[{"name":"g","members":["x,y"]}]}', /groups\[0\]\.members\[0\]: "x,y" contains ','/],
  ["duplicate user", '{"users":[{"name":"a"},{"name":"a"}]}', /users\[1\]: user name "a" is also declared by users\[0\]/],
  ["duplicate group", '{"groups":[{"name":"g"},{"name":"g"}]}', /groups\[1\]: group name "g" is also declared by groups\[0\]/],
  ["negative uid", '{"users":[{"name":"a","uid":-1}]}', /users\[0\]\.uid: ID -1 is out of range/],
  ["uid too large", '{"users":[{"name":"a","uid":4294967295}]}', /users\[0\]\.uid: ID 4294967295 is out of range/],
  ["numeric group out of range", '{"users":[{"name":"a","group":"4294967295"}]}', /users\[0\]\.group: GID 4294967295 is out of range/],
  ["fractional gid", '{"groups":[{"name":"a","gid":1.5}]}', /groups\[0\]\.gid: expected an integer ID/],
  ["bad expires", '{"users":[{"name":"a","expires":"2030-13-01"}]}', /users\[0\]\.expires: "2030-13-01" is not a date/],
  ["bad homeMode", '{"users":[{"name":"a","homeMode":"rwx"}]}', /homeMode: "rwx" is not an octal mode/],
  ["bad subuid range", '{"users":[{"name":"a","subUidRanges":[{"startUid":1}]}]}', /subUidRanges\[0\]: needs startUid and count/],
  ["wrong type", '{"mutableUsers":"yes"}', /mutableUsers: expected true or false/],
  ["users not a list", '{"users":{}}', /users: expected a list/],
];
for (const [name, text, re] of cases) test(`rejected: ${name}`, () => fails(text, re));

test("errors in multi-line specs carry the line of the offending value", () => {
  fails('{\n"users": [\n {"name": "a"},\n {"name": "b",\n  "uid": -3}\n]}', /^\/s\.json: line 5: users\[1\]\.uid: ID -3/);
  fails('{\n"users": [\n {"name": "a"},\n {"uid": 3}\n]}', /^\/s\.json: line 4: users\[1\]\.name: expected a string/);
});

test("expiresToDays: days since the epoch, as the Perl script's strptime counts them", () => {
  assert.is(expiresToDays("1970-01-01"), 0);
  assert.is(expiresToDays("2030-01-02"), 21916);
  assert.is(expiresToDays("1969-12-31"), -1);
  // Days past a month's end count on (numbers from perl -MTime::Piece on Debian bookworm).
  assert.is(expiresToDays("2030-02-30"), 21975);
  assert.is(expiresToDays("2030-04-31"), 22035);
  assert.is(expiresToDays("1901-12-13"), -24856);
  // Day 00: the month's eve, except in January (Time::Piece's own count).
  assert.is(expiresToDays("2030-03-00"), 21973);
  assert.is(expiresToDays("2030-12-00"), 22248);
  assert.is(expiresToDays("2030-01-00"), 21915);
  // What strptime refuses (the Perl script dies): no month 0 or 13, no day 32, no year before 1900.
  for (const d of ["2030-13-01", "2030-00-10", "2030-01-32", "1899-12-31", "0000-01-01", "2024-1-3"]) assert.is(expiresToDays(d), null, d);
});

test("NixOS's own forms load: names with upper case, dots and digits, repeated IDs, 5-digit home modes, impossible dates (Perl's count)", () => {
  const s = ok({
    users: [
      { name: "john.doe" }, { name: "Alice" }, { name: "1password" }, { name: "root", uid: 0 }, { name: "toor", uid: 0 },
      { name: "svc", homeMode: "02770", createHome: true, home: "/srv/svc" }, { name: "old", expires: "2030-02-30" },
    ],
    groups: [{ name: "Domain.Users", members: ["john.doe", "ghost"] }, { name: "g".repeat(40), gid: 7 }, { name: "h", gid: 7 }],
  });
  assert.equal(s.users.map((u) => u.name), ["john.doe", "Alice", "1password", "root", "toor", "svc", "old"]);
  assert.equal([s.users[3]!.uid, s.users[4]!.uid], [0, 0]);
  assert.is(s.users[5]!.homeMode, "02770");
  assert.equal(s.groups[0]!.members, ["john.doe", "ghost"]);
  assert.equal([s.groups[1]!.gid, s.groups[2]!.gid], [7, 7]);
  assert.equal(parseSpec("/s.json", JSON.stringify(s), true), s, "the per-field checks read it the same");
});

test("createHome needs an absolute home that is not / and has no `..`; a home or password file written with `//`, `.` or a trailing `/` is taken in normal form", () => {
  const u = (x: Record<string, unknown>) => JSON.stringify({ users: [{ name: "al", ...x }] });
  for (const home of ["", "/", "rel", "/a/../b", "/a/..", "//", "/./"]) {
    fails(u({ createHome: true, home }), /^\/s\.json: line 1: users\[0\]\.home: home of user ‘al’ \(createHome\) (is|contains|has)/);
  }
  for (const [home, at] of [["/a//b", "/a/b"], ["/a/./b", "/a/b"], ["/var/lib/foo/", "/var/lib/foo"]] as const) {
    const user = parseSpec("/s.json", u({ createHome: true, home })).users[0]!;
    assert.is(user.home, home, "/etc/passwd gets the home as written");
    assert.is(user.createHomeAt, at);
  }
  assert.is(parseSpec("/s.json", u({ createHome: true, home: "/h/al" })).users[0]!.createHomeAt, undefined);
  assert.is(parseSpec("/s.json", u({ home: "" })).users[0]!.home, "", "without createHome, home is only a passwd field");
  for (const f of ["", "/", "x", "/../etc/shadow", "/run/../pw"]) {
    fails(u({ hashedPasswordFile: f }), /^\/s\.json: line 1: users\[0\]\.hashedPasswordFile: hashedPasswordFile of user ‘al’ (is|contains|has)/);
  }
  fails(u({ passwordFile: "/a/../b" }), /users\[0\]\.passwordFile: passwordFile of user ‘al’ has a `..` component/);
  assert.is(parseSpec("/s.json", u({ hashedPasswordFile: "/run/secrets/al" })).users[0]!.hashedPasswordFile, "/run/secrets/al");
  assert.is(parseSpec("/s.json", u({ hashedPasswordFile: "/run//secrets/al/" })).users[0]!.hashedPasswordFile, "/run/secrets/al");
});

test("a large spec nested too deeply is refused before the native parser builds it (8M levels: gigabytes before)", () => {
  const n = 8_000_000;
  fails("[".repeat(n) + "]".repeat(n), /^\/s\.json: line 1: invalid JSON: nested deeper than 256 levels$/);
  fails('{"users":[{"name":"a","x":' + "[1,".repeat(n / 2) + "]".repeat(n / 2) + "}]}", /^\/s\.json: line 1: invalid JSON: nested deeper than 256 levels$/);
});

test("a spec nested too deeply is a SpecError, not a stack overflow", () => {
  for (const n of [300, 5000]) {
    fails("[".repeat(n) + "]".repeat(n), /^\/s\.json: \(top level\): expected an object$/);
    fails('{"users":' + "[".repeat(n), /^\/s\.json: line 1: invalid JSON: nested deeper than 256 levels$/);
    fails('{"users":' + "[".repeat(n) + "]".repeat(n) + "}", /^\/s\.json: users\[0\]: expected an object$/);
  }
  // Deep enough for the native parser's own limit (a RangeError, slow to unwind: one case).
  fails("[".repeat(100_000) + "]".repeat(100_000), /^\/s\.json: invalid JSON: nested too deeply$/);
});

test.run();
