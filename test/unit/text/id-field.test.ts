import { test } from "uvu";
import * as assert from "uvu/assert";
import { glibcId, MAX_FIELD_ID } from "../../../src/text/id-field.ts";

test("glibcId reads an ID field as glibc's files backend does (strtoul, at most 4294967295)", () => {
  const cases: [string | undefined, number | undefined][] = [
    ["0", 0], ["1000", 1000], ["+0", 0], [" 0", 0], ["\t+12", 12], ["00000000000", 0], ["007", 7], ["-0", 0],
    ["-1", MAX_FIELD_ID], ["4294967295", MAX_FIELD_ID], ["4294967296", MAX_FIELD_ID], ["99999999999999999999", MAX_FIELD_ID],
    ["4294967294", 4294967294], ["9999999999", MAX_FIELD_ID], ["0000000001", 1], ["00000000004294967294", 4294967294],
    ["", undefined], [" ", undefined], ["+", undefined], ["12a", undefined], ["0x10", undefined], ["1 ", undefined], [undefined, undefined],
  ];
  for (const [field, want] of cases) assert.is(glibcId(field), want, JSON.stringify(field));
});

test.run();
