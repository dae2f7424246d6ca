/**
 * The reboot's fallback is the agent's task (issue 10 point 2): a web tier killed during the
 * countdown and started again changes nothing the member sees. Real processes: the run's agent and
 * database, and a second web tier of our own (the same built server as e2e/serve.sh, from the same
 * release as the same web user, on the next port) that this spec kills (SIGKILL, by pid) and starts again while the member's page stays
 * open. The guest ignores Ctrl-Alt-Del, so the reboot counts down to a hard reset; the page keeps
 * the same countdown (same resetAt) through the outage, then shows the hard reset, the VM up and
 * the task succeeded, not interrupted, without a reload.
 */
import type { ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { expect, type Page, test } from "@playwright/test";
import { E2E_PORT } from "../env";
import { createUser, signIn, spawnWebTier, uniqueName, zaphod } from "../helpers";
import { runInGuest } from "./guest";

test.describe.configure({ mode: "serial" });

const PORT = E2E_PORT + 1;
const BASE = `http://127.0.0.1:${PORT}`;
/** The reboot this spec asks for: a short grace, a countdown long enough for a restart. */
const GRACE_SECONDS = 5;
const COUNTDOWN_SECONDS = 60;

const username = uniqueName("rbt");
const password = "reboot-restart-password-1";
const vm = username;
let web: ChildProcess | null = null;

/** Starts the second web tier and waits for its health check. */
async function startWeb(): Promise<ChildProcess> {
  mkdirSync(".data/e2e", { recursive: true });
  const log = openSync(".data/e2e/web-restart.log", "a");
  const child = spawnWebTier(
    {
      PORT: String(PORT),
      ZAPHOD_ORIGINS: BASE,
      ZAPHOD_REBOOT_GRACE_SECONDS: String(GRACE_SECONDS),
      ZAPHOD_REBOOT_COUNTDOWN_SECONDS: String(COUNTDOWN_SECONDS),
    },
    ["ignore", log, log],
  );
  closeSync(log);
  const until = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`web tier exited ${child.exitCode} (.data/e2e/web-restart.log)`);
    const ok = await fetch(`${BASE}/api/health`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return child;
    if (Date.now() > until) throw new Error("web tier did not answer within 90 s");
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function killWeb(): Promise<void> {
  const child = web;
  web = null;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

/** The VM's newest task as the VM route answers it (the page's own data). */
async function latestTask(page: Page) {
  const res = await page.request.get(`${BASE}/api/vms/${vm}`);
  const body = (await res.json()) as {
    data?: {
      tasks: { id: string; kind: string; status: string; resetAt: string | null; hardReset: boolean }[];
    };
  };
  return body.data?.tasks[0];
}

test.beforeAll(async () => {
  test.setTimeout(240_000);
  createUser(username, password);
  zaphod(["provision", username, vm, "--memory", "64", "--storage", "1", "--swap", "0"]);
  // The guest's init ignores Ctrl-Alt-Del from now on: only the hard reset brings it back.
  await runInGuest(
    vm,
    "sed -i 's#^::ctrlaltdel:.*#::ctrlaltdel:/bin/true#' /etc/inittab && kill -HUP 1 && echo cad-$((40+2))",
    /^cad-42/m,
  );
  web = await startWeb();
});

test.afterAll(async () => {
  await killWeb();
});

test("check 36: a web restart during the reboot's countdown changes nothing the member sees", async ({
  browser,
}) => {
  test.setTimeout(300_000);
  const context = await browser.newContext({ baseURL: BASE });
  const page = await context.newPage();
  try {
    await signIn(page, username, password);
    await expect(page.getByTestId("signed-in-user")).toContainText(username);
    await page.goto(`/vms/${vm}`);
    await expect(page.getByTestId("vm-state")).toHaveText("running", { timeout: 60_000 });
    await page.evaluate(() => {
      (window as unknown as { __noReload: boolean }).__noReload = true;
    });

    await page.getByRole("button", { name: "Reboot" }).click();
    await expect(page.getByTestId("reset-countdown")).toBeVisible({ timeout: (GRACE_SECONDS + 30) * 1000 });
    const before = await latestTask(page);
    expect(before).toMatchObject({ kind: "reboot", status: "running" });
    const resetAt = before?.resetAt ?? "";
    expect(Date.parse(resetAt) - Date.now()).toBeGreaterThan(20_000);

    // The web tier dies mid-countdown. The page keeps counting down to the same moment.
    await killWeb();
    await expect(page.getByTestId("reset-countdown")).toBeVisible();
    await expect(page.getByTestId("reset-countdown")).toHaveText(/Hard reset in 0:\d\d/);

    web = await startWeb();
    // The restarted tier shows the same task, the same countdown (the agent holds it).
    const after = await latestTask(page);
    expect(after).toMatchObject({ id: before?.id, kind: "reboot", status: "running", resetAt });
    await expect(page.getByTestId("reset-countdown")).toBeVisible();

    // At zero the agent hard-resets; the page (its stream reconnected by itself) shows the end.
    const latest = page.getByTestId("task").first();
    await expect(latest).toHaveAttribute("data-kind", "reboot");
    await expect(latest).toHaveAttribute("data-status", "succeeded", {
      timeout: (COUNTDOWN_SECONDS + 150) * 1000,
    });
    await expect(latest.getByTestId("task-outcome")).toHaveText("ended with a hard reset");
    await latest.locator("summary").click();
    await expect(latest).toContainText("Countdown over: hard reset");
    await expect(latest).toContainText("is up again");
    await expect(page.getByTestId("vm-state")).toHaveText("running");
    const ended = await latestTask(page);
    expect(ended).toMatchObject({ id: before?.id, status: "succeeded", hardReset: true });
    expect(await page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
    // The hard reset was the panel's (the countdown), once, in the VM's history.
    await page.reload();
    await expect(page.getByTestId("vm-history")).toContainText(
      "Hard-reset during a reboot by the panel itself",
    );
  } finally {
    await context.close();
  }
});
