/**
 * VM quotas per member (issue 14 point 8) in the browser: the admin gives a member their own
 * limits on the VMs page, the provision form is refused with the limit named (no VM made), and
 * the member's dashboard says where they stand. Only a fresh member's own limits are set: the
 * defaults stay "no limit" for the specs that provision at the same time.
 */
import { expect, test } from "@playwright/test";
import { storageState } from "../env";
import { createUser, signIn, uniqueName } from "../helpers";

test.use({ storageState: storageState.admin });

test("a member's own VM limits: set on the VMs page, a provision past them refused, shown on their dashboard", async ({
  page,
  browser,
}) => {
  test.setTimeout(120_000);
  const member = uniqueName("quota");
  const password = "vm-quota-member-password-1";
  createUser(member, password);

  await page.goto("/admin/vms");
  const row = page.getByTestId("member-vm-quota").and(page.locator(`[data-username="${member}"]`));
  await expect(row).toContainText("0 VMs (no limit)");
  await row.getByLabel(`VM count limit for ${member}`).fill("0");
  await row.getByLabel(`Memory limit in MiB for ${member}`).fill("256");
  await row.getByRole("button", { name: "Save" }).click();
  await expect(row.getByRole("status")).toHaveText("Saved.");
  await expect(row).toContainText(
    "0 of 0 VMs (own limit) · 0 of 256 MiB memory (own limit) · 0 GiB storage (no limit)",
  );

  // The provision form for them is refused, naming the limit; no VM appears.
  const vm = uniqueName("qvm");
  const owner = page.getByLabel("Owner");
  await owner.selectOption({
    label: (await owner.locator("option", { hasText: member }).textContent()) ?? "",
  });
  await page.getByLabel("Start it now").uncheck();
  await page.getByLabel("VM name").fill(vm);
  await page.getByLabel("Memory (MiB)").fill("64");
  await page.getByLabel("Storage (GiB)").fill("1");
  await page.getByRole("button", { name: "Provision VM" }).click();
  await expect(
    page.getByText(`${member} may have 0 VMs (their own limit) and has 0: raise their VM limit first`),
  ).toBeVisible();
  await page.reload();
  await expect(page.getByRole("listitem", { name: `VM ${vm}` })).toHaveCount(0);

  // The member sees their limits on the dashboard.
  // A context of its own, signed out (this file's contexts carry the admin's cookies).
  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  const theirs = await context.newPage();
  await signIn(theirs, member, password);
  await expect(theirs.getByTestId("signed-in-user")).toContainText(member);
  await theirs.goto("/");
  await expect(theirs.getByTestId("own-vm-quota")).toHaveText(
    "Your limits: 0 of 0 VMs · 0 of 256 MiB memory · 0 GiB storage (no limit). Ask the admin for more.",
  );
  await theirs.screenshot({ path: ".data/e2e/vm-quota-dashboard.png", fullPage: true });
  await page.screenshot({ path: ".data/e2e/vm-quota-admin.png", fullPage: true });
  await context.close();
});
