/** Data-layer test helpers: active accounts as callers, and the ActionFailure a call throws. */
import type { Caller } from "../dal/caller";
import { unsafeCreateUser } from "../dal/unsafe-create-user";
import type { Db } from "../db/client";
import { ActionFailure } from "../errors";

/** Creates active accounts (password "a-long-password-1") and returns each as a Caller. */
export async function activeCallers(
  db: Db,
  accounts: readonly (readonly [username: string, role: Caller["role"]])[],
): Promise<Record<string, Caller>> {
  const out: Record<string, Caller> = {};
  for (const [username, role] of accounts) {
    await unsafeCreateUser("cli", {
      username,
      email: `${username}@example.org`,
      name: username,
      password: "a-long-password-1",
      role,
    });
    const u = await db.user.update({ where: { username }, data: { status: "active" } });
    out[username] = { id: u.id, username: u.username, name: u.name, email: u.email, role, status: "active" };
  }
  return out;
}

/** The ActionFailure `p` rejects with (anything else fails the test). */
export async function actionFailure(p: Promise<unknown>): Promise<ActionFailure> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ActionFailure) return e;
    throw e;
  }
  throw new Error("expected an ActionFailure");
}
