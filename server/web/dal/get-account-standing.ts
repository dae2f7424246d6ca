import "server-only";
import { cookies } from "next/headers";
import { cache } from "react";
import { auth } from "../auth/auth";
import { getDb } from "../db/client";
import { getEnv } from "../env";
import { STANDING_COOKIE_TTL_MS, signStanding, standingCookieName, verifyStanding } from "./standing-cookie";

export type AccountStanding = {
  status: "suspended" | "rejected";
  name: string;
  reason: string;
  /** Whom to ask: the admin who made the change, or (host CLI, or that admin is gone) every active admin. */
  contacts: { name: string; email: string }[];
};

/**
 * For a browser that is not signed in: is it the owner of a suspended or rejected account? Known
 * from the (authentic, but no longer valid) session token the account had, or from the standing
 * cookie set when the right password was given for such an account. It tells them only their own
 * account's status, the admin's reason and whom to ask. Cached per request.
 */
export const getAccountStanding = cache(async (): Promise<AccountStanding | null> => {
  const env = getEnv();
  let userId = verifyStanding(
    env.authSecret,
    (await cookies()).get(standingCookieName(env.secureCookies))?.value,
  );
  if (!userId) {
    try {
      const s = (await auth()) as { uid?: unknown } | null;
      if (typeof s?.uid === "string") userId = s.uid;
    } catch {}
  }
  if (!userId) return null;
  const db = getDb();
  const user = await db.user.findUnique({
    where: { id: userId },
    select: {
      status: true,
      name: true,
      statusReason: true,
      statusChangedBy: { select: { name: true, email: true, role: true, status: true } },
    },
  });
  if (!user || (user.status !== "suspended" && user.status !== "rejected")) return null;
  const by = user.statusChangedBy;
  const contacts =
    by && by.role === "admin" && by.status === "active"
      ? [{ name: by.name, email: by.email }]
      : await db.user.findMany({
          where: { role: "admin", status: "active" },
          select: { name: true, email: true },
          orderBy: { createdAt: "asc" },
          take: 5,
        });
  return {
    status: user.status as AccountStanding["status"],
    name: user.name,
    reason: user.statusReason,
    contacts,
  };
});

/** After the right password for a suspended or rejected account (authenticateCredentials said so). */
export async function setStandingCookie(identifier: string): Promise<void> {
  const env = getEnv();
  const id = identifier.normalize("NFKC").toLowerCase();
  const user = await getDb().user.findFirst({
    where: id.includes("@") ? { email: id } : { username: id },
    select: { id: true },
  });
  if (!user) return;
  (await cookies()).set(standingCookieName(env.secureCookies), signStanding(env.authSecret, user.id), {
    httpOnly: true,
    sameSite: "lax",
    secure: env.secureCookies,
    path: "/",
    maxAge: Math.floor(STANDING_COOKIE_TTL_MS / 1000),
  });
}

export async function clearStandingCookie(): Promise<void> {
  (await cookies()).delete(standingCookieName(getEnv().secureCookies));
}
