import "server-only";
import { z } from "zod";
import { hashPassword } from "../auth/password";
import { getDb } from "../db/client";
import { newId } from "../db/ids";
import { Password } from "../domain";
import { getEnv } from "../env";
import { ActionFailure } from "../errors";
import type { RequestMeta } from "../request-meta";
import { assertPermission } from "./assert-permission";
import type { Actor, Caller } from "./caller";
import { recordAuditEvent } from "./record-audit-event";
import {
  hashResetToken,
  isResetTokenShape,
  newResetToken,
  RESET_LINK_TTL_MS,
  resetLinkFor,
} from "./reset-token";

export type IssuedResetLink = { username: string; link: string; expiresAt: Date };

/** An admin issues a one-time link for a member who forgot their password. */
export async function issuePasswordResetLink(
  caller: Caller,
  input: { userId: string },
  meta: RequestMeta,
): Promise<IssuedResetLink> {
  assertPermission(caller, "accounts.reset");
  return unsafeIssuePasswordResetLink(caller, input, meta);
}

/**
 * Skips the permission check: for the host CLI (`zaphod reset-link`) and issuePasswordResetLink
 * after its check. Earlier unused links of the account stop working: only the newest one counts.
 */
export async function unsafeIssuePasswordResetLink(
  actor: Actor,
  input: { userId: string },
  meta: RequestMeta,
): Promise<IssuedResetLink> {
  const db = getDb();
  const user = await db.user.findUnique({
    where: { id: input.userId },
    select: { id: true, username: true, status: true },
  });
  if (!user) throw new ActionFailure("not-found", "No such account.");
  if (user.status !== "active")
    throw new ActionFailure(
      "conflict",
      `${user.username} is ${user.status}: only active accounts get a reset link.`,
    );
  const token = newResetToken();
  const expiresAt = new Date(Date.now() + RESET_LINK_TTL_MS);
  await db.$transaction([
    db.passwordReset.deleteMany({ where: { userId: user.id, usedAt: null } }),
    db.passwordReset.create({
      data: {
        id: newId(),
        tokenHash: hashResetToken(token),
        userId: user.id,
        createdById: typeof actor === "string" ? null : actor.id,
        expiresAt,
      },
    }),
  ]);
  await recordAuditEvent({
    actor,
    action: "account.reset_link",
    result: "success",
    targetUserId: user.id,
    meta,
    detail: { username: user.username, expiresAt: expiresAt.toISOString() },
  });
  return { username: user.username, link: resetLinkFor(getEnv().origins[0] ?? "", token), expiresAt };
}

const INVALID_LINK = "This link has expired or was already used. Ask the admin for a new one.";

/** For the /reset page: whose link this is, while it still works. */
export async function findUsablePasswordReset(
  token: string,
): Promise<{ username: string; name: string } | null> {
  if (!isResetTokenShape(token)) return null;
  const row = await getDb().passwordReset.findUnique({
    where: { tokenHash: hashResetToken(token) },
    select: { usedAt: true, expiresAt: true, user: { select: { username: true, name: true, status: true } } },
  });
  if (!row || row.usedAt || row.expiresAt <= new Date() || row.user.status !== "active") return null;
  return { username: row.user.username, name: row.user.name };
}

export const ResetPasswordInput = z
  .object({ token: z.string().max(100), password: Password, confirm: z.string().max(256) })
  .refine((v) => v.password === v.confirm, { path: ["confirm"], message: "The two passwords differ" });

/** Sets a new password through a link: once, before it expires; every session of the account ends. */
export async function resetPasswordWithToken(
  input: z.output<typeof ResetPasswordInput>,
  meta: RequestMeta,
): Promise<{ username: string }> {
  if (!isResetTokenShape(input.token)) throw new ActionFailure("not-found", INVALID_LINK);
  const db = getDb();
  const tokenHash = hashResetToken(input.token);
  const row = await db.passwordReset.findUnique({
    where: { tokenHash },
    select: { id: true, userId: true, user: { select: { username: true, email: true, status: true } } },
  });
  if (row?.user.status !== "active") throw new ActionFailure("not-found", INVALID_LINK);
  const passwordHash = await hashPassword(input.password);
  // Conditional: of two submits of one link, only one wins.
  const claimed = await db.passwordReset.updateMany({
    where: { id: row.id, usedAt: null, expiresAt: { gt: new Date() } },
    data: { usedAt: new Date() },
  });
  if (claimed.count === 0) throw new ActionFailure("not-found", INVALID_LINK);
  await db.user.update({
    where: { id: row.userId },
    data: { passwordHash, sessionVersion: { increment: 1 } },
  });
  await db.rateLimit.deleteMany({
    where: {
      key: {
        in: [
          `signin:account:${row.user.username}`,
          `signin:account:${row.user.email}`,
          `password:account:${row.userId}`,
        ],
      },
    },
  });
  await recordAuditEvent({
    actor: "anonymous",
    action: "account.password_reset",
    result: "success",
    targetUserId: row.userId,
    meta,
    detail: { username: row.user.username },
  });
  return { username: row.user.username };
}
