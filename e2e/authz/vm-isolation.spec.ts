/**
 * Member B gets the same 404 for member A's VM as for a VM that does not exist: pages, route
 * handlers, server actions (called directly, bypassing the UI) and event streams. The admin can
 * see and act on it. A's VM is provisioned with the CLI and left stopped (no boot needed).
 */
import { expect, type Page, test } from "@playwright/test";
import { BASE_URL, storageState } from "../env";
import { createUser, serverActionId, uniqueName, zaphod } from "../helpers";

const owner = uniqueName("vmo");
const vm = owner;
const missing = "no-such-vm-here";

test.beforeAll(() => {
  test.setTimeout(240_000); // real provisioning through the CLI and agent
  createUser(owner, "vm-owner-password-1");
  zaphod(["provision", owner, vm, "--memory", "32", "--storage", "1", "--swap", "16", "--no-start"]);
});

/** Collects a page's Server-Sent Events for a while (EventSource, as the UI uses it). */
async function collectEvents(page: Page, url: string, whileDoing: () => Promise<void>, ms = 4000) {
  await page.evaluate((u) => {
    const w = window as unknown as { __events: string[]; __source: EventSource };
    w.__events = [];
    w.__source = new EventSource(u);
    // "snapshot" is each stream's first message: what the caller may see, in one piece.
    for (const type of ["snapshot", "vm", "task", "ready"])
      w.__source.addEventListener(type, (e) => w.__events.push(`${type} ${(e as MessageEvent).data}`));
  }, url);
  await page.waitForFunction(() =>
    (window as unknown as { __events: string[] }).__events.some((e) => e.startsWith("ready")),
  );
  await whileDoing();
  await page.waitForTimeout(ms);
  return page.evaluate(() => {
    const w = window as unknown as { __events: string[]; __source: EventSource };
    w.__source.close();
    return w.__events;
  });
}

test.describe("check 2: member B and member A's VM", () => {
  test.use({ storageState: storageState.member });

  test("pages answer 404, like a missing VM", async ({ page }) => {
    for (const name of [vm, missing]) {
      const res = await page.goto(`/vms/${name}`);
      expect(res?.status(), name).toBe(404);
      await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
      await expect(page.getByText(owner)).toHaveCount(0);
    }
    // The dashboard does not list it.
    await page.goto("/");
    await expect(page.getByText(vm)).toHaveCount(0);
  });

  test("route handlers answer 404 (status, actions, per-VM events), like a missing VM", async ({ page }) => {
    const r = page.request;
    for (const name of [vm, missing]) {
      const status = await r.get(`/api/vms/${name}`);
      expect(status.status(), `GET ${name}`).toBe(404);
      const action = await r.post(`/api/vms/${name}/actions`, {
        headers: { Origin: BASE_URL },
        data: { action: "start" },
      });
      expect(action.status(), `POST ${name}`).toBe(404);
      const events = await r.get(`/api/vms/${name}/events`);
      expect(events.status(), `events ${name}`).toBe(404);
      expect(await events.text()).not.toContain("event:");
    }
    const list = await r.get("/api/vms");
    expect(list.status()).toBe(200);
    expect(await list.text()).not.toContain(vm);
    // Admin-only endpoints stay closed.
    expect((await r.get("/api/admin/vms")).status()).toBe(403);
  });

  test("the server action answers not-found and nothing happens", async ({ page }) => {
    await page.goto("/");
    for (const name of [vm, missing]) {
      // Posted to the VM page's route, the page whose module graph holds the action (the dashboard
      // no longer imports it: pages pass actions to components as props).
      const res = await page.request.post(`/vms/${name}`, {
        headers: {
          Origin: BASE_URL,
          "Next-Action": serverActionId("vmPowerAction"),
          "Content-Type": "text/plain;charset=UTF-8",
          Accept: "text/x-component",
        },
        data: JSON.stringify([{ name, action: "start" }]),
      });
      const body = await res.text();
      expect(body).not.toContain('"ok":true');
      expect(body).toContain('"not-found"');
    }
    // Still stopped, and no task was recorded for it.
    const admin = await page
      .context()
      .browser()
      ?.newContext({ storageState: storageState.admin, baseURL: BASE_URL });
    const status = await admin?.request.get(`/api/vms/${vm}`);
    const json = (await status?.json()) as { data: { live: { state: string }; tasks: unknown[] } };
    expect(json.data.live.state).toBe("stopped");
    expect(json.data.tasks.filter((t) => (t as { kind: string }).kind === "start")).toHaveLength(0);
    await admin?.close();
  });

  test("B's event stream carries nothing of A's VM while the admin's does", async ({ page, browser }) => {
    const adminContext = await browser.newContext({ storageState: storageState.admin });
    const adminPage = await adminContext.newPage();
    await adminPage.goto("/");
    await page.goto("/");
    // Something happens on A's VM: the admin asks to shut it down (refused, it is stopped: a task event).
    const poke = async () => {
      const res = await adminPage.request.post(`/api/vms/${vm}/actions`, {
        headers: { Origin: BASE_URL },
        data: { action: "shutdown" },
      });
      expect(res.status()).toBe(409);
    };
    const [bEvents, adminEvents] = await Promise.all([
      collectEvents(page, "/api/events", async () => undefined, 5000),
      collectEvents(adminPage, "/api/events", poke, 4000),
    ]);
    expect(adminEvents.join("\n")).toContain(vm);
    expect(bEvents.join("\n")).not.toContain(vm);
    await adminContext.close();
  });
});

test.describe("the admin and member A's VM", () => {
  test.use({ storageState: storageState.admin });

  test("sees it (page, API) and can act on it", async ({ page }) => {
    await page.goto(`/vms/${vm}`);
    await expect(page.getByRole("heading", { name: vm })).toBeVisible();
    await expect(page.getByText(`Owned by ${owner}`)).toBeVisible();
    await expect(page.getByRole("button", { name: "Start" })).toBeVisible();
    const res = await page.request.get(`/api/vms/${vm}`);
    expect(res.status()).toBe(200);
    // Acting is allowed (the agent answers; a stopped VM cannot be forced off: 409, not 404).
    const act = await page.request.post(`/api/vms/${vm}/actions`, {
      headers: { Origin: BASE_URL },
      data: { action: "poweroff" },
    });
    expect(act.status()).toBe(409);
    // The per-VM event stream opens for the admin.
    const events = await collectEvents(page, `/api/vms/${vm}/events`, async () => undefined, 500);
    expect(events.some((e) => (e.startsWith("snapshot ") || e.startsWith("vm ")) && e.includes(vm))).toBe(
      true,
    );
  });
});
