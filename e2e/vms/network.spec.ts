/**
 * Issue 12's network pages in Chromium against the real agent. Without networking (an agent with
 * no ZAPHOD_NET_NETNS) every page says "no network" plainly; with it (the e2e stack's own
 * namespace), the VM has an address from provisioning with its MAC made from it, an address
 * outside the pool is refused with the reason, a rate limit shows on the VM page, the owner sees
 * the address. (Forwards: once the agent carries out forward.add, add them here.) Pictures at 1280 and 375 px
 * (.data/screenshots/network/) for a person to look at; every page fits 375 px.
 */
import { expect, type Page, test } from "@playwright/test";
import { macFromIPv4 } from "../../server/protocol/net";
import { E2E_IMAGE, storageState } from "../env";
import { createUser, newSignedInPage, uniqueName, zaphod } from "../helpers";

test.describe.configure({ mode: "serial" });

const owner = uniqueName("neto");
const password = "network-password-1";
const vm = owner;

async function shots(page: Page, name: string) {
  const before = page.viewportSize();
  for (const [width, label] of [
    [1280, "desktop"],
    [375, "phone"],
  ] as const) {
    await page.setViewportSize({ width, height: 800 });
    await page.screenshot({ path: `.data/screenshots/network/${name}-${label}.png`, fullPage: true });
    if (width === 375) {
      const { scroll, client } = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        client: document.documentElement.clientWidth,
      }));
      expect(scroll, `${page.url()} at 375 px`).toBeLessThanOrEqual(client);
    }
  }
  if (before) await page.setViewportSize(before);
}

test.beforeAll(() => {
  test.setTimeout(240_000); // real provisioning through the CLI and agent
  createUser(owner, password);
  zaphod([
    "provision",
    owner,
    vm,
    "--image",
    E2E_IMAGE,
    "--memory",
    "64",
    "--storage",
    "1",
    "--swap",
    "0",
    "--no-start",
  ]);
});

/** Whether the run's agent has a network (the e2e stack gives it a namespace of its own when root). */
async function networkIsOn(page: Page): Promise<boolean> {
  await page.goto("/admin/network");
  await expect(page.getByRole("heading", { name: "Network", level: 1 })).toBeVisible();
  return (await page.getByTestId("network-off").count()) === 0;
}

test.describe("admin", () => {
  test.use({ storageState: storageState.admin });

  test("the network pages: off says so plainly; on, the pool's use, forwards, the VM's address and rate limit", async ({
    page,
  }) => {
    test.setTimeout(180_000); // many full-page pictures on a shared, loaded machine
    const on = await networkIsOn(page);
    await shots(page, "admin-network");
    if (!on) {
      await expect(page.getByTestId("network-off")).toContainText("Networking is off on this host");
      await page.goto(`/vms/${vm}`);
      await expect(page.getByTestId("no-network")).toHaveText(/This VM has no network address/);
      await page.goto(`/admin/vms/${vm}`);
      await expect(page.getByTestId("vm-network-off")).toHaveText(/Networking is off on this host/);
      await page.goto("/admin/host");
      await expect(page.getByTestId("host-pool-use")).toHaveText(/Off: VMs get no network device/);
      await shots(page, "admin-host");
      return;
    }
    await expect(page.getByTestId("network-bridge")).toHaveText("zbr0");
    await expect(page.getByTestId("network-pool-use")).toHaveText(/^\d+ of \d+$/);

    // The VM got an address at provisioning; its MAC is made from it.
    await page.goto(`/vms/${vm}`);
    const ip = (await page.getByTestId("vm-ipv4").textContent())?.trim() ?? "";
    await expect(page.getByTestId("vm-mac")).toHaveText(macFromIPv4(ip));

    // The VM's address: one outside the pool is refused with the reason; a rate limit is kept.
    await page.goto(`/admin/vms/${vm}`);
    const form = page.getByTestId("vm-network-form");
    await form.getByLabel("IPv4 address").fill("192.0.2.7");
    await form.getByRole("button", { name: "Save network" }).click();
    await expect(page.getByRole("alert").filter({ hasText: "outside the VM address pool" })).toBeVisible();
    await form.getByLabel("IPv4 address").fill(ip);
    await form.getByLabel("Rate limit (kbit/s)").fill("2500");
    await form.getByRole("button", { name: "Save network" }).click();
    await expect(page.getByRole("status").filter({ hasText: "Saved" })).toBeVisible();
    await shots(page, "admin-vm");
    await page.goto(`/vms/${vm}`);
    await expect(page.getByTestId("vm-rate-limit")).toHaveText("2.5 Mbit/s");

    await page.goto("/admin/host");
    await expect(page.getByTestId("host-pool-use")).toHaveText(/^\d+ of \d+$/);
    await shots(page, "admin-host");
  });

  test("/admin/vms fits 375 px with VMs on it", async ({ page }) => {
    await page.goto("/admin/vms");
    await shots(page, "admin-vms");
  });
});

// A context of its own (not the admin's saved login): the owner signs in.
test.describe("the owner", () => {
  test.use({ storageState: { cookies: [], origins: [] } });

  test("sees the VM's network section (the address the admin page shows) and no network administration", async ({
    browser,
  }) => {
    const { context, page } = await newSignedInPage(browser, owner, password);
    await page.goto(`/vms/${vm}`);
    await expect(page.getByTestId("network-panel").getByRole("heading", { name: "Network" })).toBeVisible();
    await shots(page, "vm-page-member");
    expect((await page.goto("/admin/network"))?.status()).toBe(404);
    await context.close();
  });
});
