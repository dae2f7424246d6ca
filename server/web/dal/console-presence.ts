import "server-only";
/**
 * Console presence shared by the web instances: one row per (instance, VM) with that instance's
 * viewers of the VM, so each instance can show everyone watching. Unscoped by design: the rows are
 * written and read by the console hub itself, never for a caller; what a viewer sees of them is
 * the same `viewers` list it already gets (usernames and roles of the VM's viewers).
 */
import { getDb } from "../db/client";

export type PresenceViewer = { user: string; role: "admin" | "member"; since: string };

export async function unsafeSetPresence(
  instanceId: string,
  vmId: string,
  viewers: PresenceViewer[],
): Promise<void> {
  const db = getDb();
  if (viewers.length === 0) {
    await db.consolePresence.deleteMany({ where: { instanceId, vmId } });
    return;
  }
  const data = { viewers: JSON.stringify(viewers.slice(0, 64)), updatedAt: new Date() };
  await db.consolePresence.upsert({
    where: { instanceId_vmId: { instanceId, vmId } },
    create: { instanceId, vmId, ...data },
    update: data,
  });
}

/** The viewers of a VM on the instances other than `me` that are alive (heartbeat within `ttlMs`). */
export async function unsafeOtherPresence(
  vmId: string,
  me: string,
  ttlMs: number,
): Promise<PresenceViewer[]> {
  const db = getDb();
  const rows = await db.consolePresence.findMany({ where: { vmId, instanceId: { not: me } } });
  if (rows.length === 0) return [];
  const live = await db.webInstance.findMany({
    where: {
      id: { in: rows.map((r) => r.instanceId) },
      heartbeatAt: { gte: new Date(Date.now() - ttlMs) },
    },
    select: { id: true },
  });
  const alive = new Set(live.map((i) => i.id));
  return rows.filter((r) => alive.has(r.instanceId)).flatMap((r) => parseViewers(r.viewers));
}

/** Rows of this instance's previous process (a restart on the same port) go at start. */
export async function unsafeClearPresence(instanceId: string): Promise<void> {
  await getDb().consolePresence.deleteMany({ where: { instanceId } });
}

export async function unsafeUsernameOf(userId: string): Promise<string | null> {
  const row = await getDb().user.findUnique({ where: { id: userId }, select: { username: true } });
  return row?.username ?? null;
}

function parseViewers(text: string): PresenceViewer[] {
  try {
    const list = JSON.parse(text) as unknown;
    if (!Array.isArray(list)) return [];
    return list.filter(
      (v): v is PresenceViewer =>
        !!v &&
        typeof v.user === "string" &&
        (v.role === "admin" || v.role === "member") &&
        typeof v.since === "string",
    );
  } catch {
    return [];
  }
}
