/**
 * SHA-512 crypt (`$6$`, Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512", as glibc,
 * busybox and every Linux `/etc/shadow` read it): the guest's root password leaves the web tier
 * only as this hash (issue 12 point 4). 5000 rounds, the glibc default (so no `rounds=` field),
 * a random 16-character salt. Node has no crypt(3) and the web tier runs no programs.
 */
import { createHash, randomBytes } from "node:crypto";

const ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ROUNDS = 5000;

const sha512 = (...parts: Buffer[]) => {
  const h = createHash("sha512");
  for (const p of parts) h.update(p);
  return h.digest();
};

/** `length` bytes of `block` repeated (the P and S sequences of the algorithm). */
function repeatTo(block: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += block.length) block.copy(out, i, 0, Math.min(block.length, length - i));
  return out;
}

function encode(c: Buffer): string {
  let out = "";
  const put = (b2: number, b1: number, b0: number, n: number) => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    for (let i = 0; i < n; i++) {
      out += ALPHABET[w & 0x3f];
      w >>= 6;
    }
  };
  for (let k = 0; k < 21; k++) {
    const t = [k, k + 21, k + 42];
    const [x, y, z] = [t[k % 3], t[(k + 1) % 3], t[(k + 2) % 3]] as [number, number, number];
    put(c[x] as number, c[y] as number, c[z] as number, 4);
  }
  put(0, 0, c[63] as number, 2);
  return out;
}

/** The `$6$salt$hash` of `password` (with `salt`: for tests against other implementations). */
export function sha512Crypt(password: string, salt?: string): string {
  const s = Buffer.from(
    salt ?? Array.from(randomBytes(16), (b) => ALPHABET[b & 0x3f]).join(""),
    "utf8",
  ).subarray(0, 16);
  if (!/^[./0-9A-Za-z]*$/.test(s.toString("utf8"))) throw new Error("a crypt salt uses ./0-9A-Za-z only");
  const p = Buffer.from(password, "utf8");
  const b = sha512(p, s, p);
  const a = createHash("sha512").update(p).update(s);
  a.update(repeatTo(b, p.length));
  for (let i = p.length; i > 0; i >>= 1) a.update(i & 1 ? b : p);
  let c = a.digest();
  const pSeq = repeatTo(sha512(...Array<Buffer>(p.length).fill(p)), p.length);
  const sSeq = repeatTo(sha512(...Array<Buffer>(16 + (c[0] as number)).fill(s)), s.length);
  for (let i = 0; i < ROUNDS; i++) {
    const h = createHash("sha512");
    h.update(i & 1 ? pSeq : c);
    if (i % 3 !== 0) h.update(sSeq);
    if (i % 7 !== 0) h.update(pSeq);
    h.update(i & 1 ? c : pSeq);
    c = h.digest();
  }
  return `$6$${s.toString("utf8")}$${encode(c)}`;
}
