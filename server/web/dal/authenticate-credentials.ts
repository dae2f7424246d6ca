import "server-only";
import { z } from "zod";
import { hashPassword, needsRehash, verifyDummyPassword, verifyPassword } from "../auth/password";
import {
  checkRateLimit,
  clearRateLimit,
  retryMinutes,
  SIGNIN_RULES,
  takeRateLimit,
  unhitRateLimit,
} from "../auth/rate-limit";
import { getDb } from "../db/client";
import { UserStatus } from "../domain";
import type { RequestMeta } from "../request-meta";
import { recordAuditEvent } from "./record-audit-event";
import { recordSignInFailure } from "./record-sign-in-failure";

export const SignInInput = z.object({
  identifier: z.string().trim().min(1, "Enter your username or email").max(254),
  password: z.string().min(1, "Enter your password").max(256),
});

export type SignInOutcome =
  | { ok: true; user: { id: string; sessionVersion: number; status: UserStatus } }
  | { ok: false; reason: "bad-credentials" }
  | { ok: false; reason: "rate-limited"; retryAfterMinutes: number }
  | { ok: false; reason: "refused"; status: "suspended" | "rejected" };

/**
 * Checks a username-or-email and password before any session exists. Unknown accounts and wrong
 * passwords take the same path and the same time; password checks are limited per account (its
 * username and email together) and failures per address (SIGNIN_RULES), counted before the check
 * so parallel attempts cannot overrun them, and aggregated in the audit log.
 */
export async function authenticateCredentials(raw: unknown, meta: RequestMeta): Promise<SignInOutcome> {
  const parsed = SignInInput.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: "bad-credentials" };
  const db = getDb();
  const identifier = parsed.data.identifier.normalize("NFKC").toLowerCase();
  const { password } = parsed.data;
  const addressKey = `signin:address:${meta.ip}`;

  const user = await db.user.findFirst({
    where: identifier.includes("@") ? { email: identifier } : { username: identifier },
    select: { id: true, username: true, passwordHash: true, status: true, sessionVersion: true },
  });
  // One account, one budget: its username and its email count together (by its id). A name that
  // matches no account has its own budget, so guessing names is limited too.
  const accountKey = user ? `signin:user:${user.id}` : `signin:account:${identifier}`;

  // Counted before the password is checked: 50 parallel attempts get at most `limit` checks.
  const accountCheck = await takeRateLimit(db, accountKey, SIGNIN_RULES.account);
  const addressCheck = accountCheck.limited
    ? await checkRateLimit(db, addressKey, SIGNIN_RULES.address)
    : await takeRateLimit(db, addressKey, SIGNIN_RULES.address);
  const limited = accountCheck.limited ? accountCheck : addressCheck.limited ? addressCheck : null;
  if (limited) {
    await recordSignInFailure({ identifier, targetUserId: null, reason: "rate-limited", meta });
    return { ok: false, reason: "rate-limited", retryAfterMinutes: retryMinutes(limited.retryAfterMs) };
  }

  const good = user ? await verifyPassword(user.passwordHash, password) : await verifyDummyPassword(password);
  if (!user || !good) {
    await recordSignInFailure({
      identifier,
      targetUserId: user?.id ?? null,
      reason: "bad-credentials",
      meta,
    });
    return { ok: false, reason: "bad-credentials" };
  }
  // A right password is no failure of this address.
  await unhitRateLimit(db, addressKey);

  const status = UserStatus.parse(user.status);
  if (status === "suspended" || status === "rejected") {
    await recordAuditEvent({
      actor: "anonymous",
      action: "signin.refused",
      result: "denied",
      targetUserId: user.id,
      meta,
      detail: { status },
    });
    return { ok: false, reason: "refused", status };
  }

  await clearRateLimit(db, accountKey);
  await db.user.update({
    where: { id: user.id },
    data: {
      lastSignInAt: new Date(),
      ...(needsRehash(user.passwordHash) ? { passwordHash: await hashPassword(password) } : {}),
    },
  });
  await recordAuditEvent({
    actor: user,
    action: "signin.success",
    result: "success",
    targetUserId: user.id,
    meta,
    detail: { status },
  });
  return { ok: true, user: { id: user.id, sessionVersion: user.sessionVersion, status } };
}
