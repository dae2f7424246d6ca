import "server-only";
import { notFound, redirect } from "next/navigation";
import { cache } from "react";
import { auth, SESSION_MAX_AGE_S } from "../auth/auth";
import { getDb } from "../db/client";
import { Role, UserStatus } from "../domain";
import { type Caller, callerSelect } from "./caller";
import { getAccountStanding } from "./get-account-standing";

/** What the signed session cookie says (not yet checked against the database). */
export type SessionToken = { uid: string; sv: number; sid: string; signedInAt: Date };

/** The request's session token, if well formed and within its absolute lifetime. Cached per request. */
export const getSessionToken = cache(async (): Promise<SessionToken | null> => {
  let session: unknown;
  try {
    session = await auth();
  } catch {
    return null; // fail closed on any token error
  }
  const s = session as { uid?: unknown; sv?: unknown; sid?: unknown; sat?: unknown } | null;
  if (!s || typeof s.uid !== "string" || typeof s.sv !== "number") return null;
  // Tokens from before session ids (and any without a sign-in time) count no more: sign in again.
  if (typeof s.sid !== "string" || !s.sid || typeof s.sat !== "number") return null;
  if ((s.sat + SESSION_MAX_AGE_S) * 1000 <= Date.now()) return null;
  return { uid: s.uid, sv: s.sv, sid: s.sid, signedInAt: new Date(s.sat * 1000) };
});

/**
 * THE session check. Reads the Auth.js token, then the user row: the session counts only while the
 * user exists, is active or pending, the token's session version matches the row's, and this
 * session was not signed out (RevokedSession). Anything else (suspended, rejected, deleted, bumped
 * version, signed out, malformed token) is no session at all. Cached per request.
 */
export const getSession = cache(async (): Promise<Caller | null> => {
  const s = await getSessionToken();
  if (!s) return null;
  const db = getDb();
  const [row, revoked] = await Promise.all([
    db.user.findUnique({ where: { id: s.uid }, select: callerSelect }),
    db.revokedSession.findUnique({ where: { id: s.sid }, select: { id: true } }),
  ]);
  if (!row || revoked || row.sessionVersion !== s.sv) return null;
  const status = UserStatus.safeParse(row.status);
  const role = Role.safeParse(row.role);
  if (!status.success || !role.success) return null;
  if (status.data !== "active" && status.data !== "pending") return null;
  return {
    id: row.id,
    username: row.username,
    name: row.name,
    email: row.email,
    role: role.data,
    status: status.data,
  };
});

/**
 * For pages without a session: the owner of a suspended or rejected account learns why and whom to
 * ask (/account-status); anyone else signs in.
 */
export async function redirectWithoutSession(): Promise<never> {
  redirect((await getAccountStanding()) ? "/account-status" : "/login");
}

/** For pages: an active user, or a redirect (anonymous → /login, pending → /pending). */
export async function requireUser(): Promise<Caller> {
  const caller = await getSession();
  if (!caller) return redirectWithoutSession();
  if (caller.status === "pending") redirect("/pending");
  return caller;
}

/** For admin pages: an active admin; anyone else gets a 404 (nothing to see, nothing to learn). */
export async function requireAdmin(): Promise<Caller> {
  const caller = await requireUser();
  if (caller.role !== "admin") {
    notFound();
  }
  return caller;
}
