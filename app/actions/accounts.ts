"use server";

import { revalidatePath } from "next/cache";
import { adminAction, z } from "@/server/web/auth/wrappers";
import { changeAccountStatus, STATUS_REASON_MAX } from "@/server/web/dal/change-account-status";

const ChangeInput = z.object({
  userId: z.string().uuid(),
  change: z.enum(["approve", "reject", "suspend", "reactivate"]),
  reason: z.string().trim().max(STATUS_REASON_MAX, `At most ${STATUS_REASON_MAX} characters`).optional(),
});

export const changeAccountStatusAction = adminAction(
  "accounts.approve",
  ChangeInput,
  async (input, { caller, meta }) => {
    const result = await changeAccountStatus(caller, input, meta);
    revalidatePath("/admin/accounts");
    return result;
  },
);
