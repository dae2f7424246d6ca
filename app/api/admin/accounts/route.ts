import { withAdmin, z } from "@/server/web/auth/wrappers";
import { changeAccountStatus } from "@/server/web/dal/change-account-status";
import { listAccounts } from "@/server/web/dal/list-accounts";

/** GET: every account (admins). POST { userId, change }: approve | reject | suspend | reactivate. */
export const GET = withAdmin("accounts.read", z.object({}), async (_input, { caller }) => {
  const { pending, others } = await listAccounts(caller);
  return [...pending, ...others].map((u) => ({
    id: u.id,
    username: u.username,
    role: u.role,
    status: u.status,
  }));
});

export const POST = withAdmin(
  "accounts.approve",
  z
    .object({ userId: z.string().uuid(), change: z.enum(["approve", "reject", "suspend", "reactivate"]) })
    .strict(),
  async (input, { caller, meta }) => changeAccountStatus(caller, input, meta),
);
