// Playwright for scripts/test-quickstart.sh: the panel that the quick start brought up (QS_URL),
// no web server of its own. Debian's Chromium, as in the main e2e config.
import { defineConfig } from "@playwright/test";
import { chromiumLaunchOptions } from "../chromium";

export default defineConfig({
  testDir: ".",
  testMatch: "*.qs.ts",
  workers: 1,
  retries: 0,
  timeout: 90_000,
  expect: { timeout: 30_000 },
  use: {
    baseURL: process.env.QS_URL,
    browserName: "chromium",
    headless: true,
    launchOptions: chromiumLaunchOptions,
  },
});
