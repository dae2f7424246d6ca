/**
 * Auth.js v5: Credentials provider, JWT session cookie. The token carries only the user id and the
 * session version; every request re-reads the user in `getSession` (server/web/dal/get-session.ts),
 * so suspending a user (which bumps sessionVersion) ends their sessions at once.
 */
import { randomBytes } from "node:crypto";
import NextAuth, { CredentialsSignin } from "next-auth";
import Credentials from "next-auth/providers/credentials";
import { authenticateCredentials } from "../dal/authenticate-credentials";
import { isDbBusy } from "../db/busy";
import { getEnv } from "../env";
import { requestMetaFrom } from "../request-meta";

/** `code` tells the sign-in form which message to show; never more than that. */
export class SignInFailed extends CredentialsSignin {
  constructor(code: string) {
    super();
    this.code = code;
  }
}

export const SESSION_MAX_AGE_S = 7 * 24 * 3600;
/** The session cookie's name under HTTPS (plain http: `authjs.session-token`). */
export const SECURE_SESSION_COOKIE = "__Host-authjs.session-token";

// The config is a function so the environment is read when serving, not while `next build` runs.
export const { auth, signIn, signOut } = NextAuth(() => {
  const env = getEnv();
  return {
    secret: env.authSecret,
    trustHost: true,
    useSecureCookies: env.secureCookies,
    // Under HTTPS the session cookie is `__Host-`: Secure, Path=/, no Domain, so no other host or
    // path (a sibling subdomain, plain http) can set or shadow it.
    cookies: env.secureCookies
      ? {
          sessionToken: {
            name: SECURE_SESSION_COOKIE,
            options: { httpOnly: true, sameSite: "lax", path: "/", secure: true },
          },
          callbackUrl: {
            name: "__Host-authjs.callback-url",
            options: { httpOnly: true, sameSite: "lax", path: "/", secure: true },
          },
        }
      : undefined,
    session: { strategy: "jwt", maxAge: SESSION_MAX_AGE_S },
    pages: { signIn: "/login", error: "/login" },
    logger: {
      error(error) {
        // Expected outcomes, not server faults: a failed sign-in (audited) and an unreadable session
        // cookie (forged, expired or signed with an old secret: treated as no session).
        const type = (error as { type?: string }).type;
        if (error instanceof CredentialsSignin || type === "JWTSessionError") return;
        // The database was locked: the wrappers answer "busy, try again" (server/web/db/busy.ts).
        if (isDbBusy(error)) return;
        console.error(`[auth] ${type ?? error.name}: ${error.message}`);
      },
      warn() {},
    },
    providers: [
      Credentials({
        credentials: { identifier: {}, password: {} },
        async authorize(credentials, request) {
          const outcome = await authenticateCredentials(credentials, requestMetaFrom(request.headers));
          if (outcome.ok) return { id: outcome.user.id, sessionVersion: outcome.user.sessionVersion };
          if (outcome.reason === "rate-limited")
            throw new SignInFailed(`rate-limited:${outcome.retryAfterMinutes}`);
          if (outcome.reason === "refused") throw new SignInFailed(`refused:${outcome.status}`);
          throw new SignInFailed("bad-credentials");
        },
      }),
    ],
    callbacks: {
      jwt({ token, user }) {
        if (user) {
          token.uid = user.id;
          token.sv = (user as { sessionVersion?: number }).sessionVersion;
          // This session's own id (sign-out revokes it, server/web/dal/revoke-session.ts) and when it
          // began: a token lives at most SESSION_MAX_AGE_S from sign-in, however often it is renewed.
          token.sid = randomBytes(18).toString("base64url");
          token.sat = Math.floor(Date.now() / 1000);
        }
        return token;
      },
      session({ session, token }) {
        // Only what getSession needs to find the row; everything else is re-read from the database.
        return { ...session, uid: token.uid, sv: token.sv, sid: token.sid, sat: token.sat } as typeof session;
      },
    },
  };
});
