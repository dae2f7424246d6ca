import "server-only";
import type { Permission } from "../auth/permissions";
import { getDb } from "../db/client";
import type { AuditAction, UserStatus } from "../domain";
import { ActionFailure } from "../errors";
import type { RequestMeta } from "../request-meta";
import { announceSessionsEnded } from "../session-events";
import { assertPermission } from "./assert-permission";
import type { Actor, Caller } from "./caller";
import { recordAuditEvent } from "./record-audit-event";

export type AccountChange = "approve" | "reject" | "suspend" | "reactivate";

/** Reject and suspend take an optional reason, shown to the member on their account-status page. */
export const STATUS_REASON_MAX = 500;

const TRANSITIONS: Record<
  AccountChange,
  { from: UserStatus; to: UserStatus; permission: Permission; audit: AuditAction; endSessions: boolean }
> = {
  approve: {
    from: "pending",
    to: "active",
    permission: "accounts.approve",
    audit: "account.approve",
    endSessions: false,
  },
  reject: {
    from: "pending",
    to: "rejected",
    permission: "accounts.approve",
    audit: "account.reject",
    endSessions: true,
  },
  suspend: {
    from: "active",
    to: "suspended",
    permission: "accounts.suspend",
    audit: "account.suspend",
    endSessions: true,
  },
  reactivate: {
    from: "suspended",
    to: "active",
    permission: "accounts.suspend",
    audit: "account.reactivate",
    endSessions: false,
  },
};

/**
 * Moves an account along approve/reject (pending) or suspend/reactivate (members). Suspending and
 * rejecting bump the session version, so the user's next request has no session, and say that
 * the user's sessions ended (../session-events.ts): their open consoles and event streams close.
 */
export async function changeAccountStatus(
  caller: Caller,
  input: { userId: string; change: AccountChange; reason?: string },
  meta: RequestMeta,
): Promise<{ status: UserStatus }> {
  const t = TRANSITIONS[input.change];
  assertPermission(caller, t.permission);
  return unsafeChangeAccountStatus(caller, input, meta);
}

/**
 * Skips the permission check: for the host CLI (whoever runs it already controls the host) and for
 * changeAccountStatus after its check.
 */
export async function unsafeChangeAccountStatus(
  actor: Actor,
  input: { userId: string; change: AccountChange; reason?: string },
  meta: RequestMeta,
): Promise<{ status: UserStatus }> {
  const t = TRANSITIONS[input.change];
  const reason =
    input.change === "reject" || input.change === "suspend"
      ? (input.reason ?? "").trim().slice(0, STATUS_REASON_MAX)
      : "";
  const db = getDb();
  const target = await db.user.findUnique({
    where: { id: input.userId },
    select: { id: true, role: true, username: true },
  });
  if (!target) throw new ActionFailure("not-found", "No such account.");
  if (typeof actor !== "string" && target.id === actor.id)
    throw new ActionFailure("forbidden", "You cannot change your own account.");
  if ((input.change === "suspend" || input.change === "reactivate") && target.role !== "member")
    throw new ActionFailure("forbidden", "Only member accounts can be suspended here.");
  // Conditional update: only from the expected state, so two admins clicking at once cannot both win.
  // The change and its audit record are one transaction: a crash between them must not leave an
  // approval (or a suspension) that the audit log does not show (crash-safety.itest.ts).
  await db.$transaction(async (tx) => {
    const updated = await tx.user.updateMany({
      where: { id: target.id, status: t.from },
      data: {
        status: t.to,
        ...(t.endSessions ? { sessionVersion: { increment: 1 } } : {}),
        statusReason: reason,
        statusChangedById: typeof actor === "string" ? null : actor.id,
        ...(input.change === "approve"
          ? { approvedById: typeof actor === "string" ? null : actor.id, approvedAt: new Date() }
          : {}),
      },
    });
    if (updated.count === 0)
      throw new ActionFailure("conflict", `This account is no longer ${t.from}; reload the page.`);
    await recordAuditEvent(
      {
        actor,
        action: t.audit,
        result: "success",
        targetUserId: target.id,
        meta,
        detail: { username: target.username, from: t.from, to: t.to, ...(reason ? { reason } : {}) },
      },
      tx,
    );
  });
  // Said once it is committed; in this process the user's consoles and event streams listen and
  // close now. Elsewhere (another web process, after the CLI) their 5 s access re-check closes them.
  if (t.endSessions) announceSessionsEnded(target.id);
  return { status: t.to };
}
