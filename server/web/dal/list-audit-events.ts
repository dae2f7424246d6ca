import "server-only";
import { getDb } from "../db/client";
import { AuditAction } from "../domain";
import { assertPermission } from "./assert-permission";
import type { Caller } from "./caller";

export const AUDIT_PAGE_SIZE = 50;

export type AuditRow = {
  id: string;
  createdAt: Date;
  updatedAt: Date;
  actorLabel: string;
  action: string;
  targetUsername: string | null;
  /** The VM the action touched: from the row's link, or the name recorded when it was destroyed. */
  vmName: string | null;
  /** The VM no longer exists (the name comes from the event's detail). */
  vmGone: boolean;
  ip: string;
  result: string;
  count: number;
  detail: Record<string, unknown>;
};

/** The whole audit log for admins, newest first, optionally one action, paginated. */
export async function listAuditEvents(
  caller: Caller,
  query: { action?: AuditAction; page: number },
): Promise<{ rows: AuditRow[]; page: number; pages: number; total: number }> {
  assertPermission(caller, "audit.read");
  const db = getDb();
  const where = query.action ? { action: query.action } : {};
  const total = await db.auditEvent.count({ where });
  const pages = Math.max(1, Math.ceil(total / AUDIT_PAGE_SIZE));
  const page = Math.min(Math.max(1, query.page), pages);
  const rows = await db.auditEvent.findMany({
    where,
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    skip: (page - 1) * AUDIT_PAGE_SIZE,
    take: AUDIT_PAGE_SIZE,
    select: {
      id: true,
      createdAt: true,
      updatedAt: true,
      actorLabel: true,
      action: true,
      ip: true,
      result: true,
      count: true,
      detail: true,
      targetUser: { select: { username: true } },
      vm: { select: { name: true } },
    },
  });
  return {
    page,
    pages,
    total,
    rows: rows.map((r) => {
      const detail = safeJson(r.detail);
      const recorded = typeof detail.vm === "string" ? detail.vm : null;
      return {
        id: r.id,
        createdAt: r.createdAt,
        updatedAt: r.updatedAt,
        actorLabel: r.actorLabel,
        action: r.action,
        targetUsername: r.targetUser?.username ?? null,
        vmName: r.vm?.name ?? recorded,
        vmGone: !r.vm && recorded !== null,
        ip: r.ip,
        result: r.result,
        count: r.count,
        detail,
      };
    }),
  };
}

function safeJson(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text);
    return v && typeof v === "object" ? v : {};
  } catch {
    return {};
  }
}

export { AuditAction };
