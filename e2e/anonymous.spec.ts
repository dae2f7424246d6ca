import { expect, test } from "@playwright/test";

test("an anonymous visitor is sent to sign in", async ({ page }) => {
  for (const path of ["/", "/admin/accounts", "/admin/audit", "/pending"]) {
    await page.goto(path);
    await expect(page).toHaveURL(/\/login$/);
    await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  }
});

test("anonymous API calls get 401, never data", async ({ request }) => {
  const res = await request.get("/api/admin/accounts");
  expect(res.status()).toBe(401);
  expect(await res.json()).toEqual({
    ok: false,
    error: { code: "unauthorized", message: "Please sign in." },
  });
  expect((await request.get("/api/me")).status()).toBe(401);
});

test("security headers on pages and API responses", async ({ request }) => {
  for (const path of ["/login", "/signup", "/api/health", "/"]) {
    const res = await request.get(path, { maxRedirects: 0 });
    const h = res.headers();
    const csp = h["content-security-policy"] ?? "";
    expect(csp, path).toContain("frame-ancestors 'none'");
    expect(csp, path).not.toMatch(/script-src[^;]*'unsafe-inline'/);
    expect(h["x-content-type-options"], path).toBe("nosniff");
    expect(h["referrer-policy"], path).toBe("same-origin");
    expect(
      Object.keys(h).filter((k) => k.startsWith("access-control-")),
      path,
    ).toEqual([]);
  }
  // Static assets too.
  const html = await (await request.get("/login")).text();
  const asset = html.match(/\/_next\/static\/[^"]+\.js/)?.[0];
  expect(asset).toBeTruthy();
  const assetRes = await request.get(asset!);
  expect(assetRes.headers()["x-content-type-options"]).toBe("nosniff");

  const page = await request.get("/login");
  const csp = page.headers()["content-security-policy"] ?? "";
  expect(csp).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=]+' 'strict-dynamic'/);
  expect(csp).toMatch(/connect-src 'self' ws:\/\/127\.0\.0\.1:\d+/);
  // Each response gets its own nonce.
  const again = (await request.get("/login")).headers()["content-security-policy"];
  expect(again).not.toBe(csp);
});

test("the page's scripts run under the CSP (no violations)", async ({ page }) => {
  const violations: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  await page.goto("/signup");
  // Hydrated: client-side validation messages appear without a reload.
  await page.getByRole("button", { name: "Request account" }).click();
  await expect(page.getByText("lowercase letters, digits and dashes")).toBeVisible();
  expect(violations).toEqual([]);
});
