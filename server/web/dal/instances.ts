import "server-only";
/**
 * What several web instances (and CLI runs) share so that exactly one does each thing: their
 * heartbeats (WebInstance rows), who follows a running task (Task.followerId) and the schedules'
 * leases (Lease rows). Unscoped by design: these rows belong to no caller. The rules:
 *
 * - an instance is alive while its row's heartbeat is younger than the TTL it is checked with;
 *   a graceful stop deletes the row, so its tasks are adopted at once;
 * - a running task is followed by its `followerId`; another instance may take it over only when
 *   that follower is not alive, and the take-over is one conditional UPDATE, so of two instances
 *   trying at once exactly one wins;
 * - a lease is held until `expiresAt`; taking it is one conditional UPDATE (or the INSERT of a
 *   name nobody held), so of two instances exactly one holds it at a time.
 */
import { getDb } from "../db/client";
import { assertPermission } from "./assert-permission";
import type { Caller } from "./caller";

export async function unsafeBeat(id: string, kind: "web" | "cli", now = new Date()): Promise<void> {
  await getDb().webInstance.upsert({
    where: { id },
    create: { id, kind, startedAt: now, heartbeatAt: now },
    update: { heartbeatAt: now },
  });
}

export async function unsafeRemoveInstance(id: string): Promise<void> {
  await getDb().webInstance.deleteMany({ where: { id } });
}

/** The instances alive at `now` (heartbeat within `ttlMs`), for the admin's view and tests. */
export async function unsafeLiveInstances(
  ttlMs: number,
  now = new Date(),
): Promise<{ id: string; kind: string; startedAt: Date; heartbeatAt: Date }[]> {
  return getDb().webInstance.findMany({
    where: { heartbeatAt: { gte: new Date(now.getTime() - ttlMs) } },
    orderBy: { startedAt: "asc" },
  });
}

/** The web instances alive now (the host page): admins only. */
export async function listWebInstances(
  caller: Caller,
  ttlMs: number,
): Promise<{ id: string; startedAt: Date; heartbeatAt: Date; following: number }[]> {
  assertPermission(caller, "host.read");
  const live = (await unsafeLiveInstances(ttlMs)).filter((i) => i.kind === "web");
  const counts = await getDb().task.groupBy({
    by: ["followerId"],
    where: { status: { in: ["queued", "running"] }, followerId: { in: live.map((i) => i.id) } },
    _count: { _all: true },
  });
  const following = new Map(counts.map((c) => [c.followerId, c._count._all]));
  return live.map((i) => ({
    id: i.id,
    startedAt: i.startedAt,
    heartbeatAt: i.heartbeatAt,
    following: following.get(i.id) ?? 0,
  }));
}

/**
 * Makes `me` the follower of running task `taskId` unless a live instance already follows it.
 * True when `me` follows it now (also when it already did).
 */
export async function unsafeClaimTask(
  taskId: string,
  me: string,
  ttlMs: number,
  now = new Date(),
): Promise<boolean> {
  const db = getDb();
  const row = await db.task.findUnique({ where: { id: taskId }, select: { followerId: true, status: true } });
  if (!row || (row.status !== "running" && row.status !== "queued")) return false;
  if (row.followerId === me) return true;
  if (row.followerId) {
    const follower = await db.webInstance.findUnique({ where: { id: row.followerId } });
    if (follower && follower.heartbeatAt.getTime() >= now.getTime() - ttlMs) return false;
  }
  const { count } = await db.task.updateMany({
    where: { id: taskId, followerId: row.followerId, status: { in: ["queued", "running"] } },
    data: { followerId: me },
  });
  return count === 1;
}

/** Takes or renews lease `name` for `ttlMs` when it is free, expired or already `holder`'s. */
export async function unsafeAcquireLease(
  name: string,
  holder: string,
  ttlMs: number,
  now = new Date(),
): Promise<boolean> {
  const db = getDb();
  const expiresAt = new Date(now.getTime() + ttlMs);
  const { count } = await db.lease.updateMany({
    where: { name, OR: [{ holder }, { expiresAt: { lt: now } }] },
    data: { holder, expiresAt },
  });
  if (count === 1) return true;
  try {
    await db.lease.create({ data: { name, holder, expiresAt } });
    return true;
  } catch {
    return false; // another holder has it (the row exists and is neither ours nor expired)
  }
}

/** Gives lease `name` up if `holder` has it (a graceful stop: the next instance need not wait). */
export async function unsafeReleaseLease(name: string, holder: string): Promise<void> {
  await getDb().lease.deleteMany({ where: { name, holder } });
}
