import "server-only";
/**
 * Images on every host and cold moves between hosts (issue 13 point 3). The panel carries the
 * bytes: it reads from one agent and writes to the other; the receiver keeps only what has the
 * sender's size and SHA-256 (server/agent/transfer.ts).
 *
 *   await publishImageTo("busybox-1", "local", "host-two")   // same name, bytes and mtime there
 *   await moveVm("cli", "alice", "host-two")                 // stopped; disks copied, checked, switched
 *   await drainHost("cli", "host-two")                       // every VM moved, or listed as blocking
 *
 * A move: the image is published on the target first; the source marks the VM moving (it will not
 * start there) and says each disk's size and SHA-256; the target stages the disks and installs the
 * VM; then the panel switches `Vm.host` (the one step that makes it the target's) and the source's
 * copy is destroyed. Any failure before the switch aborts on both sides and leaves the VM where it
 * was. Its snapshots go with it (each file checked the same way). It gets an address from the new
 * host's pool (each host has its own network; port forwards are a host's and stay behind).
 * The move is a task row of the VM (./move-task.ts): its steps show on the VM's page, and if the
 * process carrying it dies, another instance undoes it (before the switch) or finishes it (after).
 */
import { AGENT_PATHS, TRANSFER_HEADERS } from "../../protocol/agent";
import { AgentCallError } from "../agent/client";
import { getAgent } from "../agent/instance";
import { assertPermission } from "../dal/assert-permission";
import type { Actor, Caller } from "../dal/caller";
import { unsafeListHosts } from "../dal/hosts";
import { recordAuditEvent } from "../dal/record-audit-event";
import { getDb } from "../db/client";
import { newId } from "../db/ids";
import { ActionFailure } from "../errors";
import { formatBytes } from "../snapshots/policy";
import { ensureTaskPipeline, followLocally } from "../tasks/pipeline";
import { unsafePickHost } from "../vms/host-figures";
import { beginMoveTask, endMoveTask, finishSwitchedMove, moveStep } from "./move-task";

export class MoveError extends Error {
  override name = "MoveError";
}

/** Publishes `image` from `from` on `to` (nothing to do when it is there with the same bytes). */
export async function publishImageTo(
  image: string,
  from: string,
  to: string,
): Promise<{ sha256: string; copied: boolean }> {
  const source = getAgent().forHost(from);
  const target = getAgent().forHost(to);
  const sum = await source.call("image.checksum", { name: image }, { timeoutMs: 300_000 });
  const there = (await target.call("image.list", {})).images.find((i) => i.name === image);
  if (there) {
    const theirs = await target.call("image.checksum", { name: image }, { timeoutMs: 300_000 });
    if (theirs.sha256 === sum.sha256 && theirs.mtimeSeconds === sum.mtimeSeconds)
      return { sha256: sum.sha256, copied: false };
    throw new MoveError(`host ${to} has another image named ${image}: images are never replaced`);
  }
  const body = await (await source.client()).download(AGENT_PATHS.image(image));
  await (await target.client()).upload(
    AGENT_PATHS.image(image),
    body,
    {
      [TRANSFER_HEADERS.sha256]: sum.sha256,
      [TRANSFER_HEADERS.size]: String(sum.sizeBytes),
      [TRANSFER_HEADERS.mtimeSeconds]: String(sum.mtimeSeconds),
      [TRANSFER_HEADERS.kind]: sum.kind,
    },
    sum.sizeBytes,
  );
  return { sha256: sum.sha256, copied: true };
}

async function joinedOrLocal(host: string): Promise<void> {
  if (host === "local") return;
  const joined = (await unsafeListHosts()).some((h) => h.name === host && h.state === "joined");
  if (!joined) throw new MoveError(`no joined host ${host}`);
}

/** Moves a stopped VM to `to` (cold). Returns the disks carried and their checksums. */
export async function moveVm(actor: Actor, name: string, to: string) {
  const db = getDb();
  const vm = await db.vm.findUnique({
    where: { name },
    select: { id: true, name: true, host: true, image: true, ownerId: true },
  });
  if (!vm) throw new MoveError(`no VM named ${name}`);
  if (vm.host === to) throw new MoveError(`${name} is on ${to} already`);
  await joinedOrLocal(to);
  const changing = await db.snapshot.count({
    where: { vmId: vm.id, status: { in: ["running", "restoring"] } },
  });
  if (changing > 0)
    throw new MoveError(`a snapshot of ${name} is being taken or restored: try again when it ends`);
  const running = await db.task.findFirst({
    where: { vmId: vm.id, status: "running" },
    select: { kind: true },
  });
  if (running) throw new MoveError(`${name} is busy (${running.kind}): try again when it ends`);
  const source = getAgent().forHost(vm.host);
  const status = await source.call("vm.status", { name });
  if (status.state !== "stopped") throw new MoveError(`${name} is ${status.state}: stop it before moving it`);

  await ensureTaskPipeline(); // the heartbeat: another instance adopts the row if this one dies
  const id = newId();
  const unfollow = followLocally(id);
  try {
    return await carry(actor, vm, to, id);
  } finally {
    unfollow();
  }
}

async function carry(
  actor: Actor,
  vm: { id: string; name: string; host: string; image: string; ownerId: string },
  to: string,
  id: string,
) {
  const { name } = vm;
  const db = getDb();
  const source = getAgent().forHost(vm.host);
  const target = getAgent().forHost(to);
  const started = Date.now();
  const ref = await beginMoveTask(vm, actor, { from: vm.host, to }, id);
  let manifest: Awaited<ReturnType<typeof source.call<"vm.moveOut">>>;
  try {
    const image = await publishImageTo(vm.image, vm.host, to);
    await moveStep(ref, `Image ${vm.image} ${image.copied ? "published on" : "already on"} ${to}.`, 5);
    manifest = await source.call("vm.moveOut", { name }, { timeoutMs: 600_000 });
    await moveStep(ref, `Marked moving on ${vm.host}: it will not start there.`, 10, {
      rateLimitKbit: manifest.config.rateLimitKbit ?? null,
    });
    await target.call("vm.moveIn", {
      name,
      config: manifest.config as never,
      hostKeys: manifest.hostKeys,
      snapshots: manifest.snapshots.map((x) => ({ id: x.id, info: x.info as never })),
    });
    const from = await source.client();
    const into = await target.client();
    const files = [
      ...manifest.disks.map((d) => ({ path: AGENT_PATHS.disk(name, d.disk), label: d.disk, ...d })),
      // Its snapshots go with it (the agent ids are the rows' ids: the rows stay as they are).
      ...manifest.snapshots.flatMap((snap) =>
        snap.files.map((f) => ({
          path: AGENT_PATHS.snapshotFile(name, snap.id, f.file),
          label: `snapshot ${snap.id} ${f.file}`,
          ...f,
        })),
      ),
    ];
    for (const [i, f] of files.entries()) {
      await moveStep(
        ref,
        `Copying ${f.label} (${formatBytes(f.sizeBytes)}) to ${to}…`,
        15 + Math.round((75 * i) / files.length),
      );
      const body = await from.download(f.path);
      await into.upload(
        f.path,
        body,
        { [TRANSFER_HEADERS.sha256]: f.sha256, [TRANSFER_HEADERS.size]: String(f.sizeBytes) },
        f.sizeBytes,
      );
    }
    await target.call("vm.moveCommit", { name }, { timeoutMs: 120_000 });
  } catch (error) {
    await target.call("vm.moveAbort", { name }).catch(() => undefined);
    await source.call("vm.moveAbort", { name }).catch(() => undefined);
    const message = (error as Error).message.slice(0, 300);
    await endMoveTask(ref, "failed", `The move stopped: ${message}. ${name} stays on ${vm.host}.`);
    await recordAuditEvent({
      actor,
      action: "vm.move",
      result: "failure",
      targetUserId: vm.ownerId,
      vmId: vm.id,
      detail: { from: vm.host, to, error: message, taskId: ref.taskId },
    });
    throw error;
  }
  // The switch: from here on the VM is the target's.
  await db.vm.update({ where: { id: vm.id }, data: { host: to, ip: null } });
  await moveStep(ref, `Every file arrived checked; ${name} is now on ${to}.`, 92);
  const data = { from: vm.host, to, rateLimitKbit: manifest.config.rateLimitKbit ?? null };
  const { ip, problems } = await finishSwitchedMove(vm, data);
  const detail = {
    from: vm.host,
    to,
    ip,
    disks: manifest.disks.map((d) => ({ disk: d.disk, sizeBytes: d.sizeBytes, sha256: d.sha256 })),
    snapshots: manifest.snapshots.map((x) => x.id),
    seconds: Math.round((Date.now() - started) / 100) / 10,
    taskId: ref.taskId,
  };
  await endMoveTask(
    ref,
    "succeeded",
    `Moved to ${to} in ${detail.seconds} s${ip ? `; its address there is ${ip}` : ""}${
      problems.length ? `, but ${problems.join("; ")}` : ""
    }.`,
  );
  await recordAuditEvent({
    actor,
    action: "vm.move",
    result: "success",
    targetUserId: vm.ownerId,
    vmId: vm.id,
    detail,
  });
  return detail;
}

/** The admin's move (the VM's manage page): moveVm, its refusals as the page's sentences. */
export async function moveVmFor(caller: Caller, name: string, to: string) {
  assertPermission(caller, "vm.configure");
  try {
    return await moveVm(caller, name, to);
  } catch (error) {
    if (error instanceof MoveError) throw new ActionFailure("conflict", error.message);
    if (error instanceof AgentCallError)
      throw new ActionFailure("conflict", `The move stopped: ${error.message}. The VM stays where it was.`);
    throw error;
  }
}

/**
 * Before maintenance: every VM on `host` is moved to the other host with the most room; a VM that
 * cannot move (running, busy) is listed with why, and stays.
 */
export async function drainHost(actor: Actor, host: string, to?: string) {
  const others = [
    "local",
    ...(await unsafeListHosts()).filter((h) => h.state === "joined").map((h) => h.name),
  ].filter((h) => h !== host);
  if (others.length === 0) throw new MoveError("there is no other host to move VMs to");
  const vms = await getDb().vm.findMany({
    where: { host },
    select: { name: true },
    orderBy: { name: "asc" },
  });
  const moved: { name: string; to: string }[] = [];
  const blocking: { name: string; why: string }[] = [];
  for (const { name } of vms) {
    const dest = to ?? (await unsafePickHost(others));
    try {
      await moveVm(actor, name, dest);
      moved.push({ name, to: dest });
    } catch (error) {
      blocking.push({ name, why: (error as Error).message });
    }
  }
  return { moved, blocking };
}
