import "server-only";
import { z } from "zod";
import { hashPassword } from "../auth/password";
import { retryMinutes, SIGNUP_RULES, takeRateLimit } from "../auth/rate-limit";
import { getDb } from "../db/client";
import { newId } from "../db/ids";
import { Email, FullName, Password, PlainText, Username } from "../domain";
import { ActionFailure } from "../errors";
import type { RequestMeta } from "../request-meta";
import { recordAuditEvent } from "./record-audit-event";

export const AccountRequestInput = z.object({
  username: Username,
  email: Email,
  name: FullName,
  password: Password,
  note: PlainText(1000, { multiline: true }).default(""),
});
export type AccountRequestInput = z.output<typeof AccountRequestInput>;

/**
 * Anyone may ask for an account; it starts pending until an admin approves it. Limited per address
 * and in total (SIGNUP_RULES: each request costs a password hash). A taken username says so; a
 * taken email gets the same answer as a new request, so the form cannot tell whether an address
 * is registered (the attempt is audited for the admins).
 */
export async function requestAccount(
  raw: z.input<typeof AccountRequestInput>,
  meta: RequestMeta,
): Promise<{ username: string }> {
  const input = AccountRequestInput.parse(raw); // normalizes (email case, NFKC) even when called directly
  const db = getDb();
  for (const [key, rule] of [
    [`signup:address:${meta.ip}`, SIGNUP_RULES.address],
    ["signup:total", SIGNUP_RULES.total],
  ] as const) {
    const check = await takeRateLimit(db, key, rule);
    if (check.limited) {
      const n = retryMinutes(check.retryAfterMs);
      throw new ActionFailure(
        "rate-limited",
        `Too many account requests. Try again in ${n} minute${n === 1 ? "" : "s"}.`,
      );
    }
  }
  const usernameTaken = await db.user.findUnique({
    where: { username: input.username },
    select: { id: true },
  });
  if (usernameTaken)
    throw new ActionFailure("conflict", "Please check the highlighted fields.", {
      username: "This username is taken",
    });
  const emailOwner = await db.user.findUnique({ where: { email: input.email }, select: { id: true } });
  const id = newId();
  // Hashed either way, so a taken email answers in the same time as a new request.
  const passwordHash = await hashPassword(input.password);
  if (emailOwner) {
    await recordAuditEvent({
      actor: "anonymous",
      action: "account.request",
      result: "denied",
      targetUserId: emailOwner.id,
      meta,
      detail: { username: input.username, reason: "email-registered" },
    });
    return { username: input.username };
  }
  try {
    await db.user.create({
      data: {
        id,
        username: input.username,
        email: input.email,
        name: input.name,
        passwordHash,
        role: "member",
        status: "pending",
        requestNote: input.note,
      },
    });
  } catch {
    // A concurrent request won the unique index: for the username say so; for the email, as above.
    if (await db.user.findUnique({ where: { username: input.username }, select: { id: true } }))
      throw new ActionFailure("conflict", "Please check the highlighted fields.", {
        username: "This username was just taken",
      });
    return { username: input.username };
  }
  await recordAuditEvent({
    actor: "anonymous",
    action: "account.request",
    result: "success",
    targetUserId: id,
    meta,
    detail: { username: input.username },
  });
  return { username: input.username };
}
