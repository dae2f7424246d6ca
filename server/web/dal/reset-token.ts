/**
 * One-time password reset tokens: 32 random bytes (base64url) in the link, only their SHA-256 in
 * the database, so a read of the database does not give working links.
 */
import { createHash, randomBytes } from "node:crypto";

export const RESET_LINK_TTL_MS = 30 * 60 * 1000;

export function newResetToken(): string {
  return randomBytes(32).toString("base64url");
}

export function hashResetToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** Our tokens only (43 base64url characters); anything else is not looked up. */
export function isResetTokenShape(token: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(token);
}

/** The link an admin passes on; `origin` is the panel's first configured origin. */
export function resetLinkFor(origin: string, token: string): string {
  return `${origin.replace(/\/$/, "")}/reset/${token}`;
}
