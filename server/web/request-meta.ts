/**
 * The client's address and user agent. The custom server (server/web/main.ts) overwrites
 * `x-zaphod-client-ip` on every request with the socket's remote address (or the X-Forwarded-For
 * entry when ZAPHOD_TRUST_PROXY says a proxy is in front), so a client cannot choose it.
 */
export const CLIENT_IP_HEADER = "x-zaphod-client-ip";

export type RequestMeta = { ip: string; userAgent: string | null };

type HeaderBag = { get(name: string): string | null };

export function requestMetaFrom(headers: HeaderBag): RequestMeta {
  return {
    ip: headers.get(CLIENT_IP_HEADER) ?? "",
    userAgent: headers.get("user-agent")?.slice(0, 300) ?? null,
  };
}

/** Used by the custom server: which address a request came from. */
export function clientIpOf(
  remoteAddress: string | undefined,
  forwardedFor: string | string[] | undefined,
  trustProxy: boolean,
): string {
  if (trustProxy && forwardedFor) {
    const list = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor).split(",");
    // The proxy appends the address it saw; that last entry is the one we can trust.
    const last = list.at(-1)?.trim();
    if (last) return last;
  }
  return (remoteAddress ?? "").replace(/^::ffff:/, "");
}
