import { expect, test } from "@playwright/test";
import { MEMBER } from "./env";
import { signIn } from "./helpers";

test("check 6: the session cookie is HttpOnly and SameSite=Lax, and changes at sign-in", async ({
  page,
  context,
}) => {
  await context.addCookies([
    { name: "authjs.session-token", value: "planted-by-attacker", url: "http://127.0.0.1" },
  ]);
  await signIn(page, MEMBER.username, MEMBER.password);
  await expect(page.getByTestId("signed-in-user")).toBeVisible();
  const cookie = (await context.cookies()).find((c) => c.name === "authjs.session-token");
  expect(cookie).toBeDefined();
  expect(cookie?.httpOnly).toBe(true);
  expect(cookie?.sameSite).toBe("Lax");
  expect(cookie?.value).not.toBe("planted-by-attacker");
});

test("a forged session cookie is no session", async ({ browser }) => {
  const context = await browser.newContext();
  await context.addCookies([
    { name: "authjs.session-token", value: "eyJhbGciOiJub25lIn0.e30.", url: "http://127.0.0.1" },
  ]);
  const page = await context.newPage();
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);
  expect((await page.request.get("/api/me")).status()).toBe(401);
  await context.close();
});
