/**
 * Checks the custom server makes before Next sees a server-action POST (a request with a
 * `Next-Action` header, or any mutation of a page path, which is how a form posts without
 * JavaScript): a foreign or missing Origin gets 403 and a body over the 64 kB limit (next.config.ts
 * `serverActions.bodySizeLimit`) gets 413 (no Content-Length: 411), each a clear answer and one
 * info-level log line instead of Next's error-level stack. Route handlers (/api/*) check for
 * themselves in server/web/auth/wrappers.ts.
 */
import { isAllowedOrigin, SAFE_METHODS } from "./auth/origin";

export const SERVER_ACTION_BODY_LIMIT = 64 * 1024;

export type Refusal = { status: 403 | 411 | 413; message: string };

type Req = { method?: string; url?: string; headers: Record<string, string | string[] | undefined> };

function header(req: Req, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function isServerActionPost(req: Req): boolean {
  const method = (req.method ?? "GET").toUpperCase();
  if (SAFE_METHODS.has(method)) return false;
  if (header(req, "next-action") !== undefined) return true;
  const path = (req.url ?? "/").split("?")[0] ?? "/";
  return !path.startsWith("/api/");
}

export function refuseServerAction(req: Req, origins: readonly string[]): Refusal | null {
  if (!isServerActionPost(req)) return null;
  if (!isAllowedOrigin(header(req, "origin"), origins))
    return { status: 403, message: "Request refused: it did not come from this site." };
  const length = header(req, "content-length");
  if (length === undefined) {
    // Browsers send Content-Length with every action; a streamed body of unknown size is refused
    // rather than read without a bound.
    if (header(req, "transfer-encoding") !== undefined)
      return { status: 411, message: "Request refused: the body's length is required." };
    return null; // no body at all
  }
  if (!/^\d+$/.test(length))
    return { status: 411, message: "Request refused: the body's length is required." };
  if (Number(length) > SERVER_ACTION_BODY_LIMIT)
    return { status: 413, message: "Request refused: the form is too large (at most 64 kB)." };
  return null;
}
