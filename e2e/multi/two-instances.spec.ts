/**
 * Two web instances on one PostgreSQL behave as one (issue 13 point 1). Real processes: a private
 * PostgreSQL (scripts/pg-start.sh) with a database of this spec's, two production web tiers of the
 * run's release on their own ports (as the run's web user, the run's agent), Chromium.
 *
 * - an action on one instance shows live in a browser on the other (the task's progress and end
 *   reach it over LISTEN/NOTIFY; the VM's state from its own agent subscription);
 * - presence is shared: an admin opening a member's console on one instance shows on the other
 *   (the notice, and each in the other's list of people watching);
 * - a suspension on one closes a console held by the other within 5 s;
 * - kill -9 of the instance that follows a reboot during its countdown loses nothing: the other
 *   adopts the task once the dead one's heartbeat is stale and settles it, and its browser shows
 *   the hard reset and the task succeeded without a reload.
 */
import type { ChildProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { type Browser, expect, type Page, test } from "@playwright/test";
import pg from "pg";
import { E2E_PORT } from "../env";
import { signIn, spawnWebTier, uniqueName, zaphod } from "../helpers";
import { runInGuest } from "../vms/guest";

test.describe.configure({ mode: "serial" });

const PORTS = [E2E_PORT + 2, E2E_PORT + 3] as const;
const BASES = PORTS.map((p) => `http://127.0.0.1:${p}`);
const GRACE_SECONDS = 5;
const COUNTDOWN_SECONDS = 40;
const DB_NAME = "zaphod_e2e_multi";

const admin = { username: uniqueName("madm"), password: "multi-admin-password-1" };
const member = { username: uniqueName("mmem"), password: "multi-member-password-1" };
const vm = member.username;
let databaseUrl = "";
const webs: (ChildProcess | null)[] = [null, null];

const cli = (args: string[], stdin?: string) => zaphod(args, stdin, { DATABASE_URL: databaseUrl });

/** Starts web instance `n` (0 or 1) on the spec's database and waits for its health check. */
async function startWeb(n: 0 | 1): Promise<void> {
  mkdirSync(".data/e2e", { recursive: true });
  const log = openSync(`.data/e2e/web-multi-${n}.log`, "a");
  const child = spawnWebTier(
    {
      PORT: String(PORTS[n]),
      DATABASE_URL: databaseUrl,
      ZAPHOD_ORIGINS: BASES[n] as string,
      ZAPHOD_REBOOT_GRACE_SECONDS: String(GRACE_SECONDS),
      ZAPHOD_REBOOT_COUNTDOWN_SECONDS: String(COUNTDOWN_SECONDS),
    },
    ["ignore", log, log],
  );
  closeSync(log);
  webs[n] = child;
  const until = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`web instance ${n} exited ${child.exitCode}`);
    const ok = await fetch(`${BASES[n]}/api/health`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return;
    if (Date.now() > until) throw new Error(`web instance ${n} did not answer within 90 s`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function killWeb(n: 0 | 1): Promise<void> {
  const child = webs[n];
  webs[n] = null;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

async function pageOn(browser: Browser, n: 0 | 1, who: { username: string; password: string }) {
  const context = await browser.newContext({ baseURL: BASES[n] });
  const page = await context.newPage();
  await signIn(page, who.username, who.password);
  await expect(page.getByTestId("signed-in-user")).toContainText(who.username);
  return { context, page };
}

const latestTask = (page: Page) => page.getByTestId("task").first();
const consoleStatus = (page: Page) =>
  page.getByRole("toolbar", { name: "Console controls" }).getByRole("status");

test.beforeAll(async () => {
  test.setTimeout(300_000);
  const url = execFileSync("scripts/pg-start.sh", { encoding: "utf8" }).trim();
  const root = new pg.Client({ connectionString: url });
  await root.connect();
  try {
    await root.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`);
    await root.query(`CREATE DATABASE ${DB_NAME}`);
  } finally {
    await root.end();
  }
  databaseUrl = url.replace(/\/[^/]+$/, `/${DB_NAME}`);
  cli(["migrate"]);
  cli(["create-admin", admin.username, "--email", `${admin.username}@example.org`], `${admin.password}\n`);
  cli(["create-user", member.username, "--email", `${member.username}@example.org`], `${member.password}\n`);
  cli(["provision", member.username, vm, "--memory", "64", "--storage", "1", "--swap", "0"]);
  await Promise.all([startWeb(0), startWeb(1)]);
});

test.afterAll(async () => {
  await Promise.all([killWeb(0), killWeb(1)]);
  // The VM goes with the run's agent (global teardown); the database with the private PostgreSQL.
  execFileSync("scripts/pg-stop.sh");
});

test("an action on one instance shows live in a browser on the other", async ({ browser }) => {
  test.setTimeout(180_000);
  const one = await pageOn(browser, 0, member);
  const two = await pageOn(browser, 1, member);
  try {
    await two.page.goto(`/vms/${vm}`);
    await expect(two.page.getByTestId("vm-state")).toHaveText("running", { timeout: 60_000 });
    await two.page.evaluate(() => {
      (window as unknown as { __noReload: boolean }).__noReload = true;
    });
    await one.page.goto(`/vms/${vm}`);
    await one.page.getByRole("button", { name: "Shut down" }).click();
    // Instance two did not start it and follows nothing: the task comes over the bus.
    await expect(latestTask(two.page)).toHaveAttribute("data-kind", "shutdown", { timeout: 15_000 });
    await expect(latestTask(two.page)).toHaveAttribute("data-status", "succeeded", { timeout: 90_000 });
    await expect(two.page.getByTestId("vm-state")).toHaveText("stopped");
    await two.page.getByRole("button", { name: "Start" }).click();
    await expect(latestTask(one.page)).toHaveAttribute("data-kind", "start", { timeout: 15_000 });
    await expect(latestTask(one.page)).toHaveAttribute("data-status", "succeeded", { timeout: 90_000 });
    await expect(one.page.getByTestId("vm-state")).toHaveText("running");
    expect(await two.page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(
      true,
    );
  } finally {
    await Promise.all([one.context.close(), two.context.close()]);
  }
});

test("kill -9 of the instance following a reboot loses nothing: the other settles it", async ({
  browser,
}) => {
  test.setTimeout(300_000);
  // The guest's init ignores Ctrl-Alt-Del from now on: only the countdown's hard reset brings it back.
  await runInGuest(
    vm,
    "sed -i 's#^::ctrlaltdel:.*#::ctrlaltdel:/bin/true#' /etc/inittab && kill -HUP 1 && echo cad-$((40+2))",
    /^cad-42/m,
  );
  const one = await pageOn(browser, 0, member);
  const two = await pageOn(browser, 1, member);
  try {
    await two.page.goto(`/vms/${vm}`);
    await expect(two.page.getByTestId("vm-state")).toHaveText("running", { timeout: 60_000 });
    await one.page.goto(`/vms/${vm}`);
    await one.page.getByRole("button", { name: "Reboot" }).click();
    await expect(two.page.getByTestId("reset-countdown")).toBeVisible({
      timeout: (GRACE_SECONDS + 30) * 1000,
    });
    // Instance one, which follows the task, dies mid-countdown; nobody restarts it.
    await one.context.close();
    await killWeb(0);
    const latest = latestTask(two.page);
    await expect(latest).toHaveAttribute("data-kind", "reboot");
    await expect(latest).toHaveAttribute("data-status", "succeeded", {
      timeout: (COUNTDOWN_SECONDS + 120) * 1000,
    });
    await expect(latest.getByTestId("task-outcome")).toHaveText("ended with a hard reset");
    await latest.locator("summary").click();
    await expect(latest).toContainText("Countdown over: hard reset");
    await expect(two.page.getByTestId("vm-state")).toHaveText("running");
  } finally {
    await two.context.close();
  }
  await startWeb(0);
});

test("presence is shared: an admin opening the console on one instance shows on the other", async ({
  browser,
}) => {
  test.setTimeout(120_000);
  const two = await pageOn(browser, 1, member);
  const one = await pageOn(browser, 0, admin);
  try {
    await two.page.goto(`/vms/${vm}/console`);
    await expect(consoleStatus(two.page)).toHaveText("Live", { timeout: 30_000 });
    await one.page.goto(`/vms/${vm}/console`);
    await expect(consoleStatus(one.page)).toHaveText("Live", { timeout: 30_000 });
    await expect(
      two.page.getByRole("alert").filter({ hasText: `Admin ${admin.username} opened this console.` }),
    ).toBeVisible();
    const watching = (page: Page) => page.getByRole("list", { name: "People watching this console" });
    await expect(watching(two.page)).toContainText(`${admin.username} (admin)`);
    await expect(watching(one.page)).toContainText(member.username);
    await one.page.close();
    await expect(watching(two.page)).not.toContainText(admin.username);
  } finally {
    await Promise.all([one.context.close(), two.context.close()]);
  }
});

test("the host page lists both web instances, this one marked", async ({ browser }) => {
  const one = await pageOn(browser, 0, admin);
  try {
    await one.page.goto("/admin/host");
    const list = one.page.getByRole("list", { name: "Web instances" });
    await expect(list.getByRole("listitem")).toHaveCount(2);
    await expect(list).toContainText(`:${PORTS[0]} (this page)`);
    await expect(list).toContainText(`:${PORTS[1]}`);
    // For a person to look at (.data/screenshots/multi/).
    await one.page.screenshot({ path: ".data/screenshots/multi/admin-host.png", fullPage: true });
  } finally {
    await one.context.close();
  }
});

test("a suspension on one instance closes a console held by the other within 5 s", async ({ browser }) => {
  test.setTimeout(120_000);
  const two = await pageOn(browser, 1, member);
  const one = await pageOn(browser, 0, admin);
  try {
    await two.page.goto(`/vms/${vm}/console`);
    await expect(consoleStatus(two.page)).toHaveText("Live", { timeout: 30_000 });
    await one.page.goto("/admin/accounts");
    const row = one.page.getByRole("listitem", { name: member.username });
    await row.getByRole("button", { name: "Suspend" }).click();
    const t0 = Date.now();
    await row.getByRole("button", { name: "Suspend account" }).click();
    await expect(consoleStatus(two.page)).toHaveText("Closed. Access to this console was revoked.", {
      timeout: 5_000,
    });
    console.log(`console on instance two closed ${Date.now() - t0} ms after the suspension on instance one`);
  } finally {
    await Promise.all([one.context.close(), two.context.close()]);
  }
});
