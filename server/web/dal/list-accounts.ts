import "server-only";
import { getDb } from "../db/client";
import { Role, UserStatus } from "../domain";
import { assertPermission } from "./assert-permission";
import type { Caller } from "./caller";

export type AccountRow = {
  id: string;
  username: string;
  name: string;
  email: string;
  role: Role;
  status: UserStatus;
  requestNote: string;
  createdAt: Date;
  lastSignInAt: Date | null;
};

/** Every account, for the admin's accounts page: pending requests first, oldest first. */
export async function listAccounts(caller: Caller): Promise<{ pending: AccountRow[]; others: AccountRow[] }> {
  assertPermission(caller, "accounts.read");
  const rows = await getDb().user.findMany({
    select: {
      id: true,
      username: true,
      name: true,
      email: true,
      role: true,
      status: true,
      requestNote: true,
      createdAt: true,
      lastSignInAt: true,
    },
    orderBy: { createdAt: "asc" },
    take: 1000,
  });
  const all = rows.map((r) => ({ ...r, role: Role.parse(r.role), status: UserStatus.parse(r.status) }));
  return {
    pending: all.filter((r) => r.status === "pending"),
    others: all.filter((r) => r.status !== "pending"),
  };
}
