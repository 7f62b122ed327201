import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { hashPassword, randomSalt, sha512Crypt, verifySha512Crypt } from "../../../src/users/sha512crypt.ts";

// Test vectors from Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512" specification.
const vectors: [string, string, string][] = [
  ["$6$saltstring", "Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"],
  ["$6$rounds=10000$saltstringsaltstring", "Hello world!", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."],
  ["$6$rounds=5000$toolongsaltstring", "This is just a test", "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0"],
  ["$6$rounds=1400$anotherlongsaltstring", "a very much longer text to encrypt.  This one even stretches over morethan one line.", "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1"],
  ["$6$rounds=77777$short", "we have a short salt string but not a short password", "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0"],
  ["$6$rounds=123456$asaltof16chars..", "a short string", "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1"],
  ["$6$rounds=10$roundstoolow", "the minimum number is still observed", "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX."],
];

test("published test vectors", () => {
  for (const [setting, pw, want] of vectors) assert.is(sha512Crypt(pw, setting), want, setting);
});

test("hashPassword: $6$, 16-character salt from the crypt alphabet, verifies, salts differ", () => {
  const a = hashPassword("hunter2");
  const b = hashPassword("hunter2");
  assert.match(a, /^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
  assert.is.not(a, b);
  assert.ok(verifySha512Crypt("hunter2", a));
  assert.not.ok(verifySha512Crypt("hunter3", a));
  assert.not.ok(verifySha512Crypt("hunter2", "!"));
  assert.is(randomSalt().length, 16);
});

test("the host's crypt(3) (via perl) verifies our hashes and we verify its hashes", () => {
  for (const pw of ["", "p", "pässwörd ✓", "x".repeat(200), "with:colon\nand newline"]) {
    const ours = hashPassword(pw);
    const r = spawnSync("perl", ["-e", 'my ($p, $h) = @ARGV; print crypt($p, $h) eq $h ? "ok" : "no"; print "\\n", crypt($p, q($6$abcdefgh12345678$))', pw, ours], { encoding: "utf8" });
    assert.is(r.status, 0, r.stderr);
    const [verdict, theirs] = r.stdout.split("\n");
    assert.is(verdict, "ok", `perl rejects our hash of ${JSON.stringify(pw)}`);
    assert.is(sha512Crypt(pw, "$6$abcdefgh12345678$"), theirs);
  }
});

test.run();
