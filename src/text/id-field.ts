/**
 * The ID fields of passwd(5) and group(5) as glibc reads them. Its files backend takes the field
 * with strtoul and then at most 4294967295, so blanks and a sign before the digits are accepted:
 * `+0`, ` 0` and `00000000000` are all root's ID to every program on the machine. A tool that
 * judged such a line by its digits alone would keep (or not remove) an account the system honours.
 */

/** The largest ID glibc reads from a field (a larger number, or a negative one, reads as this). */
export const MAX_FIELD_ID = 0xffffffff;

/**
 * The largest ID a user, group or file can have: MAX_FIELD_ID is (uid_t)-1, which chown(2) and
 * setresuid(2) take as "leave it as it is", so no file or process is ever owned by it.
 */
export const MAX_ID = MAX_FIELD_ID - 1;

/** What strtoul skips and accepts before the digits (C's isspace, then a sign). */
const ID_FIELD = /^[ \t\n\v\f\r]*([+-]?)([0-9]+)$/;

/** Up to 10 plain digits, the form of nearly every field: their number is the ID (at most MAX_FIELD_ID). */
const PLAIN_ID = /^[0-9]{1,10}$/;

/** The ID glibc reads from `field`, or undefined when it refuses the field (no digits, anything after them). */
export function glibcId(field: string | undefined): number | undefined {
  if (field === undefined) return undefined;
  // One test and no match array for the usual field (the reading below costs three times as much).
  if (PLAIN_ID.test(field)) {
    const n = Number(field);
    return n > MAX_FIELD_ID ? MAX_FIELD_ID : n;
  }
  const m = ID_FIELD.exec(field);
  if (!m) return undefined;
  const digits = m[2]!.replace(/^0+(?=[0-9])/, "");
  if (digits === "0") return 0;
  // strtoul negates a `-` value in unsigned long: anything but -0 is above 4294967295.
  if (m[1] === "-" || digits.length > 10) return MAX_FIELD_ID;
  return Math.min(Number(digits), MAX_FIELD_ID);
}
