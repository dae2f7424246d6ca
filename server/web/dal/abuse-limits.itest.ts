/**
 * Abuse limits (issue 11 point 6) against a real database: sign-in limits that hold under
 * concurrency and count an account's username and email as one, sign-up limited per address and in
 * total, a sign-up that never tells whether an email is registered, console tickets limited per
 * user, expired rows pruned in bounded batches.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hitRateLimit, SIGNIN_RULES, SIGNUP_RULES, TICKET_RULE } from "../auth/rate-limit";
import { ActionFailure } from "../errors";
import { pruneExpired } from "../housekeeping";
import { setupTestDb, type TestDb } from "../testing/test-db";
import { authenticateCredentials } from "./authenticate-credentials";
import type { Caller } from "./caller";
import { takeConsoleTicketBudget } from "./console-ticket-budget";
import { requestAccount } from "./request-account";
import { unsafeCreateUser } from "./unsafe-create-user";

let t: TestDb;
beforeAll(async () => {
  t = await setupTestDb();
  await unsafeCreateUser("cli", {
    username: "target",
    email: "target@example.org",
    name: "Target",
    password: "target-password-1",
    role: "member",
  });
});
afterAll(async () => t?.close());

async function failure(p: Promise<unknown>): Promise<ActionFailure> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ActionFailure) return e;
    throw e;
  }
  throw new Error("expected a failure");
}

const request = (username: string, email: string, ip: string) =>
  requestAccount(
    { username, email, name: "Someone", password: "a-long-password-1", note: "" },
    { ip, userAgent: null },
  );

describe("sign-in limits", () => {
  it("check 11: 50 parallel wrong passwords get no more password checks than the limit", async () => {
    const meta = { ip: "203.0.113.50", userAgent: null };
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        authenticateCredentials({ identifier: "target", password: `wrong-${i}` }, meta),
      ),
    );
    const checked = outcomes.filter((o) => !o.ok && o.reason === "bad-credentials").length;
    const limited = outcomes.filter((o) => !o.ok && o.reason === "rate-limited").length;
    expect(checked).toBe(SIGNIN_RULES.account.limit);
    expect(limited).toBe(50 - SIGNIN_RULES.account.limit);
  });

  it("check 11: an account's username and email count as one account", async () => {
    await unsafeCreateUser("cli", {
      username: "twonames",
      email: "twonames@example.org",
      name: "Two Names",
      password: "twonames-password-1",
      role: "member",
    });
    const meta = { ip: "203.0.113.51", userAgent: null };
    const outcomes = [];
    for (let i = 0; i < 10; i++)
      outcomes.push(
        await authenticateCredentials(
          { identifier: i % 2 ? "twonames" : "TwoNames@Example.org", password: `wrong-${i}` },
          meta,
        ),
      );
    expect(outcomes.filter((o) => !o.ok && o.reason === "bad-credentials")).toHaveLength(
      SIGNIN_RULES.account.limit,
    );
    expect(outcomes.at(-1)).toMatchObject({ ok: false, reason: "rate-limited" });
  });
});

describe("sign-up", () => {
  it("check 11: limited per address: the next request is refused with when to retry, and creates nothing", async () => {
    const ip = "203.0.113.60";
    for (let i = 0; i < SIGNUP_RULES.address.limit; i++)
      await request(`flood-${i}`, `flood-${i}@example.org`, ip);
    const refused = await failure(request("flood-x", "flood-x@example.org", ip));
    expect(refused.code).toBe("rate-limited");
    expect(refused.message).toMatch(/^Too many account requests\. Try again in \d+ minutes?\.$/);
    expect(await t.db.user.count({ where: { username: "flood-x" } })).toBe(0);
    // Another address may still ask.
    await request("other-addr", "other-addr@example.org", "203.0.113.61");
  });

  it("check 11: limited in total, whatever the address", async () => {
    for (let i = 0; i < SIGNUP_RULES.total.limit; i++)
      await hitRateLimit(t.db, "signup:total", SIGNUP_RULES.total);
    const refused = await failure(request("spread-1", "spread-1@example.org", "198.18.0.1"));
    expect(refused.code).toBe("rate-limited");
    await t.db.rateLimit.deleteMany({ where: { key: "signup:total" } });
  });

  it("check 50: a registered email gets the same answer as a new one; a taken username says so", async () => {
    const ip = "203.0.113.70";
    const fresh = await request("newcomer", "newcomer@example.org", ip);
    const taken = await request("impostor", "TARGET@example.org", ip);
    expect(taken).toEqual({ username: "impostor" });
    expect(Object.keys(taken)).toEqual(Object.keys(fresh));
    expect(await t.db.user.count({ where: { username: "impostor" } })).toBe(0);
    const dup = await failure(request("newcomer", "someone-else@example.org", ip));
    expect(dup.fieldErrors).toEqual({ username: "This username is taken" });
    expect(JSON.stringify(dup)).not.toContain("email");
  });
});

describe("console tickets", () => {
  it("are limited per user; another user is not affected", async () => {
    const u = await t.db.user.findUniqueOrThrow({ where: { username: "target" } });
    const caller = { id: u.id, username: u.username } as Caller;
    for (let i = 0; i < TICKET_RULE.limit; i++) await takeConsoleTicketBudget(caller);
    const refused = await failure(takeConsoleTicketBudget(caller));
    expect(refused.code).toBe("rate-limited");
    expect(refused.message).toMatch(/^Too many console connections; try again in \d+ s\.$/);
    await takeConsoleTicketBudget({ ...caller, id: "someone-else" });
  });
});

describe("housekeeping", () => {
  it("prunes expired rate-limit, ticket and sign-out rows in bounded batches, and nothing live", async () => {
    const past = new Date(Date.now() - 60_000);
    const future = new Date(Date.now() + 60_000);
    await t.db.rateLimit.deleteMany({});
    await t.db.rateLimit.createMany({
      data: [
        ...Array.from({ length: 7 }, (_, i) => ({
          key: `old-${i}`,
          count: 1,
          windowStart: past,
          expiresAt: past,
        })),
        { key: "live", count: 1, windowStart: past, expiresAt: future },
      ],
    });
    await t.db.revokedSession.createMany({
      data: [
        { id: "old-sid", userId: "u", expiresAt: past },
        { id: "live-sid", userId: "u", expiresAt: future },
      ],
    });
    const u = await t.db.user.findUniqueOrThrow({ where: { username: "target" } });
    await t.db.vm.create({
      data: {
        id: "vm-hk",
        name: "hk-vm",
        ownerId: u.id,
        image: "debian",
        memoryMiB: 256,
        storageGiB: 1,
        swapMiB: 0,
      },
    });
    await t.db.consoleTicket.createMany({
      data: [
        { id: "t-old", tokenHash: "h-old", userId: u.id, vmId: "vm-hk", expiresAt: past },
        { id: "t-live", tokenHash: "h-live", userId: u.id, vmId: "vm-hk", expiresAt: future },
      ],
    });
    // A CLI run that never said goodbye two hours ago, and a live web instance.
    const hoursAgo = new Date(Date.now() - 2 * 3600_000);
    await t.db.webInstance.createMany({
      data: [
        { id: "cli@gone", kind: "cli", startedAt: hoursAgo, heartbeatAt: hoursAgo },
        { id: "web@live", kind: "web" },
      ],
    });
    expect(await pruneExpired(t.db, new Date(), 5)).toEqual({
      rateLimits: 5,
      tickets: 1,
      revokedSessions: 1,
      instances: 1,
    });
    expect(await pruneExpired(t.db, new Date(), 5)).toEqual({
      rateLimits: 2,
      tickets: 0,
      revokedSessions: 0,
      instances: 0,
    });
    expect((await t.db.webInstance.findMany()).map((r) => r.id)).toEqual(["web@live"]);
    expect((await t.db.rateLimit.findMany()).map((r) => r.key)).toEqual(["live"]);
    expect((await t.db.consoleTicket.findMany()).map((r) => r.id)).toEqual(["t-live"]);
    expect((await t.db.revokedSession.findMany()).map((r) => r.id)).toEqual(["live-sid"]);
  });
});
