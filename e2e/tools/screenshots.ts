/**
 * Screenshots of every page, desktop and phone width (375 px), light and dark, for looking at the
 * UI as a person would. Needs a running server with the e2e users (e2e/serve.sh).
 *
 *   npx tsx e2e/tools/screenshots.ts [outDir]      (default .data/screenshots)
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { type Browser, chromium, type Page } from "@playwright/test";
import { chromiumLaunchOptions } from "../chromium";
import { ADMIN, BASE_URL, MEMBER } from "../env";

const out = path.resolve(process.argv[2] ?? ".data/screenshots");
mkdirSync(out, { recursive: true });

const viewports = { desktop: { width: 1280, height: 800 }, phone: { width: 375, height: 740 } } as const;
const schemes = ["light", "dark"] as const;

async function signIn(page: Page, user: { username: string; password: string }) {
  await page.goto(`${BASE_URL}/login`);
  await page.getByLabel("Username or email").fill(user.username);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => !u.pathname.startsWith("/login"));
}

async function shoot(
  browser: Browser,
  name: string,
  user: { username: string; password: string } | null,
  url: string,
  prepare?: (p: Page) => Promise<void>,
) {
  for (const [vp, size] of Object.entries(viewports))
    for (const scheme of schemes) {
      const context = await browser.newContext({ viewport: size, colorScheme: scheme, deviceScaleFactor: 1 });
      const page = await context.newPage();
      if (user) await signIn(page, user);
      await page.goto(`${BASE_URL}${url}`);
      if (prepare) await prepare(page);
      await page.screenshot({ path: path.join(out, `${name}-${vp}-${scheme}.png`), fullPage: true });
      await context.close();
    }
}

const PENDING = { username: "shot-pending", password: "pending-password-1" };

/** The pending user asks for an account through the real form (once: a second ask is refused). */
async function requestPendingAccount(browser: Browser, user: { username: string; password: string }) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${BASE_URL}/signup`);
  await page.getByLabel("Username").fill(user.username);
  await page.getByLabel("Email").fill(`${user.username}@example.test`);
  await page.getByLabel("Full name").fill("Screenshot Pending");
  await page.getByLabel("Password", { exact: true }).fill(user.password);
  await page.getByRole("button", { name: "Request account" }).click();
  await page.waitForLoadState("networkidle");
  await context.close();
}

const browser = await chromium.launch(chromiumLaunchOptions);
try {
  await shoot(browser, "login", null, "/login");
  await shoot(browser, "login-error", null, "/login", async (p) => {
    await p.getByLabel("Username or email").fill("someone");
    await p.getByLabel("Password").fill("wrong-password");
    await p.getByRole("button", { name: "Sign in" }).click();
    await p.locator("form [role=alert]").waitFor();
  });
  await shoot(browser, "signup", null, "/signup");
  await shoot(browser, "signup-errors", null, "/signup", async (p) => {
    await p.getByLabel("Username").fill("Bad Name");
    await p.getByLabel("Email").fill("nope");
    await p.getByRole("button", { name: "Request account" }).click();
    await p.getByText("Enter an email address").waitFor();
  });
  await shoot(browser, "signup-sent", null, "/signup/sent");
  await requestPendingAccount(browser, PENDING);
  await shoot(browser, "pending", PENDING, "/pending");
  await shoot(browser, "dashboard", MEMBER, "/");
  await shoot(browser, "account", MEMBER, "/account");
  await shoot(browser, "account-menu", MEMBER, "/", async (p) => {
    await p.getByTestId("signed-in-user").click();
  });
  await shoot(browser, "admin-menu", ADMIN, "/admin/accounts", async (p) => {
    const menu = p.getByText("Menu", { exact: true });
    if (await menu.isVisible()) await menu.click();
  });
  await shoot(browser, "reset-invalid", null, "/reset/not-a-token");
  await shoot(browser, "login-after-reset", null, "/login?reset=1");
  await shoot(browser, "admin-accounts", ADMIN, "/admin/accounts");
  await shoot(browser, "admin-snapshots", ADMIN, "/admin/snapshots");
  await shoot(browser, "admin-host", ADMIN, "/admin/host");
  await shoot(browser, "admin-audit", ADMIN, "/admin/audit");
  await shoot(browser, "not-found", MEMBER, "/admin/accounts");
} finally {
  await browser.close();
}
console.log(`screenshots in ${out}`);
