"use server";

import { revalidatePath } from "next/cache";
import { adminAction, z } from "@/server/web/auth/wrappers";
import { deleteAccount } from "@/server/web/vms/manage-vm";

/** Admin: delete a rejected or suspended member; its VMs deleted or handed over first. */
export const deleteAccountAction = adminAction(
  "accounts.delete",
  z
    .object({
      userId: z.uuid(),
      confirm: z.string().max(64),
      vms: z.enum(["delete", "transfer"]),
      transferToId: z.uuid("Choose an account").optional(),
    })
    .strict(),
  async (input, { caller, meta }) => {
    const res = await deleteAccount(caller, input, meta);
    revalidatePath("/admin/accounts");
    return res;
  },
);
