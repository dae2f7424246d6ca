import "server-only";
import { z } from "zod";
import { hashPassword } from "../auth/password";
import { getDb } from "../db/client";
import { newId } from "../db/ids";
import { Email, FullName, Password, Username } from "../domain";
import { ActionFailure } from "../errors";
import type { RequestMeta } from "../request-meta";
import { recordAuditEvent } from "./record-audit-event";

export const AccountRequestInput = z.object({
  username: Username,
  email: Email,
  name: FullName,
  password: Password,
  note: z.string().trim().max(1000, "At most 1000 characters").default(""),
});
export type AccountRequestInput = z.output<typeof AccountRequestInput>;

/** Anyone may ask for an account; it starts pending until an admin approves it. */
export async function requestAccount(
  raw: z.input<typeof AccountRequestInput>,
  meta: RequestMeta,
): Promise<{ username: string }> {
  const input = AccountRequestInput.parse(raw); // normalizes (email case, NFKC) even when called directly
  const db = getDb();
  const taken = await db.user.findMany({
    where: { OR: [{ username: input.username }, { email: input.email }] },
    select: { username: true, email: true },
  });
  if (taken.length) {
    const fieldErrors: Record<string, string> = {};
    if (taken.some((t) => t.username === input.username)) fieldErrors.username = "This username is taken";
    if (taken.some((t) => t.email === input.email))
      fieldErrors.email = "An account with this email already exists";
    throw new ActionFailure("conflict", "Please check the highlighted fields.", fieldErrors);
  }
  const id = newId();
  const passwordHash = await hashPassword(input.password);
  try {
    await db.user.create({
      data: {
        id,
        username: input.username,
        email: input.email,
        name: input.name,
        passwordHash,
        role: "member",
        status: "pending",
        requestNote: input.note,
      },
    });
  } catch {
    // A concurrent request won the unique index.
    throw new ActionFailure("conflict", "This username or email was just taken; try another.");
  }
  await recordAuditEvent({
    actor: "anonymous",
    action: "account.request",
    result: "success",
    targetUserId: id,
    meta,
    detail: { username: input.username },
  });
  return { username: input.username };
}
