/**
 * D-Bus type signatures (`s`, `a{sv}`, `(ssssssouso)`, ...) parsed into type trees, as the
 * marshaller walks them. Pure.
 */

/** One complete type: its code and, for arrays, structs and dict entries, the contained types. */
export interface DBusType {
  /** `y b n q i u x t d h s o g v`, or `a`, `(` (struct) or `{` (dict entry). */
  code: string;
  children: DBusType[];
}

const BASIC = "ybnqiuxtdhsog";

/** A signature that breaks the D-Bus rules. */
export class SignatureError extends Error {
  override name = "SignatureError";
}

/** The spec's nesting caps: 32 arrays and 32 structs (dict entries count as structs) in one signature. */
export const MAX_ARRAY_DEPTH = 32;
export const MAX_STRUCT_DEPTH = 32;

/** Parses a signature into its complete types; throws SignatureError when it is malformed. */
export function parseSignature(signature: string): DBusType[] {
  // Error texts quote at most 40 characters: the signature may come from a hostile peer.
  const shown = () => JSON.stringify(signature.length > 40 ? `${signature.slice(0, 40)}...` : signature);
  if (signature.length > 255) throw new SignatureError(`signature longer than 255 characters: ${shown()}`);
  let pos = 0;
  const one = (arrays: number, structs: number): DBusType => {
    const c = signature[pos++];
    if (c === undefined) throw new SignatureError(`signature ends inside a type: ${shown()}`);
    if (BASIC.includes(c) || c === "v") return { code: c, children: [] };
    if (c === "a") {
      if (arrays >= MAX_ARRAY_DEPTH) throw new SignatureError(`signature nests more than ${MAX_ARRAY_DEPTH} arrays: ${shown()}`);
      return { code: c, children: [one(arrays + 1, structs)] };
    }
    if (c === "(" || c === "{") {
      if (structs >= MAX_STRUCT_DEPTH) throw new SignatureError(`signature nests more than ${MAX_STRUCT_DEPTH} structs: ${shown()}`);
    }
    if (c === "(") {
      const children: DBusType[] = [];
      while (signature[pos] !== ")") {
        if (pos >= signature.length) throw new SignatureError(`unclosed '(' in signature ${shown()}`);
        children.push(one(arrays, structs + 1));
      }
      pos++;
      if (children.length === 0) throw new SignatureError(`empty struct in signature ${shown()}`);
      return { code: c, children };
    }
    if (c === "{") {
      if (signature[pos - 2] !== "a") throw new SignatureError(`dict entry outside an array in signature ${shown()}`);
      const key = one(arrays, structs + 1);
      if (!BASIC.includes(key.code)) throw new SignatureError(`dict key is not a basic type in signature ${shown()}`);
      const value = one(arrays, structs + 1);
      if (signature[pos++] !== "}") throw new SignatureError(`dict entry needs exactly two types in signature ${shown()}`);
      return { code: c, children: [key, value] };
    }
    throw new SignatureError(`unknown type code ${JSON.stringify(c)} in signature ${shown()}`);
  };
  const types: DBusType[] = [];
  while (pos < signature.length) types.push(one(0, 0));
  return types;
}

/** The signature text of a type tree (the inverse of parseSignature for one type). */
export function signatureOf(t: DBusType): string {
  if (t.code === "a") return `a${signatureOf(t.children[0]!)}`;
  if (t.code === "(") return `(${t.children.map(signatureOf).join("")})`;
  if (t.code === "{") return `{${t.children.map(signatureOf).join("")}}`;
  return t.code;
}

/** The alignment, in bytes, of a type's marshalled form. */
export function alignmentOf(code: string): number {
  switch (code) {
    case "y": case "g": case "v": return 1;
    case "n": case "q": return 2;
    case "x": case "t": case "d": case "(": case "{": return 8;
    default: return 4; // b i u h s o a
  }
}

const cache = new Map<string, DBusType[]>();

/** parseSignature, memoised: a switch marshals the same few signatures thousands of times. */
export function parsedSignature(signature: string): DBusType[] {
  let t = cache.get(signature);
  if (!t) {
    t = parseSignature(signature);
    if (cache.size < 512) cache.set(signature, t);
  }
  return t;
}
