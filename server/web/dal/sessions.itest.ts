/**
 * Sessions end when they should (issue 11 point 5): sign-out revokes this session's id on the
 * server, other sessions of the same user go on, tokens older than the absolute lifetime count no
 * more. The Auth.js cookie is stood in for by a mocked `auth()` returning the decoded token.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

const state = vi.hoisted(() => ({ token: null as Record<string, unknown> | null }));
vi.mock("../auth/auth", () => ({ auth: async () => state.token, SESSION_MAX_AGE_S: 7 * 24 * 3600 }));

const { setupTestDb } = await import("../testing/test-db");
const { getSession, getSessionToken } = await import("./get-session");
const { revokeSession, unsafePruneRevokedSessions } = await import("./revoke-session");
const { unsafeCreateUser } = await import("./unsafe-create-user");

let t: Awaited<ReturnType<typeof setupTestDb>>;
let uid: string;
let sv: number;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  t = await setupTestDb();
  ({ id: uid } = await unsafeCreateUser("cli", {
    username: "sess-member",
    email: "sess-member@example.org",
    name: "Sess Member",
    password: "sess-member-password-1",
    role: "member",
  }));
  ({ sessionVersion: sv } = await t.db.user.update({ where: { id: uid }, data: { status: "active" } }));
});
afterAll(async () => t?.close());

describe("sessions", () => {
  it("check 7: a cookie kept from before sign-out is no session; the user's other browser stays signed in", async () => {
    const laptop = { uid, sv, sid: "laptop-session-id", sat: now() };
    const phone = { uid, sv, sid: "phone-session-id", sat: now() };
    state.token = laptop;
    expect((await getSession())?.id).toBe(uid);
    // Sign-out (app/actions/auth.ts) revokes the token it reads.
    const token = await getSessionToken();
    if (!token) throw new Error("no token");
    await revokeSession(token);
    await revokeSession(token); // twice is harmless
    state.token = laptop; // the kept copy of the cookie
    expect(await getSession()).toBeNull();
    state.token = phone;
    expect((await getSession())?.id).toBe(uid);
  });

  it("a token without a session id, or older than the absolute lifetime, counts no more", async () => {
    state.token = { uid, sv };
    expect(await getSession()).toBeNull();
    state.token = { uid, sv, sid: "old", sat: now() - 7 * 24 * 3600 - 1 };
    expect(await getSession()).toBeNull();
    state.token = { uid, sv, sid: "fresh", sat: now() - 60 };
    expect(await getSession()).not.toBeNull();
  });

  it("revocations are pruned once their tokens would have expired anyway", async () => {
    const count = await t.db.revokedSession.count();
    expect(count).toBeGreaterThan(0);
    expect(await unsafePruneRevokedSessions(new Date())).toBe(0);
    expect(await unsafePruneRevokedSessions(new Date(Date.now() + 8 * 24 * 3600_000))).toBe(count);
  });
});
