import "server-only";
import { type Db, getDb } from "../db/client";
import { newId } from "../db/ids";
import type { AuditAction, AuditResult } from "../domain";
import type { RequestMeta } from "../request-meta";
import type { Actor } from "./caller";

export type AuditInput = {
  actor: Actor;
  action: AuditAction;
  result: AuditResult;
  targetUserId?: string | null;
  vmId?: string | null;
  meta?: RequestMeta;
  /** Never secrets: no passwords, tokens or cookies. */
  detail?: Record<string, unknown>;
};

export function actorFields(actor: Actor) {
  return typeof actor === "string"
    ? { actorId: null, actorLabel: actor }
    : { actorId: actor.id, actorLabel: actor.username };
}

/** The client an audit record is written with: the process's, or a transaction's (so that the
 * change and its record commit together: crash-safety.itest.ts kills a writer between them). */
export type AuditDb = Pick<Db, "vm" | "auditEvent">;

export async function recordAuditEvent(e: AuditInput, db: AuditDb = getDb()): Promise<void> {
  const detail = { ...e.detail };
  // The VM's name is kept in the event itself, so the log still names it once the VM is destroyed.
  if (e.vmId && typeof detail.vm !== "string") {
    const vm = await db.vm.findUnique({ where: { id: e.vmId }, select: { name: true } });
    if (vm) detail.vm = vm.name;
  }
  await db.auditEvent.create({
    data: {
      id: newId(),
      ...actorFields(e.actor),
      action: e.action,
      result: e.result,
      targetUserId: e.targetUserId ?? null,
      vmId: e.vmId ?? null,
      ip: e.meta?.ip ?? "",
      userAgent: e.meta?.userAgent ?? null,
      detail: JSON.stringify(detail),
    },
  });
}
