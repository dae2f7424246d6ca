// Without root the quick start runs every VM as the invoking user, and the admin is told so.
import { expect, test } from "@playwright/test";

test("the admin's host page says the VMs run unconfined, as the agent's own user", async ({ page }) => {
  await page.goto("/login");
  await page.getByLabel("Username or email").fill(process.env.QS_USER ?? "");
  await page.getByLabel("Password").fill(process.env.QS_PASSWORD ?? "");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("signed-in-user")).toContainText("admin");
  await page.goto("/admin/host");
  await expect(page.getByTestId("unprivileged-notice")).toContainText(
    "every VM runs as the agent's own host user, unconfined",
  );
});
