/**
 * Runs before every page and API request. It sets the security headers (CSP with a fresh nonce per
 * request) and sends visitors without a session cookie to /login. It only redirects: whether a
 * session is valid, and what it may do, is decided in the DAL (getSession) and the wrappers.
 */
import { type NextRequest, NextResponse } from "next/server";
import { getEnv } from "@/server/web/env";

/** Reachable without a session cookie. API route handlers answer 401 themselves (they never redirect). */
const PUBLIC_PREFIXES = [
  "/login",
  "/signup",
  "/api",
  // A suspended or rejected member's status page; a password reset link (its token is the check).
  "/account-status",
  "/reset",
  // What a phone fetches to put the panel on its home screen.
  "/manifest.webmanifest",
  "/icons",
  "/apple-touch-icon.png",
];

function hasSessionCookie(req: NextRequest): boolean {
  return req.cookies
    .getAll()
    .some(
      (c) =>
        c.name.startsWith("authjs.session-token") ||
        c.name.startsWith("__Secure-authjs.session-token") ||
        c.name.startsWith("__Host-authjs.session-token"),
    );
}

export function contentSecurityPolicy(nonce: string, origins: readonly string[], dev: boolean): string {
  const ws = origins.map((o) => o.replace(/^http/, "ws"));
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${dev ? " 'unsafe-eval'" : ""}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self' ${ws.join(" ")}`,
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

export function proxy(req: NextRequest) {
  const env = getEnv();
  const path = req.nextUrl.pathname;
  const isPublic = PUBLIC_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`));

  if (!isPublic && !hasSessionCookie(req)) {
    const url = req.nextUrl.clone();
    url.pathname = "/login";
    url.search = "";
    return withHeaders(NextResponse.redirect(url), null, env);
  }

  const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
  const csp = contentSecurityPolicy(nonce, env.origins, !env.isProduction);
  const requestHeaders = new Headers(req.headers);
  // Next reads the nonce from the request's CSP header and puts it on its own script tags.
  requestHeaders.set("x-nonce", nonce);
  requestHeaders.set("content-security-policy", csp);
  return withHeaders(NextResponse.next({ request: { headers: requestHeaders } }), csp, env);
}

function withHeaders(res: NextResponse, csp: string | null, env: ReturnType<typeof getEnv>) {
  res.headers.set("Content-Security-Policy", csp ?? "default-src 'none'; frame-ancestors 'none'");
  res.headers.set("X-Content-Type-Options", "nosniff");
  res.headers.set("X-Frame-Options", "DENY");
  res.headers.set("Referrer-Policy", "same-origin");
  res.headers.set("Cross-Origin-Opener-Policy", "same-origin");
  res.headers.set("Permissions-Policy", "camera=(), microphone=(), geolocation=()");
  if (env.secureCookies) res.headers.set("Strict-Transport-Security", "max-age=31536000");
  return res;
}

export const config = {
  matcher: ["/((?!_next/static|_next/image|favicon.ico).*)"],
};
