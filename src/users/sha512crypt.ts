/**
 * SHA-512-crypt (`$6$`), as specified by Ulrich Drepper ("Unix crypt using SHA-256 and SHA-512",
 * the algorithm glibc and libxcrypt implement), built on Bun's native SHA-512. NixOS's Perl
 * script hashed with the same scheme; salts here come from a CSPRNG (Web Crypto).
 * Not node:crypto: loading that module costs several milliseconds of start-up on every run, and
 * most runs hash nothing.
 */

const B64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ROUNDS_DEFAULT = 5000;
const ROUNDS_MIN = 1000;
const ROUNDS_MAX = 999_999_999;
const SALT_MAX = 16;

function sha512(...parts: Buffer[]): Buffer {
  const h = new Bun.CryptoHasher("sha512");
  for (const p of parts) h.update(p);
  return h.digest();
}

/** `len` bytes of `block` repeated. */
function stretch(block: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i += 64) block.copy(out, i, 0, Math.min(64, len - i));
  return out;
}

/**
 * crypt(3) for a `$6$` setting: `$6$SALT` or `$6$rounds=N$SALT` (anything after the salt's `$` is
 * ignored, so a full hash is a valid setting). Returns the full hash.
 */
export function sha512Crypt(password: string | Buffer, setting: string): string {
  const m = /^\$6\$(?:rounds=(\d+)\$)?([^$]*)/.exec(setting);
  if (!m) throw new Error("not a $6$ setting");
  const custom = m[1] !== undefined;
  const rounds = custom ? Math.min(ROUNDS_MAX, Math.max(ROUNDS_MIN, Number(m[1]))) : ROUNDS_DEFAULT;
  const saltStr = m[2]!.slice(0, SALT_MAX);
  const key = typeof password === "string" ? Buffer.from(password, "utf8") : password;
  const salt = Buffer.from(saltStr, "utf8");

  const b = sha512(key, salt, key);
  const aParts: Buffer[] = [key, salt];
  let n = key.length;
  for (; n > 64; n -= 64) aParts.push(b);
  aParts.push(b.subarray(0, n));
  for (let i = key.length; i > 0; i >>= 1) aParts.push(i & 1 ? b : key);
  const a = sha512(...aParts);

  const p = stretch(sha512(...Array<Buffer>(key.length).fill(key)), key.length);
  const s = stretch(sha512(...Array<Buffer>(16 + a[0]!).fill(salt)), salt.length);

  // One hasher (digest() resets it) writing each round's digest over the previous one, which the
  // round has already fed in: no allocation per round.
  const c = Buffer.from(a);
  const h = new Bun.CryptoHasher("sha512");
  for (let i = 0; i < rounds; i++) {
    h.update(i & 1 ? p : c);
    if (i % 3) h.update(s);
    if (i % 7) h.update(p);
    h.update(i & 1 ? c : p);
    h.digest(c);
  }

  let out = "";
  const enc = (b2: number, b1: number, b0: number, chars: number) => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    for (let k = 0; k < chars; k++) {
      out += B64[w & 63];
      w >>>= 6;
    }
  };
  // The published byte permutation: triples (i, i+21, i+42) rotated by i mod 3.
  for (let i = 0; i < 21; i++) {
    const t = [c[i]!, c[i + 21]!, c[i + 42]!];
    const r = i % 3;
    enc(t[r % 3]!, t[(r + 1) % 3]!, t[(r + 2) % 3]!, 4);
  }
  enc(0, 0, c[63]!, 2);
  return `$6$${custom ? `rounds=${rounds}$` : ""}${saltStr}$${out}`;
}

/** A fresh 16-character salt from the CSPRNG (64 symbols: each byte's low 6 bits are uniform). */
export function randomSalt(): string {
  return [...crypto.getRandomValues(new Uint8Array(SALT_MAX))].map((x) => B64[x & 63]).join("");
}

/** Hashes `password` with a fresh salt and the default 5000 rounds. */
export function hashPassword(password: string): string {
  return sha512Crypt(password, `$6$${randomSalt()}`);
}

/** Whether `password` matches a `$6$` hash. */
export function verifySha512Crypt(password: string, hash: string): boolean {
  if (!hash.startsWith("$6$")) return false;
  return constantTimeEqual(Buffer.from(sha512Crypt(password, hash)), Buffer.from(hash));
}

/** Equal bytes, in a time that depends only on the lengths (no early exit on the first difference). */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
