/**
 * The provisioning form keeps what the admin chose when a submit is refused (owner, "Start it
 * now"), and a stale error goes away once a submit succeeds. No VM boots here ("Start it now" is
 * off): the agent only creates the disks.
 */
import { expect, test } from "@playwright/test";
import { storageState } from "../env";
import { createUser, uniqueName } from "../helpers";

test.use({ storageState: storageState.admin });

test("a refused submit keeps the chosen owner and start choice; success clears the error", async ({
  page,
}) => {
  test.setTimeout(120_000);
  // Owners are listed by username: "zz-…" sorts after every other account, so it is never the first.
  const first = uniqueName("aa-pf");
  const chosen = uniqueName("zz-pf");
  createUser(first, "provision-form-password-1");
  createUser(chosen, "provision-form-password-1");

  await page.goto("/admin/vms");
  const owner = page.getByLabel("Owner");
  const firstOption = await owner.locator("option").first().textContent();
  expect(firstOption).not.toContain(chosen);
  await owner.selectOption({
    label: (await owner.locator("option", { hasText: chosen }).textContent()) ?? "",
  });
  const start = page.getByLabel("Start it now");
  await expect(start).toBeChecked();
  await start.uncheck();
  await page.getByLabel("Memory (MiB)").fill("64");
  await page.getByLabel("Storage (GiB)").fill("1");
  await page.getByLabel("Swap (MiB)").fill("64");

  // 1. A bad name is refused: everything chosen stays.
  await page.getByLabel("VM name").fill("Bad Name");
  await page.getByRole("button", { name: "Provision VM" }).click();
  const form = page.locator("form").filter({ has: page.getByLabel("Owner") });
  await expect(form.getByRole("alert")).toContainText("Please check the highlighted fields.");
  await expect(owner.locator("option:checked")).toContainText(chosen);
  await expect(start).not.toBeChecked();
  await expect(page.getByLabel("VM name")).toHaveValue("Bad Name");
  await expect(page.getByLabel("VM name")).toHaveAttribute("aria-invalid", "true");
  await expect(page.getByLabel("Memory (MiB)")).toHaveValue("64");

  // 2. A valid name: provisioned for the chosen owner, the error is gone.
  const vm = uniqueName("pf");
  await page.getByLabel("VM name").fill(vm);
  await page.getByRole("button", { name: "Provision VM" }).click();
  await expect(page.getByRole("status").filter({ hasText: `Provisioning ${vm}` })).toBeVisible({
    timeout: 60_000,
  });
  await expect(form.getByRole("alert")).toHaveCount(0);
  await expect(page.getByLabel("VM name")).not.toHaveAttribute("aria-invalid", "true");
  await expect(page.getByText("Lowercase letters, digits, dashes.")).toBeVisible();
  await expect(owner.locator("option:checked")).toContainText(chosen);
  await expect(start).not.toBeChecked();

  // 3. The same name again is taken: refused, owner and start choice kept.
  await page.getByLabel("VM name").fill(vm);
  await page.getByRole("button", { name: "Provision VM" }).click();
  await expect(page.getByText("A VM with this name exists")).toBeVisible();
  await expect(owner.locator("option:checked")).toContainText(chosen);
  await expect(start).not.toBeChecked();

  // The VM belongs to the chosen member, and it was not started.
  await page.reload();
  const card = page.getByRole("listitem", { name: `VM ${vm}` });
  await expect(card).toContainText(chosen);
  await expect(card).not.toContainText(first);
  await expect(card.getByTestId("vm-state")).toHaveText("stopped", { timeout: 60_000 });
});
