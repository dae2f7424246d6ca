import "server-only";
import { getDb } from "../db/client";
import { newId } from "../db/ids";
import type { RequestMeta } from "../request-meta";

/** Failed sign-ins are aggregated: one row per account name + address per window, with a count. */
export const SIGNIN_FAILURE_WINDOW_MS = 15 * 60_000;

export async function recordSignInFailure(input: {
  identifier: string;
  targetUserId: string | null;
  reason: "bad-credentials" | "rate-limited";
  meta: RequestMeta;
  now?: Date;
}): Promise<void> {
  const db = getDb();
  const now = input.now ?? new Date();
  const detail = JSON.stringify({ identifier: input.identifier.slice(0, 254), reason: input.reason });
  const bumped = await db.auditEvent.updateMany({
    where: {
      action: "signin.failure",
      ip: input.meta.ip,
      detail,
      createdAt: { gt: new Date(now.getTime() - SIGNIN_FAILURE_WINDOW_MS) },
    },
    data: { count: { increment: 1 } },
  });
  if (bumped.count > 0) return;
  await db.auditEvent.create({
    data: {
      id: newId(),
      actorId: null,
      actorLabel: "anonymous",
      action: "signin.failure",
      result: "failure",
      targetUserId: input.targetUserId,
      ip: input.meta.ip,
      userAgent: input.meta.userAgent,
      detail,
      createdAt: now,
    },
  });
}
