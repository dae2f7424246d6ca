// The quick start's promise, checked as a newcomer would: the demo member signs in with the
// password up.sh printed and finds the demo VM running.
import { expect, test } from "@playwright/test";

test("the demo member signs in and sees the running demo VM", async ({ page }) => {
  await page.goto("/login");
  await page.getByLabel("Username or email").fill(process.env.QS_USER ?? "");
  await page.getByLabel("Password").fill(process.env.QS_PASSWORD ?? "");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("signed-in-user")).toContainText("demo");
  await expect(page.getByRole("listitem", { name: "VM demo" }).getByTestId("vm-state")).toHaveText("running");
  await page.goto("/vms/demo");
  await expect(page.getByTestId("vm-state")).toHaveText("running");
});
