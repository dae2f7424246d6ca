/**
 * Issue 11 points 5, 7 and 8 against the production server: sign-out ends the session on the
 * server, event streams are capped per user, server actions with a foreign Origin or an oversized
 * body get a clear 403/413, and a database write lock held by another process freezes nothing.
 */
import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import { expect, test } from "@playwright/test";
import { BASE_URL, DB_FILE, storageState } from "../env";
import { createUser, newSignedInPage, serverActionId, statusOf, uniqueName } from "../helpers";
import { userIdOf } from "./user-id";

test("check 7: a cookie kept from before sign-out gets 401; the same user's other browser stays signed in", async ({
  browser,
}) => {
  const user = uniqueName("signout");
  createUser(user, "signout-password-1");
  const laptop = await newSignedInPage(browser, user, "signout-password-1");
  const phone = await newSignedInPage(browser, user, "signout-password-1");
  const kept = (await laptop.context.cookies()).find((c) => c.name === "authjs.session-token");
  expect(kept).toBeDefined();
  expect((await laptop.page.request.get("/api/me")).status()).toBe(200);

  await laptop.page.getByTestId("signed-in-user").click();
  await laptop.page.getByRole("button", { name: "Sign out" }).click();
  await expect(laptop.page).toHaveURL(/\/login$/);

  // The attacker replays the copy of the cookie taken before the sign-out.
  const replay = await browser.newContext();
  if (kept) await replay.addCookies([kept]);
  expect((await replay.request.get("/api/me")).status()).toBe(401);
  await replay.close();
  expect((await phone.page.request.get("/api/me")).status()).toBe(200);
  await laptop.context.close();
  await phone.context.close();
});

/** Opens GET /api/events with the member's cookie; resolves with the status once headers arrive. */
function openStream(
  cookie: string,
): Promise<{ status: number; body: () => Promise<string>; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${BASE_URL}/api/events`, { headers: { cookie }, agent: false }, (res) => {
      resolve({
        status: res.statusCode ?? 0,
        body: () =>
          new Promise((done) => {
            let text = "";
            res.on("data", (d: Buffer) => {
              text += d.toString();
            });
            res.on("end", () => done(text));
          }),
        close: () => req.destroy(),
      });
    });
    req.on("error", reject);
  });
}

test("check 20: at most 20 open event streams per member; the next gets 429 with a clear message", async ({
  browser,
}) => {
  const user = uniqueName("streams");
  createUser(user, "streams-password-1");
  const { context } = await newSignedInPage(browser, user, "streams-password-1");
  const cookie = (await context.cookies())
    .filter((c) => c.name === "authjs.session-token")
    .map((c) => `${c.name}=${c.value}`)
    .join("; ");
  await context.close();
  const streams = [];
  for (let i = 0; i < 20; i++) streams.push(await openStream(cookie));
  expect(streams.map((s) => s.status)).toEqual(Array(20).fill(200));
  const extra = await openStream(cookie);
  expect(extra.status).toBe(429);
  expect(JSON.parse(await extra.body()).error.message).toMatch(/Too many open live views \(at most 20\)/);
  // Closing streams gives the slots back.
  for (const s of streams) s.close();
  await expect
    .poll(async () => {
      const s = await openStream(cookie);
      s.close();
      return s.status;
    })
    .toBe(200);
});

test("check 7: a suspended member's open event stream closes at once", async ({ browser, playwright }) => {
  const user = uniqueName("suspendsse");
  createUser(user, "suspendsse-password-1");
  const { context } = await newSignedInPage(browser, user, "suspendsse-password-1");
  const cookie = (await context.cookies())
    .filter((c) => c.name === "authjs.session-token")
    .map((c) => `${c.name}=${c.value}`)
    .join("; ");
  const stream = await openStream(cookie);
  expect(stream.status).toBe(200);
  const ended = stream.body();
  const admin = await playwright.request.newContext({ baseURL: BASE_URL, storageState: storageState.admin });
  const res = await admin.post("/api/admin/accounts", {
    headers: { Origin: BASE_URL, "Content-Type": "application/json" },
    data: { userId: userIdOf(user), change: "suspend" },
  });
  expect(res.status()).toBe(200);
  const t0 = Date.now();
  await ended;
  expect(Date.now() - t0).toBeLessThan(1_000);
  await admin.dispose();
  await context.close();
});

test.describe("server actions before Next", () => {
  test.use({ storageState: storageState.admin });

  test("check 4: a foreign Origin gets 403 and an oversized body 413, and nothing happens", async ({
    page,
  }) => {
    const target = uniqueName("bigbody");
    createUser(target, "bigbody-password-1", { pending: true });
    const headers = (origin: string) => ({
      Origin: origin,
      "Next-Action": serverActionId("changeAccountStatusAction"),
      "Content-Type": "text/plain;charset=UTF-8",
      Accept: "text/x-component",
    });
    const foreign = await page.request.post("/admin/accounts", {
      headers: headers("http://evil.example"),
      data: JSON.stringify([{ userId: "x", change: "approve" }]),
    });
    expect(foreign.status()).toBe(403);
    expect(await foreign.text()).toContain("did not come from this site");
    const big = await page.request.post("/admin/accounts", {
      headers: headers(BASE_URL),
      data: JSON.stringify([{ userId: "x", change: "approve", reason: "x".repeat(70 * 1024) }]),
    });
    expect(big.status()).toBe(413);
    expect(await big.text()).toContain("too large");
    expect(statusOf(target)).toBe("pending");
  });
});

test.describe("the database is locked by another process", () => {
  test.use({ storageState: storageState.admin });
  let holder: ChildProcess | undefined;
  test.afterEach(() => {
    if (holder?.pid && holder.exitCode === null) holder.kill("SIGKILL");
  });

  test("check 37: health and pages stay fast; a write answers 503 with Retry-After, then works again", async ({
    page,
  }) => {
    const target = uniqueName("locked");
    createUser(target, "locked-password-1", { pending: true });
    const userId = userIdOf(target);
    const code = `
      const Database = require("better-sqlite3");
      const db = new Database(${JSON.stringify(DB_FILE)});
      db.prepare("BEGIN IMMEDIATE").run();
      process.stdout.write("locked\\n");
      setTimeout(() => { db.prepare("ROLLBACK").run(); db.close(); }, 8000);
    `;
    holder = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) =>
      holder?.stdout?.on("data", (d: Buffer) => d.includes("locked") && resolve()),
    );

    const write = page.request.post("/api/admin/accounts", {
      headers: { Origin: BASE_URL, "Content-Type": "application/json" },
      data: { userId, change: "approve" },
    });
    // While the write waits for the lock, health answers at once.
    const t0 = Date.now();
    expect((await page.request.get("/api/health")).status()).toBe(200);
    expect(Date.now() - t0).toBeLessThan(1_000);
    const res = await write;
    expect(res.status()).toBe(503);
    expect(res.headers()["retry-after"]).toBe("2");
    expect((await res.json()).error.message).toBe("The database is busy; try again in a moment.");
    expect(statusOf(target)).toBe("pending");

    holder.kill("SIGKILL");
    await new Promise((r) => holder?.once("exit", r));
    const again = await page.request.post("/api/admin/accounts", {
      headers: { Origin: BASE_URL, "Content-Type": "application/json" },
      data: { userId, change: "approve" },
    });
    expect(again.status()).toBe(200);
  });
});
