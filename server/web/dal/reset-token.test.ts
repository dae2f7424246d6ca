import { describe, expect, it } from "vitest";
import { hashResetToken, isResetTokenShape, newResetToken, resetLinkFor } from "./reset-token";

describe("reset tokens", () => {
  it("are 256 random bits, url-safe, different every time", () => {
    const a = newResetToken();
    const b = newResetToken();
    expect(a).not.toBe(b);
    expect(isResetTokenShape(a)).toBe(true);
    expect(Buffer.from(a, "base64url")).toHaveLength(32);
  });

  it("are stored as a SHA-256 that does not contain the token", () => {
    const t = newResetToken();
    const h = hashResetToken(t);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(h).not.toContain(t);
    expect(hashResetToken(t)).toBe(h);
  });

  it("refuses other shapes before any lookup", () => {
    for (const bad of ["", "short", `${"a".repeat(43)}=`, "a".repeat(44), `${"a".repeat(42)}/`])
      expect(isResetTokenShape(bad)).toBe(false);
  });

  it("builds the link on the panel's origin", () => {
    expect(resetLinkFor("https://panel.example.org", "tok")).toBe("https://panel.example.org/reset/tok");
    expect(resetLinkFor("http://127.0.0.1:3000/", "tok")).toBe("http://127.0.0.1:3000/reset/tok");
  });
});
