import { expect, test } from "@playwright/test";
import { ADMIN, storageState } from "./env";
import { createUser, formAlert, newSignedInPage, signIn, statusOf, uniqueName } from "./helpers";

test("request an account, the admin approves it, the member signs in", async ({ browser, page }) => {
  const username = uniqueName("new");
  const password = "a-long-password-1";

  await page.goto("/signup");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Email").fill(`${username}@example.org`);
  await page.getByLabel("Full name").fill("New Person");
  await page.getByLabel("Password").fill(password);
  await page.getByLabel("Note to the admin").fill("I am Ada's friend.");
  await page.getByRole("button", { name: "Request account" }).click();
  await expect(page.getByRole("heading", { name: "Request sent" })).toBeVisible();
  await expect(page.getByText("An admin will review it.")).toBeVisible();
  expect(statusOf(username)).toBe("pending");

  // While pending: signing in only shows that the request is waiting.
  await signIn(page, username, password);
  await expect(page).toHaveURL(/\/pending$/);
  await expect(page.getByRole("heading", { name: "Your request is waiting" })).toBeVisible();
  await page.goto("/");
  await expect(page).toHaveURL(/\/pending$/);

  // The admin approves it.
  const admin = await browser.newContext({ storageState: storageState.admin });
  const adminPage = await admin.newPage();
  await adminPage.goto("/admin/accounts");
  const item = adminPage.getByRole("listitem", { name: username });
  await expect(item).toContainText("I am Ada's friend.");
  await item.getByRole("button", { name: "Approve" }).click();
  await expect(adminPage.getByRole("listitem", { name: username }).getByText("active")).toBeVisible();
  expect(statusOf(username)).toBe("active");

  // The audit log shows the request and the approval.
  await adminPage.goto("/admin/audit?action=account.approve");
  await expect(adminPage.getByRole("row").filter({ hasText: username })).toHaveCount(1);
  await adminPage.goto("/admin/audit?action=account.request");
  await expect(adminPage.getByRole("row").filter({ hasText: username })).toHaveCount(1);
  await admin.close();

  // The member signs in and reaches the dashboard.
  const fresh = await browser.newContext();
  const memberPage = await fresh.newPage();
  await signIn(memberPage, username, password);
  await expect(memberPage).toHaveURL(/\/$/);
  await expect(memberPage.getByRole("heading", { name: "Your VMs" })).toBeVisible();
  await expect(memberPage.getByTestId("signed-in-user")).toContainText(username);
  await fresh.close();
});

test("sign-up keeps what was typed and explains bad input next to the field", async ({ page }) => {
  await page.goto("/signup");
  await page.getByLabel("Username").fill("Bad Name!");
  await page.getByLabel("Email").fill("not-an-email");
  await page.getByLabel("Full name").fill("Someone");
  await page.getByLabel("Password").fill("short");
  await page.getByLabel("Note to the admin").fill("hello");
  await page.getByRole("button", { name: "Request account" }).click();
  await expect(page.getByText("lowercase letters, digits and dashes")).toBeVisible();
  await expect(page.getByText("Enter an email address")).toBeVisible();
  await expect(page.getByText("At least 10 characters").first()).toBeVisible();
  await expect(page.getByLabel("Username")).toHaveValue("Bad Name!");
  await expect(page.getByLabel("Full name")).toHaveValue("Someone");
  await expect(page.getByLabel("Note to the admin")).toHaveValue("hello");
  await expect(page.getByLabel("Username")).toHaveAttribute("aria-invalid", "true");
});

test("a wrong password and an unknown user get the same answer", async ({ page }) => {
  await signIn(page, ADMIN.username, "not-the-password");
  const alert = formAlert(page);
  await expect(alert).toHaveText("Wrong username or password.");
  await expect(page).toHaveURL(/\/login$/);

  await signIn(page, "nobody-here", "not-the-password");
  await expect(formAlert(page)).toHaveText("Wrong username or password.");
});

test("check 8: a pending user is kept out of every member page", async ({ browser }) => {
  const username = uniqueName("pend");
  createUser(username, "pending-password-1", { pending: true });
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, username, "pending-password-1");
  await expect(page).toHaveURL(/\/pending$/);
  for (const path of ["/", "/admin/accounts", "/admin/audit"]) {
    await page.goto(path);
    await expect(page).toHaveURL(/\/pending$/);
  }
  const me = await page.request.get("/api/me");
  expect(me.status()).toBe(401);
  await context.close();
});

test("a suspended user is kept out at once and told why and whom to ask", async ({ browser }) => {
  const username = uniqueName("susp");
  createUser(username, "suspend-password-1");
  const { context, page } = await newSignedInPage(browser, username, "suspend-password-1");
  await expect(page.getByRole("heading", { name: "Your VMs" })).toBeVisible();

  const admin = await browser.newContext({ storageState: storageState.admin });
  const adminPage = await admin.newPage();
  await adminPage.goto("/admin/accounts");
  const item = adminPage.getByRole("listitem", { name: username });
  // Suspend asks first; Cancel changes nothing.
  await item.getByRole("button", { name: "Suspend" }).click();
  const confirm = item.getByRole("form", { name: `Suspend ${username}` });
  await expect(confirm).toContainText("Suspend this account?");
  await confirm.getByRole("button", { name: "Cancel" }).click();
  await expect(confirm).toHaveCount(0);
  expect(statusOf(username)).toBe("active");
  await item.getByRole("button", { name: "Suspend" }).click();
  await confirm.getByLabel(`Reason (optional, ${username} sees it)`).fill("Mining coins on the shared host.");
  await confirm.getByRole("button", { name: "Suspend account" }).click();
  await expect(item.getByText("suspended")).toBeVisible();

  // The same, already signed-in browser: no session on the next request, a page that says why.
  await page.reload();
  await expect(page).toHaveURL(/\/account-status$/);
  await expect(page.getByRole("heading", { name: "Your account is suspended" })).toBeVisible();
  await expect(page.getByTestId("status-reason")).toHaveText("Mining coins on the shared host.");
  await expect(page.getByTestId("status-contacts")).toContainText("Ada Admin");
  await expect(page.getByTestId("status-contacts")).toContainText("admin@example.org");
  expect((await page.request.get("/api/me")).status()).toBe(401);
  for (const path of ["/", "/pending", "/account"]) {
    await page.goto(path);
    await expect(page).toHaveURL(/\/account-status$/);
  }

  // A fresh browser signing in with the right password sees the same page, not a bare error.
  const fresh = await browser.newContext();
  const freshPage = await fresh.newPage();
  await signIn(freshPage, username, "suspend-password-1");
  await expect(freshPage).toHaveURL(/\/account-status$/);
  await expect(freshPage.getByTestId("status-reason")).toHaveText("Mining coins on the shared host.");
  await freshPage.getByRole("button", { name: "Sign in as someone else" }).click();
  await expect(freshPage).toHaveURL(/\/login$/);
  await freshPage.goto("/account-status");
  await expect(freshPage).toHaveURL(/\/login$/);
  // A wrong password learns nothing about the account.
  await signIn(freshPage, username, "not-the-password-1");
  await expect(formAlert(freshPage)).toHaveText("Wrong username or password.");
  await fresh.close();

  // Reactivated: can sign in again.
  await item.getByRole("button", { name: "Reactivate" }).click();
  await expect(item.getByText("active")).toBeVisible();
  await signIn(page, username, "suspend-password-1");
  await expect(page.getByRole("heading", { name: "Your VMs" })).toBeVisible();
  await admin.close();
  await context.close();
});

test("reject asks first and the person sees the reason", async ({ browser }) => {
  const username = uniqueName("rej");
  createUser(username, "reject-password-1", { pending: true });
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, username, "reject-password-1");
  await expect(page).toHaveURL(/\/pending$/);

  const admin = await browser.newContext({ storageState: storageState.admin });
  const adminPage = await admin.newPage();
  await adminPage.goto("/admin/accounts");
  const item = adminPage.getByRole("listitem", { name: username });
  await item.getByRole("button", { name: "Reject" }).click();
  const confirm = item.getByRole("form", { name: `Reject ${username}` });
  await expect(confirm).toContainText("Reject this request?");
  await confirm.getByLabel(/Reason/).fill("We only take members of the lab.");
  await confirm.getByRole("button", { name: "Reject request" }).click();
  await expect(adminPage.getByRole("listitem", { name: username }).getByText("rejected")).toBeVisible();
  expect(statusOf(username)).toBe("rejected");

  await page.reload();
  await expect(page).toHaveURL(/\/account-status$/);
  await expect(page.getByRole("heading", { name: "Your account request was not approved" })).toBeVisible();
  await expect(page.getByTestId("status-reason")).toHaveText("We only take members of the lab.");
  await admin.close();
  await context.close();
});

test("sign out ends the session", async ({ browser }) => {
  const username = uniqueName("out");
  createUser(username, "signout-password-1");
  const { context, page } = await newSignedInPage(browser, username, "signout-password-1");
  // The account menu on every page holds Sign out.
  await page.getByTestId("signed-in-user").click();
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);
  await context.close();
});

test("failed sign-ins are rate limited per account", async ({ page }) => {
  const username = uniqueName("rl");
  createUser(username, "ratelimit-password-1");
  for (let i = 0; i < 5; i++) {
    await signIn(page, username, `wrong-${i}`);
    await expect(formAlert(page)).toHaveText("Wrong username or password.");
  }
  // Even the right password is refused now, with a clear wait time.
  await signIn(page, username, "ratelimit-password-1");
  await expect(formAlert(page)).toHaveText(/Too many attempts\. Try again in \d+ minutes?\./);
});
