import "server-only";
import { notFound, redirect } from "next/navigation";
import { cache } from "react";
import { auth } from "../auth/auth";
import { getDb } from "../db/client";
import { Role, UserStatus } from "../domain";
import { type Caller, callerSelect } from "./caller";
import { getAccountStanding } from "./get-account-standing";

/**
 * THE session check. Reads the Auth.js token, then the user row: the session counts only while the
 * user exists, is active or pending, and the token's session version matches the row's. Anything
 * else (suspended, rejected, deleted, bumped version, malformed token) is no session at all.
 * Cached per request.
 */
export const getSession = cache(async (): Promise<Caller | null> => {
  let session: unknown;
  try {
    session = await auth();
  } catch {
    return null; // fail closed on any token error
  }
  const s = session as { uid?: unknown; sv?: unknown } | null;
  if (!s || typeof s.uid !== "string" || typeof s.sv !== "number") return null;
  const row = await getDb().user.findUnique({ where: { id: s.uid }, select: callerSelect });
  if (!row || row.sessionVersion !== s.sv) return null;
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
