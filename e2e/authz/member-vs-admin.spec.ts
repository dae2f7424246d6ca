import { expect, test } from "@playwright/test";
import { BASE_URL, DB_FILE, storageState } from "../env";
import { createUser, serverActionId, statusOf, uniqueName } from "../helpers";

test.describe("a member gets nothing admin", () => {
  test.use({ storageState: storageState.member });

  test("admin pages answer 404 and show nothing", async ({ page }) => {
    for (const path of ["/admin/accounts", "/admin/audit"]) {
      const res = await page.goto(path);
      expect(res?.status(), path).toBe(404);
      await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
      await expect(page.getByText("Pending requests")).toHaveCount(0);
    }
    // The navigation does not offer them either.
    await page.goto("/");
    await expect(page.getByRole("link", { name: "Accounts" })).toHaveCount(0);
  });

  test("admin route handlers refuse, even with a correct Origin", async ({ page }) => {
    const target = uniqueName("victim");
    createUser(target, "victim-password-1", { pending: true });
    const list = await page.request.get("/api/admin/accounts");
    expect(list.status()).toBe(403);
    expect(JSON.stringify(await list.json())).not.toContain("admin@example.org");

    const post = await page.request.post("/api/admin/accounts", {
      headers: { Origin: BASE_URL, "Content-Type": "application/json" },
      data: { userId: "00000000-0000-4000-8000-000000000000", change: "approve" },
    });
    expect(post.status()).toBe(403);
    expect((await post.json()).error.code).toBe("forbidden");
    expect(statusOf(target)).toBe("pending");
  });

  test("calling the admin server action directly is refused", async ({ page }) => {
    const target = uniqueName("victim");
    createUser(target, "victim-password-1", { pending: true });
    // The member learns the user id somehow (ids are not secret); the action must still refuse.
    const id = await userIdOf(target);
    const res = await page.request.post("/admin/accounts", {
      headers: {
        Origin: BASE_URL,
        "Next-Action": serverActionId("changeAccountStatusAction"),
        "Content-Type": "text/plain;charset=UTF-8",
        Accept: "text/x-component",
      },
      data: JSON.stringify([{ userId: id, change: "approve" }]),
    });
    const body = await res.text();
    expect(body).not.toContain('"ok":true');
    expect(statusOf(target)).toBe("pending");
  });
});

test.describe("check 5: mutations need our Origin", () => {
  test.use({ storageState: storageState.admin });

  for (const [label, origin] of [
    ["a foreign Origin", "http://evil.example"],
    ["Origin: null", "null"],
    ["a look-alike Origin", `${BASE_URL}.evil.example`],
  ] as const) {
    test(`${label} gets 403 even for the admin`, async ({ page }) => {
      const target = uniqueName("orig");
      createUser(target, "origin-password-1", { pending: true });
      const res = await page.request.post("/api/admin/accounts", {
        headers: { Origin: origin, "Content-Type": "application/json" },
        data: { userId: await userIdOf(target), change: "approve" },
      });
      expect(res.status()).toBe(403);
      expect((await res.json()).error.code).toBe("bad-origin");
      expect(statusOf(target)).toBe("pending");
    });
  }

  test("a missing Origin gets 403", async ({ playwright }) => {
    const target = uniqueName("orig");
    createUser(target, "origin-password-1", { pending: true });
    const ctx = await playwright.request.newContext({ baseURL: BASE_URL, storageState: storageState.admin });
    const res = await ctx.post("/api/admin/accounts", {
      data: { userId: await userIdOf(target), change: "approve" },
    });
    expect(res.status()).toBe(403);
    expect(statusOf(target)).toBe("pending");
    await ctx.dispose();
  });

  test("the admin with the right Origin succeeds (the check is not a blanket refusal)", async ({ page }) => {
    const target = uniqueName("orig");
    createUser(target, "origin-password-1", { pending: true });
    const res = await page.request.post("/api/admin/accounts", {
      headers: { Origin: BASE_URL, "Content-Type": "application/json" },
      data: { userId: await userIdOf(target), change: "approve" },
    });
    expect(res.status()).toBe(200);
    expect(statusOf(target)).toBe("active");
  });

  test("a server action with a foreign Origin is refused", async ({ page }) => {
    const target = uniqueName("orig");
    createUser(target, "origin-password-1", { pending: true });
    const res = await page.request.post("/admin/accounts", {
      headers: {
        Origin: "http://evil.example",
        "Next-Action": serverActionId("changeAccountStatusAction"),
        "Content-Type": "text/plain;charset=UTF-8",
        Accept: "text/x-component",
      },
      data: JSON.stringify([{ userId: await userIdOf(target), change: "approve" }]),
    });
    expect(await res.text()).not.toContain('"ok":true');
    expect(statusOf(target)).toBe("pending");
  });
});

async function userIdOf(username: string): Promise<string> {
  const { default: Database } = await import("better-sqlite3");
  const db = new Database(DB_FILE, { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare("SELECT id FROM User WHERE username = ?").get(username) as
      | { id: string }
      | undefined;
    if (!row) throw new Error(`no user ${username}`);
    return row.id;
  } finally {
    db.close();
  }
}
