/**
 * THE session check fails closed (security.md check 8): whatever Auth.js hands back that is not a
 * whole, current session of an existing active or pending user is no session. The Auth.js cookie
 * is stood in for by a mocked `auth()` (as in sessions.itest.ts); the users are real rows.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

const state = vi.hoisted(() => ({ auth: (async () => null) as () => Promise<unknown> }));
vi.mock("../auth/auth", () => ({ auth: () => state.auth(), SESSION_MAX_AGE_S: 7 * 24 * 3600 }));

const { setupTestDb } = await import("../testing/test-db");
const { getSession } = await import("./get-session");
const { revokeSession } = await import("./revoke-session");
const { unsafeCreateUser } = await import("./unsafe-create-user");

let t: Awaited<ReturnType<typeof setupTestDb>>;
const now = () => Math.floor(Date.now() / 1000);
const users: Record<string, { uid: string; sv: number }> = {};

async function userWithStatus(username: string, status: string) {
  const { id } = await unsafeCreateUser("cli", {
    username,
    email: `${username}@example.org`,
    name: username,
    password: `${username}-password-1`,
    role: "member",
  });
  const row = await t.db.user.update({ where: { id }, data: { status } });
  users[username] = { uid: id, sv: row.sessionVersion };
}
const tokenOf = (username: string, extra: Record<string, unknown> = {}) => {
  const u = users[username];
  if (!u) throw new Error(`no user ${username}`);
  return { uid: u.uid, sv: u.sv, sid: `${username}-sid`, sat: now() - 60, ...extra };
};
async function sessionFor(auth: () => Promise<unknown>) {
  state.auth = auth;
  return getSession();
}

beforeAll(async () => {
  t = await setupTestDb();
  for (const [name, status] of [
    ["gate-active", "active"],
    ["gate-pending", "pending"],
    ["gate-suspended", "suspended"],
    ["gate-rejected", "rejected"],
    ["gate-bumped", "active"],
    ["gate-signedout", "active"],
  ] as const)
    await userWithStatus(name, status);
});
afterAll(async () => t?.close());

describe("getSession fails closed (check 8: approval gate)", () => {
  it("a whole, current session of an active member is one (the positive control)", async () => {
    expect(await sessionFor(async () => tokenOf("gate-active"))).toMatchObject({ status: "active" });
  });

  it("check 8: auth() throwing, or answering an empty session (a JWT from an interrupted flow), is no session", async () => {
    const { uid, sv } = tokenOf("gate-active");
    const attempts: [string, () => Promise<unknown>][] = [
      ["auth() throws", async () => Promise.reject(new Error("JWTSessionError"))],
      ["null", async () => null],
      ["an empty object", async () => ({})],
      ["an error object (a failed session request)", async () => ({ error: "Configuration" })],
      ["only a random user id, as an interrupted OAuth flow leaves", async () => ({ user: { id: "r" } })],
      ["no session version", async () => ({ uid, sid: "s", sat: now() })],
      ["no session id", async () => ({ uid, sv, sat: now() })],
      ["no sign-in time", async () => ({ uid, sv, sid: "s" })],
      ["a uid of the wrong type", async () => tokenOf("gate-active", { uid: 42 })],
      ["an unknown uid", async () => tokenOf("gate-active", { uid: "3f0c9f4e-3a57-4a39-9a59-4d6f0f3b8a11" })],
      [
        "older than the absolute lifetime",
        async () => tokenOf("gate-active", { sat: now() - 8 * 24 * 3600 }),
      ],
    ];
    for (const [what, auth] of attempts) expect(await sessionFor(auth), what).toBeNull();
  });

  it("check 8: a token of a suspended, rejected, signed-out or re-versioned user is no session", async () => {
    expect(await sessionFor(async () => tokenOf("gate-suspended"))).toBeNull();
    expect(await sessionFor(async () => tokenOf("gate-rejected"))).toBeNull();
    const bumped = users["gate-bumped"];
    if (!bumped) throw new Error("no user");
    await t.db.user.update({ where: { id: bumped.uid }, data: { sessionVersion: { increment: 1 } } });
    expect(await sessionFor(async () => tokenOf("gate-bumped"))).toBeNull();
    const signedOut = tokenOf("gate-signedout");
    await revokeSession({ ...signedOut, signedInAt: new Date(signedOut.sat * 1000) });
    expect(await sessionFor(async () => signedOut)).toBeNull();
  });

  it("check 8: a pending user's session says pending (the wrappers and pages keep them out)", async () => {
    expect(await sessionFor(async () => tokenOf("gate-pending"))).toMatchObject({ status: "pending" });
  });
});
