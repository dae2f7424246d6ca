import { expect, test } from "@playwright/test";

test("an anonymous visitor is sent to sign in", async ({ page }) => {
  for (const path of ["/", "/admin/accounts", "/admin/audit", "/pending", "/account", "/account-status"]) {
    await page.goto(path);
    await expect(page).toHaveURL(/\/login$/);
    await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  }
});

test("a made-up reset link says it does not work and gives nothing away", async ({ page }) => {
  for (const token of ["not-a-token", "A".repeat(43)]) {
    await page.goto(`/reset/${token}`);
    await expect(page.getByRole("heading", { name: "This link no longer works" })).toBeVisible();
    await expect(page.getByLabel("New password")).toHaveCount(0);
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

test("check 13: security headers on pages and API responses", async ({ request }) => {
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

/** Width and height from a PNG's IHDR chunk. */
function pngSize(buf: Buffer): { width: number; height: number } {
  expect(buf.subarray(1, 4).toString("latin1")).toBe("PNG");
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

test("the web app manifest and its icons are served without a session", async ({ request }) => {
  const res = await request.get("/manifest.webmanifest", { maxRedirects: 0 });
  expect(res.status()).toBe(200);
  expect(res.headers()["content-type"]).toContain("application/manifest+json");
  const manifest = (await res.json()) as {
    name: string;
    start_url: string;
    display: string;
    icons: { src: string; sizes: string; type: string; purpose?: string }[];
  };
  expect(manifest).toMatchObject({ name: "zaphod", start_url: "/", display: "standalone" });
  const sizes = manifest.icons.filter((i) => i.type === "image/png").map((i) => i.sizes);
  expect(sizes).toEqual(expect.arrayContaining(["192x192", "512x512"]));
  expect(manifest.icons.some((i) => i.purpose === "maskable")).toBe(true);

  for (const icon of manifest.icons) {
    const r = await request.get(icon.src, { maxRedirects: 0 });
    expect(r.status(), icon.src).toBe(200);
    expect(r.headers()["content-type"], icon.src).toContain(icon.type);
    if (icon.type === "image/png") {
      const [w, h] = icon.sizes.split("x").map(Number);
      expect(pngSize(await r.body()), icon.src).toEqual({ width: w, height: h });
    } else expect(await r.text()).toContain("<svg");
  }
  const apple = await request.get("/apple-touch-icon.png", { maxRedirects: 0 });
  expect(apple.status()).toBe(200);
  expect(pngSize(await apple.body())).toEqual({ width: 180, height: 180 });
});

test("every page links the manifest and the home-screen icons", async ({ page }) => {
  await page.goto("/login");
  await expect(page.locator('link[rel="manifest"]')).toHaveAttribute("href", "/manifest.webmanifest");
  await expect(page.locator('link[rel="manifest"]')).toHaveCount(1);
  await expect(page.locator('link[rel="apple-touch-icon"]')).toHaveAttribute("href", "/apple-touch-icon.png");
  await expect(page.locator('link[rel="icon"][type="image/svg+xml"]')).toHaveAttribute(
    "href",
    "/icons/icon.svg",
  );
  await expect(page.locator('meta[name="theme-color"]').first()).toHaveAttribute("content", /^#/);
});
