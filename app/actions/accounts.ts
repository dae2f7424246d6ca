"use server";

import { revalidatePath } from "next/cache";
import { adminAction, z } from "@/server/web/auth/wrappers";
import { changeAccountStatus, STATUS_REASON_MAX } from "@/server/web/dal/change-account-status";
import { issuePasswordResetLink } from "@/server/web/dal/password-reset";
import { PlainText } from "@/server/web/domain";

const ChangeInput = z.object({
  userId: z.string().uuid(),
  change: z.enum(["approve", "reject", "suspend", "reactivate"]),
  reason: PlainText(STATUS_REASON_MAX, { multiline: true }).optional(),
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

/** Admin: a one-time password reset link for a member, shown once for the admin to pass on. */
export const issueResetLinkAction = adminAction(
  "accounts.reset",
  z.object({ userId: z.string().uuid() }).strict(),
  async (input, { caller, meta }) => {
    const r = await issuePasswordResetLink(caller, input, meta);
    return { username: r.username, link: r.link, expiresAt: r.expiresAt.toISOString() };
  },
);
