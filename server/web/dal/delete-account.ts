import "server-only";
import { getDb } from "../db/client";
import { ActionFailure } from "../errors";

/**
 * Unscoped: removes an account's row once its VMs are gone (the VM service's deleteAccount checks
 * `accounts.delete`, the account's status, and destroys or hands over its VMs first). Its tasks,
 * tickets and reset links go with it; audit events keep their text with the account unlinked.
 */
export async function unsafeDeleteAccountRow(userId: string): Promise<void> {
  await getDb().$transaction(async (tx) => {
    const vms = await tx.vm.count({ where: { ownerId: userId } });
    if (vms > 0) throw new ActionFailure("conflict", "The account still owns a VM.");
    await tx.user.delete({ where: { id: userId } });
  });
}
