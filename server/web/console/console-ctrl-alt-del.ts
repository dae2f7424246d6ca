import "server-only";
import { callerSelect } from "../dal/caller";
import { getDb } from "../db/client";
import { Role, UserStatus } from "../domain";
import { ActionFailure } from "../errors";
import { requestPowerAction } from "../vms/service";

/**
 * Ctrl-Alt-Del from a console (issue 11 point 9): the panel's graceful reboot as the viewer, the
 * same path as the VM page's Reboot button — a Task in the VM's history, an audit entry (also
 * when an admin sends it to a member's VM), the reboot fallback, and the acting user named to the
 * agent. Resolves with null when accepted, or the reason it was refused (shown as a notice).
 */
export async function consoleCtrlAltDel(who: { userId: string; vmName: string }): Promise<string | null> {
  const user = await getDb().user.findUnique({ where: { id: who.userId }, select: callerSelect });
  const role = Role.safeParse(user?.role);
  const status = UserStatus.safeParse(user?.status);
  if (!user || !role.success || !status.success || status.data !== "active")
    return "Your account is not active.";
  try {
    await requestPowerAction({ ...user, role: role.data, status: status.data }, who.vmName, "reboot");
    return null;
  } catch (error) {
    if (error instanceof ActionFailure) return error.message;
    console.error("[console] ctrl-alt-del failed:", error);
    return "The reboot could not be started.";
  }
}
