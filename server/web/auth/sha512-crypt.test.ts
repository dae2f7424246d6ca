// Against OpenSSL's implementation (`openssl passwd -6`) and the published test vectors.
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { sha512Crypt } from "./sha512-crypt";

describe("SHA-512 crypt", () => {
  it("matches Drepper's reference vector", () => {
    // From the specification ("Unix crypt using SHA-256 and SHA-512"), the default-rounds case.
    expect(sha512Crypt("Hello world!", "saltstring")).toBe(
      "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
    );
  });

  it("matches openssl passwd -6 for passwords of every length class, and unicode", () => {
    for (const [password, salt] of [
      ["0123456789", "abcdefgh"],
      ["x", "Zz09./Zz09./Zz09"],
      ["correct horse battery staple", "q1w2e3r4"],
      ["a".repeat(64), "s"],
      ["b".repeat(130), "longsaltlongsalt"],
      ["pässwörd✓", "unicode1"],
    ] as const) {
      const want = execFileSync("openssl", ["passwd", "-6", "-salt", salt, "-stdin"], {
        input: `${password}\n`,
        encoding: "utf8",
      }).trim();
      expect(sha512Crypt(password, salt), `${password.slice(0, 10)}/${salt}`).toBe(want);
    }
  });

  it("salts with 16 random characters", () => {
    const a = sha512Crypt("same");
    const b = sha512Crypt("same");
    expect(a).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
    expect(a).not.toBe(b);
  });
});
