import { describe, expect, it } from "vitest";
import { STANDING_COOKIE_TTL_MS, signStanding, standingCookieName, verifyStanding } from "./standing-cookie";

const secret = "s".repeat(32);
const uid = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";

describe("standing cookie", () => {
  it("round-trips the user id until it expires", () => {
    const now = 1_700_000_000_000;
    const v = signStanding(secret, uid, now);
    expect(verifyStanding(secret, v, now)).toBe(uid);
    expect(verifyStanding(secret, v, now + STANDING_COOKIE_TTL_MS - 1)).toBe(uid);
    expect(verifyStanding(secret, v, now + STANDING_COOKIE_TTL_MS + 1)).toBeNull();
  });

  it("refuses another secret, a changed id or expiry, and garbage", () => {
    const now = Date.now();
    const v = signStanding(secret, uid, now);
    const [, exp, sig] = v.split(".");
    expect(verifyStanding("t".repeat(32), v, now)).toBeNull();
    expect(verifyStanding(secret, `2b4e28ba-2fa1-41d2-883f-0016d3cca427.${exp}.${sig}`, now)).toBeNull();
    expect(verifyStanding(secret, `${uid}.${Number(exp) + 1}.${sig}`, now)).toBeNull();
    for (const bad of [undefined, "", "x", "a.b", "a.b.c.d", `${uid}.${exp}.`])
      expect(verifyStanding(secret, bad, now)).toBeNull();
  });

  it("uses a __Host- name over https only", () => {
    expect(standingCookieName(true)).toBe("__Host-zaphod-standing");
    expect(standingCookieName(false)).toBe("zaphod-standing");
  });
});
