import { defineConfig } from "@playwright/test";
import { chromiumLaunchOptions } from "./e2e/chromium";
import { BASE_URL, serverEnv } from "./e2e/env";

export default defineConfig({
  testDir: "e2e",
  testMatch: "**/*.spec.ts",
  // Specs share one server and one database; run them one after another.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [["list"]],
  globalSetup: "./e2e/global-setup.ts",
  // Stops the run's VMs and agent and deletes its host users, also when tests fail.
  globalTeardown: "./e2e/global-teardown.ts",
  use: {
    baseURL: BASE_URL,
    browserName: "chromium",
    headless: true,
    trace: "retain-on-failure",
    // Debian's /usr/bin/chromium (e2e/chromium.ts): Playwright never downloads a browser here.
    launchOptions: chromiumLaunchOptions,
  },
  webServer: {
    command: "e2e/serve.sh",
    url: `${BASE_URL}/api/health`,
    env: serverEnv,
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: "ignore",
    stderr: "pipe",
    gracefulShutdown: { signal: "SIGTERM", timeout: 5_000 },
  },
});
