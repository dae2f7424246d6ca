import "server-only";
import { z } from "zod";
import { hashPassword, verifyPassword } from "../auth/password";
import { checkRateLimit, clearRateLimit, hitRateLimit, retryMinutes, SIGNIN_RULES } from "../auth/rate-limit";
import { getDb } from "../db/client";
import { Password } from "../domain";
import { ActionFailure } from "../errors";
import type { RequestMeta } from "../request-meta";
import { assertPermission } from "./assert-permission";
import type { Caller } from "./caller";
import { recordAuditEvent } from "./record-audit-event";

export const ChangePasswordInput = z
  .object({
    current: z.string().min(1, "Enter your current password").max(256),
    next: Password,
    confirm: z.string().max(256),
  })
  .refine((v) => v.next === v.confirm, { path: ["confirm"], message: "The two new passwords differ" })
  .refine((v) => v.next !== v.current, { path: ["next"], message: "Choose a password you do not use now" });

/**
 * The caller changes their own password. The current one is required (a borrowed, unlocked browser
 * cannot take the account over) and wrong guesses count against the sign-in limit of the account.
 * Bumps the session version: every session ends, the caller's own one is re-issued by the action.
 */
export async function changeOwnPassword(
  caller: Caller,
  input: z.output<typeof ChangePasswordInput>,
  meta: RequestMeta,
): Promise<{ username: string }> {
  assertPermission(caller, "account.password");
  const db = getDb();
  const key = `password:account:${caller.id}`;
  const limit = await checkRateLimit(db, key, SIGNIN_RULES.account);
  if (limit.limited)
    throw new ActionFailure(
      "rate-limited",
      `Too many wrong passwords. Try again in ${retryMinutes(limit.retryAfterMs)} minutes.`,
    );
  const row = await db.user.findUnique({ where: { id: caller.id }, select: { passwordHash: true } });
  if (!row) throw new ActionFailure("unauthorized", "Please sign in.");
  if (!(await verifyPassword(row.passwordHash, input.current))) {
    await hitRateLimit(db, key, SIGNIN_RULES.account);
    await recordAuditEvent({
      actor: caller,
      action: "account.password_change",
      result: "failure",
      targetUserId: caller.id,
      meta,
      detail: { reason: "wrong current password" },
    });
    throw new ActionFailure("invalid", "Please check the highlighted fields.", {
      current: "This is not your current password",
    });
  }
  await clearRateLimit(db, key);
  await db.user.update({
    where: { id: caller.id },
    data: { passwordHash: await hashPassword(input.next), sessionVersion: { increment: 1 } },
  });
  await recordAuditEvent({
    actor: caller,
    action: "account.password_change",
    result: "success",
    targetUserId: caller.id,
    meta,
  });
  return { username: caller.username };
}
