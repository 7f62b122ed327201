import { test } from "uvu";
import * as assert from "uvu/assert";
import { planUsers } from "../../../src/users/plan.ts";
import { hashPassword } from "../../../src/users/sha512crypt.ts";
import { fakeHash, files, group, run, spec, user } from "./helpers.ts";

const base = files({
  passwd: "root:x:0:0:System administrator:/root:/bin/bash\nmanual:x:1500:100::/home/manual:/bin/sh\n",
  group: "root:x:0:\nusers:x:100:manual,alice\nmgroup:x:1600:manual\n",
  shadow: "root:$6$r$oot:19000::::::\nmanual:$6$m$anual:19000:0:99999:7:::\n",
  declarativeUsers: "root",
  declarativeGroups: "root users",
});
const root = user("root", { uid: 0, group: "root", home: "/root", description: "System administrator", shell: "/bin/bash", hashedPassword: "$6$new$root" });
const groups = [group("root", 0), group("users", 100)];

test("new users and groups: allocation, passwd/group/shadow lines, maps and lists", () => {
  const s = spec([root, user("alice", { password: "pw", expires: "2030-01-02", createHome: true, home: "/home/alice", homeMode: "750" }), user("svc", { isSystemUser: true, group: "svc", initialPassword: "i" })], [...groups, group("svc")]);
  const { plan } = run(s, base);
  assert.equal(plan.messages, ["removing group ‘mgroup’", "removing user ‘manual’"]);
  assert.is(plan.next.passwd, "root:x:0:0:System administrator:/root:/bin/bash\nsvc:x:999:999::/var/empty:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\n");
  assert.is(plan.next.group, "root:x:0:\nusers:x:100:\nsvc:x:999:\n");
  assert.is(plan.next.shadow, "root:$6$new$root:19000::::::\nsvc:HASH(i):1::::::\nalice:HASH(pw):1:::::21916:\n");
  assert.is(plan.next.uidMap, '{"alice":1000,"root":0,"svc":999}');
  assert.is(plan.next.gidMap, '{"root":0,"svc":999,"users":100}');
  assert.is(plan.next.declarativeUsers, "alice root svc");
  assert.is(plan.next.declarativeGroups, "root svc users");
  assert.equal(plan.homes, [{ user: "alice", path: "/home/alice", uid: 1000, gid: 100, mode: 0o750 }]);
});

test("mutable: non-declarative users, groups and members kept; shadow hashes never overwritten", () => {
  const s = spec([{ ...root, hashedPassword: "$6$changed" }, user("alice", { password: "pw" })], groups, true);
  const { plan } = run(s, base);
  assert.equal(plan.messages, []);
  assert.match(plan.next.passwd, /^manual:x:1500:100::\/home\/manual:\/bin\/sh$/m);
  assert.match(plan.next.group, /^users:x:100:alice,manual$/m); // neither was declarative before: both kept
  assert.match(plan.next.group, /^mgroup:x:1600:manual$/m);
  assert.match(plan.next.shadow, /^root:\$6\$r\$oot:19000/m);
  assert.match(plan.next.shadow, /^manual:\$6\$m\$anual:/m);
  assert.match(plan.next.shadow, /^alice:HASH\(pw\):1:/m);
});

test("mutable: members of declarative users are dropped unless declared", () => {
  const cur = files({ group: "g:x:5:alice,bob,carol\n", declarativeUsers: "alice bob" });
  const { plan } = run(spec([], [group("g", 5, ["bob"])], true), cur);
  assert.is(plan.next.group, "g:x:5:bob,carol\n");
});

test("members: declared ones sorted bytewise without repeats, kept ones merged in", () => {
  const cur = files({ group: "g:x:5:zed\nh:x:6:\n", declarativeUsers: "" });
  const { plan } = run(spec([], [group("g", 5, ["bob", "alice", "bob"]), group("h", 6, ["carol", "bob"]), group("i", 7, ["a", "b"])], true), cur);
  assert.is(plan.next.group, "g:x:5:alice,bob,zed\nh:x:6:bob,carol\ni:x:7:a,b\n");
});

test("an existing shadow line read as it was is written anew once a field of it changes", () => {
  const cur = files({ passwd: "alice:x:1000:100::/home/alice:/bin/sh\n", shadow: "alice:$6$a:19000:0:99999:7:::\n" });
  const { plan } = run(spec([user("alice", { uid: 1000, expires: "2030-01-02" })], [group("users", 100)], true), cur);
  assert.is(plan.next.shadow, "alice:$6$a:19000:0:99999:7::21916:\n");
  const immutable = run(spec([user("alice", { uid: 1000, hashedPassword: "$6$b" })], [group("users", 100)]), cur).plan;
  assert.is(immutable.next.shadow, "alice:$6$b:19000:0:99999:7:::\n");
});

test("an ID a user's map entry recorded is not handed to a new user after planning moved that entry", () => {
  const cur = files({ passwd: "alice:x:1001:100::/home/alice:/bin/sh\n", uidMap: '{"alice":1000}', group: "users:x:100:\n" });
  const { plan } = run(spec([user("alice"), user("bob")], [group("users", 100)], true), cur);
  assert.match(plan.next.passwd, /^bob:x:1002:/m);
  assert.is(plan.next.uidMap, '{"alice":1001,"bob":1002}');
});

test("IDs two current entries already share are left alone; a new entry joining them is refused naming the first", () => {
  const cur = files({ passwd: "a:x:1500:100::/:/bin/sh\nb:x:1500:100::/:/bin/sh\n", group: "users:x:100:\n" });
  const ok = run(spec([user("c", { uid: 1600 })], [group("users", 100)], true), cur).plan;
  assert.match(ok.next.passwd, /^a:x:1500:.*\nb:x:1500:.*\nc:x:1600:/m);
  assert.throws(() => run(spec([user("c", { uid: 1500 })], [group("users", 100)], true), cur), /user ‘c’ is declared with UID 1500, which user ‘a’ \(already in \/etc\/passwd, not declared\) has/);
  // Declared together, they share it as asked (NixOS: users.enforceIdUniqueness = false).
  const both = run(spec([user("c", { uid: 1600 }), user("d", { uid: 1600 })], [group("users", 100)], true), cur).plan;
  assert.match(both.next.passwd, /^c:x:1600:.*\nd:x:1600:/m);
});

test("mutable: a group or user removed from the spec is removed only if it was declarative", () => {
  const cur = files({ group: "a:x:5:\nb:x:6:\n", passwd: "x:x:1001:5::/:/bin/sh\ny:x:1002:5::/:/bin/sh\n", declarativeGroups: "a", declarativeUsers: "x" });
  const { plan } = run(spec([], [], true), cur);
  assert.equal(plan.messages, ["removing group ‘a’", "removing user ‘x’"]);
  assert.is(plan.next.group, "b:x:6:\n");
  assert.is(plan.next.passwd, "y:x:1002:5::/:/bin/sh\n");
});

test("immutable: hashes come from the spec or become '!'", () => {
  const { plan } = run(spec([root, user("manual", { uid: 1500 })], groups), base);
  assert.match(plan.next.shadow, /^root:\$6\$new\$root:19000/m);
  assert.match(plan.next.shadow, /^manual:!:19000:0:99999:7:::$/m);
});

test("messages: GID/UID changes not applied, unknown group, no shell, missing password file", () => {
  const s = spec([
    { ...root, uid: 7 },
    user("manual", { uid: 1500, group: "nope", shell: null, hashedPasswordFile: "/secret/manual" }),
    user("new", { shell: null, hashedPasswordFile: "/secret/new" }),
  ], [group("root", 3), group("users", 100)]);
  const cur = { ...base, passwordFiles: new Map([["/secret/manual", null], ["/secret/new", "$6$from$file\n"]]) };
  const msgs = [
    "warning: not applying GID change of group ‘root’ (0 -> 3) in /etc/group",
    "removing group ‘mgroup’",
    "warning: not applying UID change of user ‘root’ (0 -> 7) in /etc/passwd",
    "warning: user ‘manual’ has unknown group ‘nope’",
    "warning: password file ‘/secret/manual’ does not exist",
    "warning: no declarative or previous shell for ‘new’, setting shell to nologin",
  ];
  const { plan } = run(s, cur);
  assert.equal(plan.messages, msgs);
  assert.match(plan.next.passwd, /^root:x:0:0:/m);
  assert.match(plan.next.passwd, /^manual:x:1500:65534::\/var\/empty:\/bin\/sh$/m); // previous shell kept
  assert.match(plan.next.passwd, /^new:x:1000:100::\/var\/empty:\/run\/current-system\/sw\/bin\/nologin$/m);
  assert.match(plan.next.shadow, /^new:\$6\$from\$file:1:/m);
  const dry = run(s, cur, true).plan.messages;
  assert.equal(dry, [
    "warning: would not apply GID change of group ‘root’ (0 -> 3) in /etc/group",
    "would remove group ‘mgroup’",
    "warning: would not apply UID change of user ‘root’ (0 -> 7) in /etc/passwd",
    ...msgs.slice(3),
  ]);
});

test("a hashed password file that would inject a shadow line is ignored with a warning", () => {
  const s = spec([user("a", { hashedPasswordFile: "/p" })], [group("users", 100)]);
  const { plan } = run(s, files({}, { "/p": "$6$x$y\nroot::0:0:::::\n" }));
  assert.equal(plan.messages, ["warning: password file ‘/p’ contains ':' or a line break; ignored"]);
  assert.match(plan.next.shadow, /^a:!:1:/m);
});

test("revival: a removed user and group come back with their old IDs; messages in both wordings", () => {
  const s1 = spec([user("a", { group: "a" }), user("b", { group: "b" })], [group("a"), group("b")]);
  const first = run(s1, files());
  assert.match(first.plan.next.passwd, /^a:x:1000:999:/m);
  const second = run(spec([user("b", { group: "b" })], [group("b")]), first.after);
  assert.equal(second.plan.messages, ["removing group ‘a’", "removing user ‘a’"]);
  // A newcomer never gets a's IDs.
  const third = run(spec([user("b", { group: "b" }), user("c", { group: "c" })], [group("b"), group("c")]), second.after);
  assert.match(third.plan.next.passwd, /^c:x:1002:997:/m);
  const back = run(s1, third.after, true);
  assert.equal(back.plan.messages, ["would revive group 'a' with GID 999", "would remove group ‘c’", "would revive user 'a' with UID 1000", "would remove user ‘c’"]);
  const real = run(s1, third.after);
  assert.match(real.plan.messages[0]!, /^reviving group 'a' with GID 999$/);
  assert.ok(real.plan.messages.includes("reviving user 'a' with UID 1000"));
  assert.match(real.plan.next.passwd, /^a:x:1000:999:/m);
});

test("fixed: allocating before a revival does not steal the revived ID (Perl's allocId bug)", () => {
  // x was removed and is recorded at 999; y is new and allocated first in spec order.
  const cur = files({ gidMap: '{"x":999}' });
  const { plan } = run(spec([], [group("y"), group("x")]), cur);
  assert.is(plan.next.group, "y:x:998:\nx:x:999:\n");
  assert.equal(plan.messages, ["reviving group 'x' with GID 999"]);
});

test("fixed: a numeric group of several digits is a GID (Perl only accepted one digit)", () => {
  const { plan } = run(spec([user("a", { group: "100" })], []), files());
  assert.equal(plan.messages, []);
  assert.match(plan.next.passwd, /^a:x:1000:100:/m);
});

test("a second run with the same spec changes nothing, even with plain-text passwords", () => {
  const s = spec([root, user("alice", { password: "pw", autoSubUidGidRange: true })], groups);
  const first = planUsers(s, base, { dry: false, hashPassword });
  const again = planUsers(s, { files: { ...first.next }, passwordFiles: new Map() }, { dry: false, hashPassword });
  assert.equal(again.changed, []);
  assert.ok(first.changed.includes("shadow"));
});

test("subordinate ranges: declared ranges and aligned automatic ones that never move", () => {
  const s = spec([
    user("a", { autoSubUidGidRange: true, subUidRanges: [{ start: 100000, count: 10 }] }),
    user("b", { autoSubUidGidRange: true, subGidRanges: [{ start: 500, count: 5 }] }),
  ], []);
  const first = run(s, files());
  assert.is(first.plan.next.subuid, "a:100000:10\na:165536:65536\nb:231072:65536\n");
  assert.is(first.plan.next.subgid, "a:165536:65536\nb:500:5\nb:231072:65536\n");
  assert.is(first.plan.next.autoSubUidMap, '{"a":165536,"b":231072}\n');
  // a goes away, c arrives: c must not take a's recorded range, b must not move.
  const second = run(spec([s.users[1]!, user("c", { autoSubUidGidRange: true })], []), first.after);
  // 100000 was only ever a's declared range, never recorded: free again. 165536 stays a's.
  assert.is(second.plan.next.subuid, "b:231072:65536\nc:100000:65536\n");
  const third = run(s, second.after);
  assert.match(third.plan.next.subuid, /^a:165536:65536$/m);
});

test("dry runs plan the same files as real runs", () => {
  const s = spec([user("alice")], groups);
  assert.equal(run(s, base, true).plan.next, run(s, base).plan.next);
});

test("output order is deterministic: by ID, then name (two imperative users sharing a UID are kept as they are)", () => {
  const { plan } = run(spec([user("c", { uid: 7 })], [], true), files({ passwd: "z:x:5:0::/:/bin/sh\na:x:5:0::/:/bin/sh\n" }));
  assert.equal(plan.next.passwd.split("\n").map((l) => l.split(":")[0]), ["a", "z", "c", ""]);
});

test("an ID that a non-record line starts with is never allocated; the line stays in place (issue 13)", () => {
  const passwd = "root:x:0:0::/root:/bin/sh\nodd:x:1000x:0::/:/bin/sh\n+::::::\n";
  const { plan } = run(spec([user("root", { uid: 0, group: "root" }), user("alice")], [group("root", 0), group("users", 100)], true), files({ passwd }));
  // Both lines followed the last record: they stay after every record, new ones included.
  assert.is(plan.next.passwd, "root:x:0:0::/var/empty:/bin/sh\nalice:x:1001:100::/var/empty:/bin/sh\nodd:x:1000x:0::/:/bin/sh\n+::::::\n");
  assert.not.ok(plan.messages.some((m) => m.includes("odd")), "not a user: never removed");
});

test("a new fixed ID that a declared entry holds by allocation is refused (carol got 1000, dave asks for it)", () => {
  const cur = files({ passwd: "carol:x:1000:100::/:/bin/sh\n", group: "users:x:100:\nstaff:x:999:\n", declarativeUsers: "carol", declarativeGroups: "staff users" });
  assert.throws(() => run(spec([user("carol"), user("dave", { uid: 1000 })], [group("users", 100)], true), cur),
    (e: Error) => e.name === "IdConflictError" && /user ‘dave’ is declared with UID 1000, which user ‘carol’ \(also declared\) has/.test(e.message));
  assert.throws(() => run(spec([], [group("users", 100), group("staff"), group("ops", 999)], true), cur),
    (e: Error) => e.name === "IdConflictError" && /group ‘ops’ is declared with GID 999, which group ‘staff’ \(also declared\) has/.test(e.message));
});

test("a user's group names a group first: a group called `2000` is that group, not GID 2000", () => {
  const { plan } = run(spec([user("alice", { uid: 1500, group: "2000" }), user("bob", { uid: 1501, group: "4000" })], [group("2000", 3000)], true), files({}));
  assert.match(plan.next.passwd, /^alice:x:1500:3000:/m);
  assert.match(plan.next.passwd, /^bob:x:1501:4000:/m, "no group of that name: a GID");
});

test("non-ASCII members are written in byte order, and a second run writes the same", () => {
  const first = run(spec([], [group("g", 500, ["𝔀x", "Ａy"])], true), files({})).plan;
  assert.match(first.next.group, /^g:x:500:Ａy,𝔀x$/m);
});

test("a new declared user with the fixed UID of another declared, existing user shares it (toor beside root); an undeclared one's is refused", () => {
  const cur = files({ passwd: "root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/:/bin/sh\n", group: "root:x:0:\nusers:x:100:\n" });
  const { plan } = run(spec([user("root", { uid: 0, group: "root" }), user("toor", { uid: 0, group: "root" })], [group("root", 0), group("users", 100)], true), cur);
  assert.match(plan.next.passwd, /^root:x:0:0:.*\ntoor:x:0:0:/m);
  assert.throws(() => run(spec([user("bob", { uid: 1000 })], [group("users", 100)], true), cur),
    (e: Error) => e.name === "IdConflictError" && /user ‘bob’ is declared with UID 1000, which user ‘alice’ \(already in \/etc\/passwd, not declared\) has/.test(e.message));
});

test("a current hash asking for a huge number of rounds is not verified (an hour at boot): the password is hashed anew", () => {
  let hashed = 0;
  const s = spec([user("alice", { password: "pw" })], [group("users", 100)]);
  const cur = files({ passwd: "alice:x:1000:100::/var/empty:/bin/sh\n", shadow: "alice:$6$rounds=999999999$salt$abc:1::::::\n" });
  const plan = planUsers(s, cur, { dry: false, hashPassword: (pw) => (hashed++, fakeHash(pw)) });
  assert.is(hashed, 1);
  assert.match(plan.next.shadow, /^alice:HASH\(pw\):/);
});

test.run();
