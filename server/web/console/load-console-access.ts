import "server-only";
import { can } from "../auth/permissions";
import { getDb } from "../db/client";
import { Role } from "../domain";
import type { ConsoleAccess } from "./upgrade";

/**
 * Re-reads the user and the VM for a console upgrade and its periodic re-check: an active user,
 * with `vm.console` on their own VM or `vm.console.any` on another's. Ctrl-Alt-Del reboots the
 * guest, so it follows `vm.power` on one's own VM and `vm.power.any` (admins) on another's.
 */
export async function loadConsoleAccess({
  userId,
  vmId,
}: {
  userId: string;
  vmId: string;
}): Promise<ConsoleAccess | null> {
  const db = getDb();
  const [user, vm] = await Promise.all([
    db.user.findUnique({
      where: { id: userId },
      select: { id: true, username: true, role: true, status: true },
    }),
    db.vm.findUnique({ where: { id: vmId }, select: { id: true, name: true, ownerId: true } }),
  ]);
  const role = Role.safeParse(user?.role);
  if (!user || !vm || !role.success || user.status !== "active") return null;
  const owns = vm.ownerId === user.id;
  if (!(owns ? can(role.data, "vm.console") : can(role.data, "vm.console.any"))) return null;
  return {
    user: { id: user.id, username: user.username, role: role.data },
    vm,
    canCtrlAltDel: can(role.data, owns ? "vm.power" : "vm.power.any"),
  };
}
