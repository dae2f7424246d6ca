import "server-only";
import { getDb } from "../db/client";
import { Role, UserStatus } from "../domain";
import { mayActOn } from "../vms/access";
import type { ConsoleAccess } from "./upgrade";

/**
 * Re-reads the user and the VM for a console upgrade and its periodic re-check, and asks the one
 * VM access rule (../vms/access.ts): the console capability lets them in; Ctrl-Alt-Del reboots
 * the guest, so it is the power capability (`vm.power` on one's own VM, `vm.power.any` on
 * another's).
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
  const status = UserStatus.safeParse(user?.status);
  if (!user || !vm || !role.success || !status.success) return null;
  const who = { id: user.id, role: role.data, status: status.data };
  if (!mayActOn(who, vm, "console")) return null;
  return {
    user: { id: user.id, username: user.username, role: role.data },
    vm,
    canCtrlAltDel: mayActOn(who, vm, "power"),
  };
}
