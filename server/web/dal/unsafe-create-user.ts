import "server-only";
import { z } from "zod";
import { hashPassword } from "../auth/password";
import { getDb } from "../db/client";
import { newId } from "../db/ids";
import { Email, FullName, Password, Role, Username, UserStatus } from "../domain";
import { ActionFailure } from "../errors";
import type { Actor } from "./caller";
import { recordAuditEvent } from "./record-audit-event";

export const CreateUserInput = z.object({
  username: Username,
  email: Email,
  name: FullName,
  password: Password,
  role: Role,
  status: UserStatus.default("active"),
});

/**
 * Creates an account directly, with no request/approval step. Unscoped: only for the host CLI
 * (`zaphod create-admin`, `create-user`), whose user already controls the host.
 */
export async function unsafeCreateUser(
  actor: Actor,
  raw: z.input<typeof CreateUserInput>,
): Promise<{ id: string }> {
  const input = CreateUserInput.parse(raw);
  const db = getDb();
  const taken = await db.user.findFirst({
    where: { OR: [{ username: input.username }, { email: input.email }] },
    select: { id: true },
  });
  if (taken) throw new ActionFailure("conflict", "username or email already exists");
  const id = newId();
  await db.user.create({
    data: {
      id,
      username: input.username,
      email: input.email,
      name: input.name,
      passwordHash: await hashPassword(input.password),
      role: input.role,
      status: input.status,
      approvedAt: input.status === "active" ? new Date() : null,
    },
  });
  await recordAuditEvent({
    actor,
    action: "account.create",
    result: "success",
    targetUserId: id,
    detail: { username: input.username, role: input.role, status: input.status },
  });
  return { id };
}

/** All accounts, for `zaphod list-users` (host CLI only). */
export async function unsafeListUsers() {
  return getDb().user.findMany({
    select: { id: true, username: true, email: true, name: true, role: true, status: true, createdAt: true },
    orderBy: { createdAt: "asc" },
  });
}

/** Looks an account up by username, for the host CLI only. */
export async function unsafeFindUserByUsername(username: string) {
  return getDb().user.findUnique({ where: { username }, select: { id: true, username: true, status: true } });
}
