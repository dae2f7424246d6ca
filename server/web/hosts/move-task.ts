import "server-only";
/**
 * A cold move as a task row (kind "move"): the panel process that carries the bytes follows it,
 * its steps are the row's log (the VM's page shows them live), and when that process dies mid-move
 * (kill -9, a crash, a host reboot) another instance adopts the row like any task (see
 * ../tasks/pipeline.ts) and settles it here from what the database says:
 *
 *   Vm.host still the source  → the move is undone on both hosts (the target's staging removed, the
 *                               source's moving mark cleared): the VM is where it was, as it was
 *   Vm.host already the target → the switch happened: the old copy is removed and the VM gets its
 *                               address on the new host, as the move itself would have done
 *
 * A host that cannot be reached leaves the row running: the next adoption scan tries again.
 */
import { getAgent } from "../agent/instance";
import type { Actor } from "../dal/caller";
import { unsafeCreateTask, unsafeEndTask, unsafeGetTaskStatus, unsafeUpdateTask } from "../dal/tasks";
import { getDb } from "../db/client";
import { instanceId } from "../instances";
import { publishTask } from "../tasks/agent-tasks";
import { logTask } from "../tasks/records";
import { unsafePushVmAccess } from "../vms/guest-access";
import { getHub } from "../vms/hub";
import { unsafeAssignAddressOnHost } from "../vms/network";

export type MoveRef = { taskId: string; ownerId: string; vm: { id: string; name: string } };

/** What a move's row keeps for whoever settles it (its `data`). */
export type MoveData = { from: string; to: string; rateLimitKbit?: number | null };

export async function beginMoveTask(
  vm: { id: string; name: string; ownerId: string },
  actor: Actor,
  data: MoveData,
  id: string,
): Promise<MoveRef> {
  const taskId = await unsafeCreateTask({
    id,
    vmId: vm.id,
    ownerId: vm.ownerId,
    actorId: typeof actor === "string" ? null : actor.id,
    kind: "move",
    step: `moving to ${data.to}`,
    followerId: instanceId(),
  });
  await unsafeUpdateTask(taskId, { detail: { data } });
  const ref = { taskId, ownerId: vm.ownerId, vm };
  await logTask(ref, `Moving ${vm.name} from host ${data.from} to host ${data.to} (it stays stopped).`);
  return ref;
}

export async function moveStep(
  ref: MoveRef,
  text: string,
  progress: number,
  data?: Partial<MoveData>,
): Promise<void> {
  const before = (await unsafeGetTaskStatus(ref.taskId))?.detail.data ?? {};
  await unsafeUpdateTask(ref.taskId, {
    progress,
    detail: { step: text, ...(data ? { data: { ...before, ...data } } : {}) },
  });
  await logTask(ref, text);
}

export async function endMoveTask(
  ref: MoveRef,
  status: "succeeded" | "failed" | "interrupted",
  text: string,
): Promise<void> {
  const won = await unsafeEndTask(ref.taskId, {
    status,
    error: status === "succeeded" ? null : text,
    detail: { step: status === "succeeded" ? "done" : status },
  });
  if (won) await logTask(ref, text, status === "succeeded" ? "info" : "error");
  else await publishTask(ref.taskId, ref.ownerId);
  getHub().refresh(ref.vm.name);
}

/**
 * After the switch (`Vm.host` is `to`): the old copy goes, the VM's keys are pushed and it gets an
 * address from the new host's pool. Returns the address (null: none) and what did not work.
 */
export async function finishSwitchedMove(
  vm: { id: string; name: string },
  data: MoveData,
): Promise<{ ip: string | null; problems: string[] }> {
  const problems: string[] = [];
  getAgent().forgetVm(vm.name);
  getHub().forgetOwner(vm.name);
  await getAgent()
    .forHost(data.from)
    .run("vm.destroy", { name: vm.name, confirm: vm.name, keepSnapshots: false })
    .catch((error) => {
      if ((error as { code?: unknown }).code === "not-found") return;
      problems.push(`its old copy on ${data.from} was not removed: ${(error as Error).message}`);
    });
  await unsafePushVmAccess(vm.name).catch(() => undefined);
  // An address from the new host's pool (its port forwards stay behind: they are the old host's).
  const ip = await unsafeAssignAddressOnHost(vm, data.to, data.rateLimitKbit ?? null).catch((error) => {
    problems.push(`it has no address on ${data.to}: ${(error as Error).message}`);
    return null;
  });
  for (const p of problems) console.warn(`[hosts] ${vm.name} moved to ${data.to}, but ${p}`);
  return { ip, problems };
}

/** Both hosts forget the move: the target's staging and the source's moving mark go. */
export async function undoMove(name: string, data: MoveData): Promise<void> {
  await getAgent().forHost(data.to).call("vm.moveAbort", { name });
  await getAgent().forHost(data.from).call("vm.moveAbort", { name });
}

/** A move whose process is gone (the row was adopted): undone, or finished after its switch. */
export async function settleAbandonedMove(row: {
  id: string;
  ownerId: string;
  vmId: string | null;
  followerId: string | null;
  data: Partial<MoveData>;
}): Promise<void> {
  const vm = row.vmId
    ? await getDb().vm.findUnique({ where: { id: row.vmId }, select: { id: true, name: true, host: true } })
    : null;
  const { from, to } = row.data;
  const ref: MoveRef = { taskId: row.id, ownerId: row.ownerId, vm: vm ?? { id: "", name: "" } };
  if (!vm || !from || !to) {
    await endMoveTask(ref, "interrupted", "Interrupted: the panel process moving this VM stopped.");
    return;
  }
  const who = row.followerId ?? "the panel process";
  const data: MoveData = { from, to, rateLimitKbit: row.data.rateLimitKbit ?? null };
  try {
    if (vm.host === to) {
      const { ip, problems } = await finishSwitchedMove(vm, data);
      await endMoveTask(
        ref,
        "succeeded",
        `${who} stopped after the switch; ${instanceId()} finished the move: ${vm.name} is on ${to}${
          ip ? ` at ${ip}` : ""
        }${problems.length ? ` (${problems.join("; ")})` : ""}.`,
      );
    } else {
      await undoMove(vm.name, data);
      await endMoveTask(
        ref,
        "interrupted",
        `Interrupted: ${who} stopped while copying; ${instanceId()} undid the move on both hosts. ${vm.name} stays on ${vm.host}, as it was: move it again.`,
      );
    }
  } catch (error) {
    // A host that does not answer: the row stays running and the next adoption scan tries again.
    console.warn(`[hosts] settling the abandoned move of ${vm.name} waits: ${(error as Error).message}`);
  }
}
