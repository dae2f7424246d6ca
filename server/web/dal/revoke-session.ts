import "server-only";
import { SESSION_MAX_AGE_S } from "../auth/auth";
import { getDb } from "../db/client";
import type { SessionToken } from "./get-session";

/**
 * Sign-out ends this session on the server too: its id is recorded until its token would expire, so
 * a copy of the cookie kept from before counts no more. The user's other sessions (other browsers)
 * go on; a password change ends those (sessionVersion).
 */
export async function revokeSession(token: SessionToken): Promise<void> {
  const expiresAt = new Date(token.signedInAt.getTime() + SESSION_MAX_AGE_S * 1000);
  await getDb().revokedSession.upsert({
    where: { id: token.sid },
    create: { id: token.sid, userId: token.uid, expiresAt },
    update: {},
  });
}

/** Drops revocations whose tokens have expired anyway (the pruning schedule). */
export async function unsafePruneRevokedSessions(now = new Date()): Promise<number> {
  // Unscoped by design: housekeeping of expired rows, for no caller.
  const { count } = await getDb().revokedSession.deleteMany({ where: { expiresAt: { lte: now } } });
  return count;
}
