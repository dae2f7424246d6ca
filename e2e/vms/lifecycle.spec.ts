/**
 * The panel's main job on a real UML VM, in Chromium: the admin approves an account and provisions
 * its VM → the member sees it running (pushed, no reload) → reboots it and sees it come back →
 * shuts it down and starts it again; a guest that ignores Ctrl-Alt-Del gets the countdown to a
 * hard reset (at zero, and with "Hard reset now"); a reboot that ends while the page's event
 * stream is held back (the page loaded, the stream not yet through) is shown as ended once the
 * stream arrives, without a reload (its first message is a snapshot of the VM's tasks).
 */
import { type Browser, expect, type Page, test } from "@playwright/test";
import { REBOOT_COUNTDOWN_SECONDS, REBOOT_GRACE_SECONDS, storageState } from "../env";
import { createUser, newSignedInPage, uniqueName } from "../helpers";
import { runInGuest } from "./guest";

test.describe.configure({ mode: "serial" });

const username = uniqueName("vmu");
const password = "vm-member-password-1";
const vm = username;
let member: { page: Page; close: () => Promise<void> };

/** formatUptime's text ("42s", "3m 5s", "1h 2m", "2d 1h 0m") in seconds. */
function uptimeSeconds(text: string): number {
  const part = (unit: string) => Number(new RegExp(`(\\d+)${unit}`).exec(text)?.[1] ?? 0);
  return part("d") * 86400 + part("h") * 3600 + part("m") * 60 + part("s");
}

async function memberPage(browser: Browser) {
  const { context, page } = await newSignedInPage(browser, username, password);
  return { page, close: () => context.close() };
}

/** The latest task on the VM page, once it has ended. */
async function latestTaskEnds(page: Page, kind: string, status = "succeeded", timeout = 120_000) {
  const latest = page.getByTestId("task").first();
  await expect(latest).toHaveAttribute("data-kind", kind, { timeout: 15_000 });
  await expect(latest).toHaveAttribute("data-status", status, { timeout });
  return latest;
}

test.afterAll(async () => {
  await member?.close();
});

test("admin approves an account and provisions its VM; the member sees it running, live", async ({
  browser,
}) => {
  test.setTimeout(180_000);
  createUser(username, password, { pending: true });

  const adminContext = await browser.newContext({ storageState: storageState.admin });
  const admin = await adminContext.newPage();
  await admin.goto("/admin/accounts");
  await admin.getByRole("listitem", { name: username }).getByRole("button", { name: "Approve" }).click();
  await admin.getByRole("link", { name: `Provision VM for ${username}` }).click();
  await expect(admin).toHaveURL(/\/admin\/vms\?owner=/);

  // The member signs in meanwhile: no VM yet. The page stays open from here on.
  member = await memberPage(browser);
  await expect(member.page.getByText("You have no VM yet")).toBeVisible();
  await member.page.evaluate(() => {
    (window as unknown as { __noReload: boolean }).__noReload = true;
  });

  await expect(admin.getByLabel("Owner")).toHaveValue(/.+/);
  await expect(admin.getByLabel("Owner").locator("option:checked")).toContainText(username);
  await expect(admin.getByLabel("VM name")).toHaveValue(vm);
  await admin.getByLabel("Memory (MiB)").fill("64");
  await admin.getByLabel("Storage (GiB)").fill("1");
  await admin.getByLabel("Swap (MiB)").fill("64");
  // The overcommit warning appears before submitting when the host would be overcommitted.
  await admin.getByLabel("Memory (MiB)").fill("65536");
  await expect(admin.getByTestId("overcommit-warning")).toContainText("Memory overcommitted");
  await admin.getByLabel("Memory (MiB)").fill("64");
  await expect(admin.getByTestId("overcommit-warning")).toHaveCount(0);
  await admin.getByRole("button", { name: "Provision VM" }).click();
  await expect(admin.getByRole("status").filter({ hasText: `Provisioning ${vm}` })).toBeVisible();

  // Pushed to the member's open dashboard: the card appears, then "running" with uptime and memory.
  const card = member.page.getByRole("listitem", { name: `VM ${vm}` });
  await expect(card.getByTestId("vm-state")).toHaveText("running", { timeout: 120_000 });
  // Memory explains itself: what was configured, and what the guest's kernel left usable.
  await expect(card.getByTestId("vm-memory")).toContainText("64 MiB configured");
  await expect(card.getByTestId("vm-memory")).toContainText(/guest uses \d+ of \d+ MiB usable/);
  await expect(card.getByTestId("vm-uptime")).toHaveText(/\d+s|\d+m/);
  expect(await member.page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(
    true,
  );

  // The admin's list shows it with its owner; the provisioning task is in the history.
  await admin.goto("/admin/vms");
  await expect(admin.getByRole("listitem", { name: `VM ${vm}` })).toContainText(username);
  await adminContext.close();
});

test("the member reboots it and sees it come back", async () => {
  test.setTimeout(150_000);
  const page = member.page;
  await page.getByRole("link", { name: vm, exact: true }).click();
  await expect(page.getByRole("heading", { name: vm })).toBeVisible();
  await expect(page.getByRole("link", { name: "Open console" })).toHaveAttribute(
    "href",
    `/vms/${vm}/console`,
  );
  await expect(page.getByTestId("vm-state")).toHaveText("running");
  await page.getByRole("button", { name: "Reboot" }).click();
  await expect(page.getByTestId("current-task")).toContainText("Reboot");
  const task = await latestTaskEnds(page, "reboot");
  await task.locator("summary").click();
  // Graceful normally; on a heavily loaded host the countdown may have hard-reset it: either way it is back.
  await expect(task).toContainText("is up again");
  await expect(page.getByTestId("vm-state")).toHaveText("running");
  // In the history, in words.
  await expect(page.getByTestId("vm-history")).toContainText("Reboot requested by you");
  await expect(page.getByTestId("vm-history")).toContainText("Provisioned by admin");
});

test("the member shuts it down and starts it again", async () => {
  test.setTimeout(150_000);
  const page = member.page;
  await page.getByRole("button", { name: "Shut down" }).click();
  await latestTaskEnds(page, "shutdown");
  await expect(page.getByTestId("vm-state")).toHaveText("stopped");
  await expect(page.getByRole("button", { name: "Reboot" })).toHaveCount(0);
  await page.getByRole("button", { name: "Start" }).click();
  await latestTaskEnds(page, "start");
  await expect(page.getByTestId("vm-state")).toHaveText("running");
  await expect(page.getByTestId("vm-history")).toContainText("Shut down by you");
  await expect(page.getByTestId("vm-history")).toContainText("Started by you");
  await expect(page.getByTestId("vm-history")).not.toContainText("vm.");
});

test("a guest that ignores Ctrl-Alt-Del: countdown, hard reset at zero, and Hard reset now", async () => {
  test.setTimeout(240_000);
  const page = member.page;
  // The guest's init now ignores Ctrl-Alt-Del (persists on its disk).
  await runInGuest(
    vm,
    "sed -i 's#^::ctrlaltdel:.*#::ctrlaltdel:/bin/true#' /etc/inittab && kill -HUP 1 && echo cad-$((40+2))",
    /^cad-42/m,
  );

  // 1. Nobody clicks: at zero the panel hard-resets by itself. Meanwhile the badge says what the
  // reboot waits for and when the hard reset will be offered, not just "booting".
  await page.getByRole("button", { name: "Reboot" }).click();
  await expect(page.getByTestId("vm-state")).toHaveText("rebooting");
  await expect(page.getByTestId("vm-state-detail")).toContainText(
    /waiting for the guest, hard reset offered in 0:\d\d/,
  );
  await expect(page.getByTestId("reset-countdown")).toBeVisible({
    timeout: (REBOOT_GRACE_SECONDS + 20) * 1000,
  });
  await expect(page.getByRole("button", { name: "Hard reset now" })).toBeVisible();
  await expect(page.getByTestId("vm-state-detail")).toContainText(/not back yet, hard reset in 0:0\d/);
  let task = await latestTaskEnds(page, "reboot", "succeeded", (REBOOT_COUNTDOWN_SECONDS + 120) * 1000);
  // Listed as what it was: it needed a hard reset.
  await expect(task.getByTestId("task-outcome")).toHaveText("ended with a hard reset");
  await task.locator("summary").click();
  await expect(task).toContainText("Countdown over: hard reset");
  await expect(page.getByTestId("vm-state")).toHaveText("running");
  await expect(page.getByTestId("vm-history")).toContainText(
    "Hard-reset during a reboot by the panel itself",
  );

  // 2. "Hard reset now" does not wait for the countdown.
  await page.getByRole("button", { name: "Reboot" }).click();
  await page
    .getByRole("button", { name: "Hard reset now" })
    .click({ timeout: (REBOOT_GRACE_SECONDS + 20) * 1000 });
  task = await latestTaskEnds(page, "reboot");
  await task.locator("summary").click();
  await expect(task).toContainText("asked for a hard reset now");
  await expect(page.getByTestId("vm-history")).toContainText("Hard-reset during a reboot by you");
});

test("a reboot that ends while the event stream is held back shows as ended, without a reload", async () => {
  test.setTimeout(180_000);
  const page = member.page;
  const eventsUrl = `**/api/vms/${vm}/events`;
  // The guest still ignores Ctrl-Alt-Del: this reboot runs until someone hard-resets it.
  await page.getByRole("button", { name: "Reboot" }).click();
  await expect(page.getByTestId("vm-state")).toHaveText("rebooting");

  // From now on the page's event stream is held at the door, as during a slow (re)connect.
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  await page.route(eventsUrl, async (route) => {
    await released;
    await route.continue();
  });
  await page.reload();
  await page.evaluate(() => {
    (window as unknown as { __noReload: boolean }).__noReload = true;
  });
  const heldAt = Date.now();
  // Rendered on the server mid-reboot: the task runs and the buttons wait for it.
  await expect(page.getByTestId("current-task")).toContainText("Reboot");
  await expect(page.getByRole("button", { name: "Force off" })).toBeDisabled();

  // The member hard-resets it (the reboot's own hard reset); the reboot ends while the stream is held.
  const resetAt = Date.now();
  await page.getByRole("button", { name: "Hard reset", exact: true }).click();
  await page.getByRole("button", { name: "Yes, hard reset" }).click();
  await expect
    .poll(
      async () => {
        const res = await page.request.get(`/api/vms/${vm}`);
        // The route's answer: { ok: true, data: { …, tasks (newest first) } }.
        const body = (await res.json()) as { data?: { tasks: { kind: string; status: string }[] } };
        return body.data?.tasks[0]?.status;
      },
      { timeout: 120_000, intervals: [1000] },
    )
    .toBe("succeeded");
  // Held at least 12 s, as in the report; the page still shows the reboot running.
  await page.waitForTimeout(Math.max(0, 12_000 - (Date.now() - heldAt)));
  await expect(page.getByTestId("current-task")).toBeVisible();

  release();
  // The stream's first message (a snapshot) ends the task on the page: buttons back, no reload.
  await expect(page.getByTestId("current-task")).toHaveCount(0, { timeout: 10_000 });
  const latest = page.getByTestId("task").first();
  await expect(latest).toHaveAttribute("data-kind", "reboot");
  await expect(latest).toHaveAttribute("data-status", "succeeded");
  await expect(latest.getByTestId("task-outcome")).toHaveText("ended with a hard reset");
  await expect(page.getByRole("button", { name: "Force off" })).toBeEnabled();
  await expect(page.getByTestId("vm-state")).toHaveText("running");
  // The uptime is the new boot's: less than the time since the hard reset was asked for.
  const uptime = uptimeSeconds((await page.getByTestId("vm-uptime").textContent()) ?? "");
  expect(uptime).toBeLessThan((Date.now() - resetAt) / 1000 + 2);
  expect(await page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
  await page.unroute(eventsUrl);
});
