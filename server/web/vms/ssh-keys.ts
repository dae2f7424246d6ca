/**
 * A member's SSH public keys (issue 12 point 4): one OpenSSH `authorized_keys` line each — type,
 * base64 key, optional comment — parsed the way sshd would read it and refused with a sentence
 * when it is not one: options before the type (`command=…`, `from=…`: a member's own key may not
 * carry them), several lines, a private key pasted by mistake, a blob whose inner type differs from
 * the written one, a truncated blob, RSA under 2048 bits, control characters in the comment. The
 * fingerprint is OpenSSH's (`SHA256:` and the unpadded base64 of the blob's SHA-256), so a member
 * can compare it with `ssh-keygen -lf`.
 */
import { createHash } from "node:crypto";

export class SshKeyError extends Error {
  override name = "SshKeyError";
}

/** Key types a current OpenSSH accepts by default (DSA and RSA-SHA1-only clients are long gone). */
export const SSH_KEY_TYPES = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
] as const;
export type SshKeyType = (typeof SSH_KEY_TYPES)[number];

export type SshPublicKey = {
  type: SshKeyType;
  /** The base64 blob as written (canonical: re-encoded from the bytes). */
  base64: string;
  comment: string;
  /** `SHA256:…`, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  /** RSA modulus size, or the curve's / ed25519's fixed size. */
  bits: number;
  /** The line to write into authorized_keys: `type base64 comment`. */
  line: string;
};

const MAX_LINE = 16 * 1024;
const MAX_COMMENT = 200;

/** Reads SSH wire strings (uint32 length + bytes) from a blob, refusing a truncated one. */
class Reader {
  private at = 0;
  constructor(private readonly bytes: Buffer) {}
  string(): Buffer {
    if (this.at + 4 > this.bytes.length)
      throw new SshKeyError("the key is cut short (its base64 is incomplete)");
    const len = this.bytes.readUInt32BE(this.at);
    this.at += 4;
    if (len > this.bytes.length - this.at)
      throw new SshKeyError("the key is cut short (its base64 is incomplete)");
    const out = this.bytes.subarray(this.at, this.at + len);
    this.at += len;
    return out;
  }
  get done(): boolean {
    return this.at === this.bytes.length;
  }
}

/** Bits of an unsigned big-endian mpint (SSH's encoding: a leading 0 byte keeps it positive). */
function mpintBits(b: Buffer): number {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  if (i === b.length) return 0;
  return (b.length - i - 1) * 8 + (b[i] as number).toString(2).length;
}

export function parseSshPublicKey(input: string): SshPublicKey {
  const text = input.trim();
  if (text === "")
    throw new SshKeyError("paste a public key: one line such as `ssh-ed25519 AAAA… you@laptop`");
  if (text.length > MAX_LINE) throw new SshKeyError("that is too long for a public key (at most 16 KiB)");
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text))
    throw new SshKeyError(
      "that is a private key: paste the public key (the .pub file) and keep the private one secret",
    );
  if (/[\r\n]/.test(text)) throw new SshKeyError("paste one key per entry (that text has several lines)");
  const fields = text.split(/[ \t]+/);
  const [type, base64, ...rest] = fields;
  if (!SSH_KEY_TYPES.includes(type as SshKeyType)) {
    if (fields.some((f) => SSH_KEY_TYPES.includes(f as SshKeyType)))
      throw new SshKeyError(
        "options before the key type (command=, from=, …) are not allowed: paste the key alone",
      );
    throw new SshKeyError(
      `${JSON.stringify((type ?? "").slice(0, 40))} is not a key type zaphod accepts (${SSH_KEY_TYPES.slice(0, 5).join(", ")}, or a security-key type)`,
    );
  }
  if (!base64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0)
    throw new SshKeyError("the key's second part is not base64 (was the line cut or wrapped?)");
  const blob = Buffer.from(base64, "base64");
  const r = new Reader(blob);
  const inner = r.string().toString("latin1");
  if (inner !== type)
    throw new SshKeyError(`the key says ${type} but holds a ${JSON.stringify(inner.slice(0, 40))} key`);
  let bits: number;
  if (type === "ssh-rsa") {
    const e = r.string();
    const n = r.string();
    bits = mpintBits(n);
    if (mpintBits(e) === 0 || bits === 0) throw new SshKeyError("the RSA key is malformed");
    if (bits < 2048)
      throw new SshKeyError(`an RSA key of ${bits} bits is too weak: use 2048 bits or more, or ed25519`);
  } else if (type === "ssh-ed25519" || type === "sk-ssh-ed25519@openssh.com") {
    if (r.string().length !== 32) throw new SshKeyError("the ed25519 key is malformed (not 32 bytes)");
    if (type !== "ssh-ed25519") r.string(); // the security key's application ("ssh:")
    bits = 256;
  } else {
    const curve = r.string().toString("latin1");
    const want = type.includes("nistp256") ? "nistp256" : type.includes("nistp384") ? "nistp384" : "nistp521";
    if (curve !== want)
      throw new SshKeyError(
        `the ECDSA key names the curve ${JSON.stringify(curve.slice(0, 20))}, not ${want}`,
      );
    const point = r.string();
    if (point[0] !== 0x04) throw new SshKeyError("the ECDSA key is malformed (not an uncompressed point)");
    if (type.startsWith("sk-")) r.string();
    bits = want === "nistp256" ? 256 : want === "nistp384" ? 384 : 521;
  }
  if (!r.done) throw new SshKeyError("the key has bytes after its end (two keys run together?)");
  const comment = rest.join(" ");
  if (comment.length > MAX_COMMENT)
    throw new SshKeyError(`the comment is longer than ${MAX_COMMENT} characters`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/.test(comment))
    throw new SshKeyError("the comment holds control or direction characters");
  // The guest's authorized_keys and the seed disk take printable ASCII only (protocol SSH_KEY_LINE).
  if (/[^\x20-\x7e]/.test(comment))
    throw new SshKeyError(
      "the comment (after the key) must be plain ASCII: letters, digits and punctuation; the label can say anything",
    );
  const canonical = blob.toString("base64");
  const fingerprint = `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
  return {
    type: type as SshKeyType,
    base64: canonical,
    comment,
    fingerprint,
    bits,
    line: comment ? `${type} ${canonical} ${comment}` : `${type} ${canonical}`,
  };
}
