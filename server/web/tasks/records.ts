import "server-only";
/** The pipeline's records: audit events about a VM, task log lines pushed to the browser. */
import type { Actor, Caller } from "../dal/caller";
import { recordAuditEvent } from "../dal/record-audit-event";
import { unsafeAppendTaskLog } from "../dal/tasks";
import type { AuditAction } from "../domain";
import type { RequestMeta } from "../request-meta";
import { publishTask } from "./agent-tasks";
import type { TaskRef } from "./task-kind";

/** A signed-in caller as the audit log and the agent name them. */
export function actorOf(caller: Pick<Caller, "id" | "username">): Actor {
  return { id: caller.id, username: caller.username };
}

export function actorLabel(actor: Actor): string {
  return typeof actor === "string" ? (actor === "cli" ? "The host CLI" : "The system") : actor.username;
}

export async function auditVm(
  actor: Actor,
  action: AuditAction,
  vm: TaskRef["vm"],
  result: "success" | "failure" | "denied",
  meta: RequestMeta | undefined,
  detail: Record<string, unknown>,
): Promise<void> {
  await recordAuditEvent({
    actor,
    action,
    result,
    vmId: vm.id,
    targetUserId: vm.ownerId,
    meta,
    detail: { vm: vm.name, ...detail },
  });
}

export async function logTask(
  ref: Pick<TaskRef, "taskId" | "ownerId">,
  message: string,
  level: "info" | "warn" | "error" = "info",
): Promise<void> {
  await unsafeAppendTaskLog(ref.taskId, message, level);
  await publishTask(ref.taskId, ref.ownerId);
}
