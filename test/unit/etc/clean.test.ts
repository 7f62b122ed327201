import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatClean, parseClean } from "../../../src/etc/clean.ts";

test(".clean is setup-etc.pl's format: one name a line, sorted bytewise, newline-terminated", () => {
  assert.is(formatClean(["sudoers", "Xresources", "ssh/ssh_host_key", "a", "sudoers"]), "Xresources\na\nssh/ssh_host_key\nsudoers\n");
  assert.is(formatClean([]), "");
});

test("reading .clean round-trips and refuses lines that would escape /etc", () => {
  const { names, refused } = parseClean("a\nssh/x\n../../bin/sh\n/etc/shadow\n\n");
  assert.equal(names, ["a", "ssh/x"]);
  assert.equal(refused.map((r) => r.name), ["../../bin/sh", "/etc/shadow"]);
  assert.is(formatClean(names), "a\nssh/x\n");
});

test.run();
