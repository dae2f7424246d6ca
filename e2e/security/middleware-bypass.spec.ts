/**
 * security.md check 3: the middleware-bypass regression (CVE-2025-29927, CVE-2024-51479,
 * GHSA-6gpp-xcg3-4w24) against the production server. Raw requests, no browser: the point is Next's
 * router and the proxy. Every protected page and route handler is asked with every known
 * `x-middleware-subrequest` value, root-level, trailing-slash, double-slash, percent- and
 * case-encoded variants, and locale and basePath prefixes, anonymously and as a member for the
 * admin routes. Pass: never the protected answer, because authorization lives in the DAL and the
 * wrappers, not in the proxy (which only redirects).
 */
import { type APIRequestContext, expect, test } from "@playwright/test";
import { BASE_URL, storageState } from "../env";

const SUBREQUEST = [
  "middleware",
  "src/middleware",
  "pages/_middleware",
  "middleware:middleware:middleware:middleware:middleware",
  "src/middleware:src/middleware:src/middleware:src/middleware:src/middleware",
  "proxy",
  "src/proxy",
  "proxy:proxy:proxy:proxy:proxy",
  "src/proxy:src/proxy:src/proxy:src/proxy:src/proxy",
];
const EXTRA_HEADERS: Record<string, string>[] = [
  {},
  ...SUBREQUEST.map((v) => ({ "x-middleware-subrequest": v })),
  { "x-middleware-prefetch": "1" },
  { "x-invoke-path": "/api/health", "x-invoke-query": "{}" },
  { "x-nextjs-data": "1" },
  { "x-now-route-matches": "1" },
];

/** Ways of spelling a path that a router might match differently from the proxy. */
function variants(p: string): string[] {
  const parts = p.split("/").filter(Boolean);
  const encodedLast = [
    ...parts.slice(0, -1),
    encodeURIComponent(parts.at(-1) ?? "").replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`),
  ];
  return [
    p,
    `${p}/`,
    `/${p}`,
    `${p}?__nextLocale=en`,
    `/en${p}`,
    `/en-US${p}`,
    `/_next/data/x${p}.json`,
    `/${encodedLast.join("/")}`,
    p.toUpperCase(),
    `${p}%2F`,
    `${p}/.`,
    `/.${p}`,
    `${p};`,
    `${p}/index`,
  ];
}

/** The only 2xx bodies these requests may get: none, an empty object, or the health check. */
const NOTHING = new Set(["", "{}", JSON.stringify({ ok: true, data: { status: "ok" } })]);

/**
 * Asks every spelling of every path with every header set, 8 at a time; a 2xx with content is a
 * leak (the protected answer is a redirect to sign in, 401, 403 or 404, whatever the spelling).
 */
async function leaksOf(
  request: APIRequestContext,
  paths: string[],
): Promise<{ asked: number; leaks: string[] }> {
  const jobs = paths.flatMap((base) =>
    variants(base).flatMap((p) => EXTRA_HEADERS.map((h) => [p, h] as const)),
  );
  const leaks: string[] = [];
  for (let i = 0; i < jobs.length; i += 8) {
    await Promise.all(
      jobs.slice(i, i + 8).map(async ([p, headers]) => {
        // An absolute URL, so that "//api/me" stays a path and is not read as another host.
        const res = await request.get(`${BASE_URL}${p}`, {
          headers,
          maxRedirects: 0,
          failOnStatusCode: false,
        });
        const body = await res.text();
        // A 2xx carrying something: a proxy redirect of a data request is a 2xx without a body, and
        // Next answers `x-middleware-prefetch` with `{}` without running the handler (measured).
        if (res.status() >= 200 && res.status() < 300 && !NOTHING.has(body.trim()))
          leaks.push(`${p} ${JSON.stringify(headers)}: ${res.status()} ${body.slice(0, 80)}`);
      }),
    );
  }
  return { asked: jobs.length, leaks };
}

const ANONYMOUS_PROTECTED = [
  "/api/me",
  "/api/vms",
  "/api/events",
  "/api/vms/member-vm",
  "/api/admin/accounts",
  "/api/admin/vms",
  "/",
  "/account",
  "/admin/accounts",
  "/admin/audit",
  "/admin/host",
  "/admin/vms",
  "/admin/snapshots",
];
const ADMIN_ONLY = [
  "/api/admin/accounts",
  "/api/admin/vms",
  "/admin/accounts",
  "/admin/audit",
  "/admin/host",
  "/admin/vms",
  "/admin/snapshots",
];

test.describe("check 3: middleware-bypass regression", () => {
  test("check 3: anonymous requests with x-middleware-subrequest, odd spellings and prefixes never get a protected answer", async ({
    request,
  }) => {
    test.setTimeout(300_000);
    const { asked, leaks } = await leaksOf(request, ANONYMOUS_PROTECTED);
    expect(asked).toBeGreaterThan(1000);
    expect(leaks).toEqual([]);
    // The plain forms answer as the DAL says (the check is not vacuous).
    expect((await request.get("/api/me")).status()).toBe(401);
    expect(
      (
        await request.get("/api/me", { headers: { "x-middleware-subrequest": SUBREQUEST[3] as string } })
      ).status(),
    ).toBe(401);
  });

  test.describe("as a member", () => {
    test.use({ storageState: storageState.member });

    test("check 3: a member's requests to admin routes with the same headers and spellings never get an admin answer", async ({
      page,
    }) => {
      test.setTimeout(300_000);
      const { leaks } = await leaksOf(page.request, ADMIN_ONLY);
      expect(leaks).toEqual([]);
      // The member's own data is there (the session works), the admin's is not.
      expect((await page.request.get("/api/me")).status()).toBe(200);
      expect((await page.request.get("/api/admin/accounts")).status()).toBe(403);
      expect(
        (
          await page.request.get("/api/admin/accounts", {
            headers: { "x-middleware-subrequest": "middleware" },
          })
        ).status(),
      ).toBe(403);
    });
  });
});
