/**
 * Saves a signed-in browser state per role. The server (e2e/serve.sh, started by Playwright's
 * webServer before this runs) has already migrated a fresh database and created both users with
 * the host CLI.
 */
import { mkdirSync } from "node:fs";
import { chromium, type FullConfig } from "@playwright/test";
import { ADMIN, BASE_URL, MEMBER, storageState } from "./env";

export default async function globalSetup(config: FullConfig) {
  const launchOptions = config.projects[0]?.use.launchOptions;
  mkdirSync("e2e/.auth", { recursive: true });
  const browser = await chromium.launch(launchOptions);
  try {
    for (const [role, user] of [
      ["admin", ADMIN],
      ["member", MEMBER],
    ] as const) {
      const context = await browser.newContext({ baseURL: BASE_URL });
      const page = await context.newPage();
      await page.goto("/login");
      await page.getByLabel("Username or email").fill(user.username);
      await page.getByLabel("Password").fill(user.password);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByTestId("signed-in-user").waitFor();
      await context.storageState({ path: storageState[role] });
      await context.close();
    }
  } finally {
    await browser.close();
  }
}
