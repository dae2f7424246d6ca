import "server-only";
import { getDb } from "../db/client";
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

export async function recordAuditEvent(e: AuditInput): Promise<void> {
  const detail = { ...e.detail };
  // The VM's name is kept in the event itself, so the log still names it once the VM is destroyed.
  if (e.vmId && typeof detail.vm !== "string") {
    const vm = await getDb().vm.findUnique({ where: { id: e.vmId }, select: { name: true } });
    if (vm) detail.vm = vm.name;
  }
  await getDb().auditEvent.create({
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
