import "server-only";
import { z } from "zod";
import { hashPassword, needsRehash, verifyDummyPassword, verifyPassword } from "../auth/password";
import { checkRateLimit, clearRateLimit, hitRateLimit, retryMinutes, SIGNIN_RULES } from "../auth/rate-limit";
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
 * passwords take the same path and the same time; failures are limited per account name and per
 * address (SIGNIN_RULES) and aggregated in the audit log.
 */
export async function authenticateCredentials(raw: unknown, meta: RequestMeta): Promise<SignInOutcome> {
  const parsed = SignInInput.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: "bad-credentials" };
  const db = getDb();
  const identifier = parsed.data.identifier.normalize("NFKC").toLowerCase();
  const { password } = parsed.data;
  const accountKey = `signin:account:${identifier}`;
  const addressKey = `signin:address:${meta.ip}`;

  for (const [key, rule] of [
    [accountKey, SIGNIN_RULES.account],
    [addressKey, SIGNIN_RULES.address],
  ] as const) {
    const c = await checkRateLimit(db, key, rule);
    if (c.limited) {
      await recordSignInFailure({ identifier, targetUserId: null, reason: "rate-limited", meta });
      return { ok: false, reason: "rate-limited", retryAfterMinutes: retryMinutes(c.retryAfterMs) };
    }
  }

  const user = await db.user.findFirst({
    where: identifier.includes("@") ? { email: identifier } : { username: identifier },
    select: { id: true, username: true, passwordHash: true, status: true, sessionVersion: true },
  });
  const good = user ? await verifyPassword(user.passwordHash, password) : await verifyDummyPassword(password);
  if (!user || !good) {
    await hitRateLimit(db, accountKey, SIGNIN_RULES.account);
    await hitRateLimit(db, addressKey, SIGNIN_RULES.address);
    await recordSignInFailure({
      identifier,
      targetUserId: user?.id ?? null,
      reason: "bad-credentials",
      meta,
    });
    return { ok: false, reason: "bad-credentials" };
  }

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
