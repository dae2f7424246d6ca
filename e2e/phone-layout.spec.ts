/**
 * At 375 px nothing hides off the side: the admin's links sit in a Menu, the account menu holds
 * Sign out, and the wide tables are stacked rows (no sideways scroll on any page).
 */
import { expect, type Page, test } from "@playwright/test";
import { storageState } from "./env";

test.use({ viewport: { width: 375, height: 740 } });

async function noSidewaysScroll(page: Page) {
  const { scroll, client } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  expect(scroll, page.url()).toBeLessThanOrEqual(client);
}

test.describe("admin", () => {
  test.use({ storageState: storageState.admin });

  test("the links are in a Menu that fits; every admin page fits the width", async ({ page }) => {
    await page.goto("/admin/accounts");
    const main = page.getByRole("navigation", { name: "Main" });
    await expect(main).toHaveCount(0); // closed: nothing of it is shown or announced
    await page.getByText("Menu", { exact: true }).click();
    await expect(main.getByRole("link")).toHaveText([
      "Dashboard",
      "Accounts",
      "VMs",
      "Snapshots",
      "Host",
      "Network",
      "Audit log",
    ]);
    for (const link of await main.getByRole("link").all()) {
      const box = await link.boundingBox();
      expect(box && box.x >= 0 && box.x + box.width <= 375).toBe(true);
    }
    await main.getByRole("link", { name: "Audit log" }).click();
    await expect(page).toHaveURL(/\/admin\/audit$/);
    await expect(page.getByRole("heading", { name: "Audit log" })).toBeVisible();
    await expect(main).toHaveCount(0); // closed after navigating

    for (const path of [
      "/",
      "/admin/accounts",
      "/admin/vms",
      "/admin/snapshots",
      "/admin/host",
      "/admin/network",
      "/admin/audit",
      "/account",
    ]) {
      await page.goto(path);
      await noSidewaysScroll(page);
    }
  });

  test("audit rows are stacked with their column names", async ({ page }) => {
    await page.goto("/admin/audit");
    const row = page.getByRole("row").nth(1); // the newest event (row 0 is the header row)
    await expect(row).toBeVisible();
    const box = await row.boundingBox();
    expect(box && box.width <= 375).toBe(true);
    // Each cell shows its column's name before the value.
    const label = await row
      .getByRole("cell")
      .nth(1)
      .evaluate((td) => getComputedStyle(td, "::before").content);
    expect(label).toBe('"Action"');
    // The header row is kept for screen readers only.
    const head = await page.locator("thead").boundingBox();
    expect(head && head.height <= 1).toBe(true);
  });
});

test.describe("member", () => {
  test.use({ storageState: storageState.member });

  test("the account menu holds Sign out and leads to /account", async ({ page }) => {
    await page.goto("/");
    await noSidewaysScroll(page);
    await page.getByTestId("signed-in-user").click();
    const yourAccount = page.getByRole("link", { name: "Your account" });
    await expect(yourAccount).toBeInViewport();
    await expect(page.getByRole("button", { name: "Sign out" })).toBeInViewport();
    await page.keyboard.press("Escape");
    await expect(yourAccount).toBeHidden();
    await page.getByTestId("signed-in-user").click();
    await yourAccount.click();
    await expect(page).toHaveURL(/\/account$/);
    await noSidewaysScroll(page);
  });
});
