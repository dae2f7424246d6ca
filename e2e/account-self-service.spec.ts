/**
 * A member changes their password on /account (other sessions end, this one stays); the admin
 * issues a one-time reset link (accounts page, and `zaphod reset-link`) that sets a new password
 * once and ends every session.
 */
import { type Browser, expect, test } from "@playwright/test";
import { BASE_URL, serverEnv, storageState } from "./env";
import { createUser, formAlert, newSignedInPage, signIn, uniqueName, zaphod } from "./helpers";

async function signedIn(browser: Browser, username: string, password: string) {
  return newSignedInPage(browser, username, password);
}

test("change password: the current one is required, other sessions end, this one stays", async ({
  browser,
}) => {
  const username = uniqueName("pw");
  createUser(username, "old-password-123");
  const a = await signedIn(browser, username, "old-password-123");
  const b = await signedIn(browser, username, "old-password-123");

  // The account menu leads to /account.
  await a.page.getByTestId("signed-in-user").click();
  await a.page.getByRole("link", { name: "Your account" }).click();
  await expect(a.page).toHaveURL(/\/account$/);
  await expect(a.page.getByRole("heading", { name: "Your account" })).toBeVisible();
  await expect(a.page.getByText(`${username}@example.org`).last()).toBeVisible();

  const form = a.page.getByRole("form", { name: "Change password" });
  await form.getByLabel("Current password").fill("wrong-password-1");
  await form.getByLabel("New password", { exact: true }).fill("new-password-456");
  await form.getByLabel("Repeat the new password").fill("new-password-456");
  await form.getByRole("button", { name: "Change password" }).click();
  await expect(a.page.getByText("This is not your current password")).toBeVisible();
  // Nothing typed is lost.
  await expect(form.getByLabel("New password", { exact: true })).toHaveValue("new-password-456");

  await form.getByLabel("Current password").fill("old-password-123");
  await form.getByLabel("Repeat the new password").fill("new-password-789");
  await form.getByRole("button", { name: "Change password" }).click();
  await expect(a.page.getByText("The two new passwords differ")).toBeVisible();

  await form.getByLabel("Repeat the new password").fill("new-password-456");
  await form.getByRole("button", { name: "Change password" }).click();
  await expect(a.page.getByRole("status").filter({ hasText: "Password changed" })).toBeVisible();
  await expect(a.page).toHaveURL(/\/account\?changed=1$/);
  await expect(form.getByLabel("Current password")).toHaveValue("");

  // This browser stays signed in; the other one is signed out on its next request.
  await a.page.reload();
  await expect(a.page.getByRole("heading", { name: "Your account" })).toBeVisible();
  await b.page.reload();
  await expect(b.page).toHaveURL(/\/login$/);

  await signIn(b.page, username, "old-password-123");
  await expect(formAlert(b.page)).toHaveText("Wrong username or password.");
  await signIn(b.page, username, "new-password-456");
  await expect(b.page.getByTestId("signed-in-user")).toContainText(username);
  await a.context.close();
  await b.context.close();
});

test("the admin's one-time reset link sets a new password once and ends every session", async ({
  browser,
}) => {
  const username = uniqueName("rs");
  createUser(username, "forgotten-password-1");
  const member = await signedIn(browser, username, "forgotten-password-1");

  const admin = await browser.newContext({ storageState: storageState.admin });
  const adminPage = await admin.newPage();
  await adminPage.goto("/admin/accounts");
  const item = adminPage.getByRole("listitem", { name: username });
  await item.getByRole("button", { name: `Reset link for ${username}` }).click();
  const shown = item.getByTestId("reset-link");
  await expect(shown).toContainText("It works once");
  const link = await shown.getByRole("textbox").inputValue();
  expect(link).toMatch(new RegExp(`^${BASE_URL}/reset/[A-Za-z0-9_-]{43}$`));
  await admin.close();

  const anon = await browser.newContext();
  const page = await anon.newPage();
  await page.goto(link);
  await expect(page.getByRole("heading", { name: "Set a new password" })).toBeVisible();
  await expect(page.getByText(`(${username})`)).toBeVisible();
  await page.getByLabel("New password", { exact: true }).fill("reset-password-123");
  await page.getByLabel("Repeat the new password").fill("reset-password-999");
  await page.getByRole("button", { name: "Set new password" }).click();
  await expect(page.getByText("The two passwords differ")).toBeVisible();
  await page.getByLabel("Repeat the new password").fill("reset-password-123");
  await page.getByRole("button", { name: "Set new password" }).click();
  await expect(page).toHaveURL(/\/login\?reset=1$/);
  await expect(page.getByRole("status").filter({ hasText: "Your new password is set" })).toBeVisible();
  await signIn(page, username, "reset-password-123");
  await expect(page.getByTestId("signed-in-user")).toContainText(username);

  // The member's earlier session has ended; the link does not work twice.
  await member.page.reload();
  await expect(member.page).toHaveURL(/\/login$/);
  await page.goto(link);
  await expect(page.getByRole("heading", { name: "This link no longer works" })).toBeVisible();
  await anon.close();
  await member.context.close();
});

test("zaphod reset-link prints a link on the panel's origin; the newest link replaces older ones", async ({
  browser,
}) => {
  const username = uniqueName("rc");
  createUser(username, "cli-reset-password-1");
  const cli = () =>
    zaphod(["reset-link", username], undefined, { ZAPHOD_ORIGINS: serverEnv.ZAPHOD_ORIGINS }).trim();
  const first = cli();
  const second = cli();
  expect(first).toMatch(new RegExp(`^${BASE_URL}/reset/[A-Za-z0-9_-]{43}$`));
  expect(second).not.toBe(first);

  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(first);
  await expect(page.getByRole("heading", { name: "This link no longer works" })).toBeVisible();
  await page.goto(second);
  await page.getByLabel("New password", { exact: true }).fill("cli-new-password-1");
  await page.getByLabel("Repeat the new password").fill("cli-new-password-1");
  await page.getByRole("button", { name: "Set new password" }).click();
  await expect(page).toHaveURL(/\/login\?reset=1$/);
  await signIn(page, username, "cli-new-password-1");
  await expect(page.getByTestId("signed-in-user")).toContainText(username);
  await context.close();
});
