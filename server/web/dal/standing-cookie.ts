/**
 * A short-lived, signed note "this browser just proved it knows the password of account X, which
 * is suspended or rejected", so /account-status can say why and whom to ask without a session.
 * Value: `<userId>.<expiresAtMs>.<HMAC-SHA256 of both, base64url>`. It grants nothing else.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const STANDING_COOKIE_TTL_MS = 15 * 60 * 1000;

export function standingCookieName(secure: boolean): string {
  // __Host-: Secure, Path=/, no Domain; only over https.
  return secure ? "__Host-zaphod-standing" : "zaphod-standing";
}

function mac(secret: string, payload: string): string {
  return createHmac("sha256", `zaphod-standing:${secret}`).update(payload).digest("base64url");
}

export function signStanding(secret: string, userId: string, now = Date.now()): string {
  const payload = `${userId}.${now + STANDING_COOKIE_TTL_MS}`;
  return `${payload}.${mac(secret, payload)}`;
}

/** The user id, when the value is ours, untampered and not expired. */
export function verifyStanding(secret: string, value: string | undefined, now = Date.now()): string | null {
  if (!value) return null;
  const parts = value.split(".");
  if (parts.length !== 3) return null;
  const [userId, exp, sig] = parts as [string, string, string];
  const expected = Buffer.from(mac(secret, `${userId}.${exp}`));
  const given = Buffer.from(sig);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  if (!/^\d+$/.test(exp) || Number(exp) < now) return null;
  return userId;
}
