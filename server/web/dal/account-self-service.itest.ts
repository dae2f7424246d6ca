/**
 * Password change, reset links and the suspension reason against a real database (SQLite, or
 * PostgreSQL with TEST_DATABASE_URL).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyPassword } from "../auth/password";
import { ActionFailure } from "../errors";
import { setupTestDb, type TestDb } from "../testing/test-db";
import type { Caller } from "./caller";
import { changeAccountStatus } from "./change-account-status";
import { ChangePasswordInput, changeOwnPassword } from "./change-own-password";
import {
  findUsablePasswordReset,
  issuePasswordResetLink,
  ResetPasswordInput,
  resetPasswordWithToken,
  unsafeIssuePasswordResetLink,
} from "./password-reset";
import { hashResetToken } from "./reset-token";
import { unsafeCreateUser } from "./unsafe-create-user";

let t: TestDb;
const meta = { ip: "192.0.2.20", userAgent: "vitest" };
let admin: Caller;
let member: Caller;

async function caller(username: string): Promise<Caller> {
  const u = await t.db.user.findUniqueOrThrow({ where: { username } });
  return {
    id: u.id,
    username: u.username,
    name: u.name,
    email: u.email,
    role: u.role as Caller["role"],
    status: u.status as Caller["status"],
  };
}

async function failure(p: Promise<unknown>): Promise<ActionFailure> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ActionFailure) return e;
    throw e;
  }
  throw new Error("expected an ActionFailure");
}

const tokenOf = (link: string) => link.split("/reset/")[1]!;
const sessionVersion = async (id: string) =>
  (await t.db.user.findUniqueOrThrow({ where: { id }, select: { sessionVersion: true } })).sessionVersion;
const passwordOk = async (id: string, pw: string) =>
  verifyPassword((await t.db.user.findUniqueOrThrow({ where: { id } })).passwordHash, pw);

beforeAll(async () => {
  t = await setupTestDb();
  for (const [username, role] of [
    ["sa-admin", "admin"],
    ["sa-member", "member"],
  ] as const)
    await unsafeCreateUser("cli", {
      username,
      email: `${username}@example.org`,
      name: username === "sa-admin" ? "Sam Admin" : "Mia Member",
      password: `${username}-password-1`,
      role,
    });
  admin = await caller("sa-admin");
  member = await caller("sa-member");
});
afterAll(async () => t?.close());

describe("account self-service", () => {
  it("changes the password only with the current one, and ends the other sessions", async () => {
    const before = await sessionVersion(member.id);
    const wrong = await failure(
      changeOwnPassword(
        member,
        ChangePasswordInput.parse({
          current: "nope-nope-nope",
          next: "brand-new-pass-1",
          confirm: "brand-new-pass-1",
        }),
        meta,
      ),
    );
    expect(wrong.fieldErrors).toEqual({ current: "This is not your current password" });
    expect(await sessionVersion(member.id)).toBe(before);
    expect(await passwordOk(member.id, "sa-member-password-1")).toBe(true);

    expect(
      ChangePasswordInput.safeParse({ current: "x", next: "brand-new-pass-1", confirm: "other-pass-12" })
        .success,
    ).toBe(false);

    await changeOwnPassword(
      member,
      ChangePasswordInput.parse({
        current: "sa-member-password-1",
        next: "brand-new-pass-1",
        confirm: "brand-new-pass-1",
      }),
      meta,
    );
    expect(await passwordOk(member.id, "brand-new-pass-1")).toBe(true);
    expect(await sessionVersion(member.id)).toBe(before + 1);
  });

  it("issues reset links stored hashed, usable once, replaced by a newer one", async () => {
    expect((await failure(issuePasswordResetLink(member, { userId: member.id }, meta))).code).toBe(
      "forbidden",
    );
    const first = await issuePasswordResetLink(admin, { userId: member.id }, meta);
    expect(first.link).toMatch(/\/reset\/[A-Za-z0-9_-]{43}$/);
    expect(first.expiresAt.getTime() - Date.now()).toBeGreaterThan(29 * 60_000);
    expect(first.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(30 * 60_000);
    const rows = await t.db.passwordReset.findMany({ where: { userId: member.id } });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.tokenHash).toBe(hashResetToken(tokenOf(first.link)));
    expect(JSON.stringify(rows)).not.toContain(tokenOf(first.link));

    const second = await unsafeIssuePasswordResetLink("cli", { userId: member.id }, meta);
    expect(await findUsablePasswordReset(tokenOf(first.link))).toBeNull();
    expect(await findUsablePasswordReset(tokenOf(second.link))).toEqual({
      username: "sa-member",
      name: "Mia Member",
    });

    const before = await sessionVersion(member.id);
    const input = ResetPasswordInput.parse({
      token: tokenOf(second.link),
      password: "reset-password-1",
      confirm: "reset-password-1",
    });
    await resetPasswordWithToken(input, meta);
    expect(await passwordOk(member.id, "reset-password-1")).toBe(true);
    expect(await sessionVersion(member.id)).toBe(before + 1);
    // Once only.
    expect(
      (await failure(resetPasswordWithToken({ ...input, password: "again-password-1" }, meta))).code,
    ).toBe("not-found");
    expect(await passwordOk(member.id, "reset-password-1")).toBe(true);
    expect(await findUsablePasswordReset(tokenOf(second.link))).toBeNull();

    const audit = await t.db.auditEvent.findMany({
      where: { targetUserId: member.id, action: { in: ["account.reset_link", "account.password_reset"] } },
    });
    expect(audit.map((a) => a.action).sort()).toEqual([
      "account.password_reset",
      "account.reset_link",
      "account.reset_link",
    ]);
    expect(JSON.stringify(audit)).not.toContain(tokenOf(second.link));
  });

  it("refuses an expired link, and gives none to an account that is not active", async () => {
    const issued = await issuePasswordResetLink(admin, { userId: member.id }, meta);
    await t.db.passwordReset.updateMany({
      where: { tokenHash: hashResetToken(tokenOf(issued.link)) },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    expect(await findUsablePasswordReset(tokenOf(issued.link))).toBeNull();
    const input = {
      token: tokenOf(issued.link),
      password: "expired-password-1",
      confirm: "expired-password-1",
    };
    expect((await failure(resetPasswordWithToken(input, meta))).code).toBe("not-found");

    await changeAccountStatus(
      admin,
      { userId: member.id, change: "suspend", reason: "  Too much CPU.  " },
      meta,
    );
    const row = await t.db.user.findUniqueOrThrow({ where: { id: member.id } });
    expect(row.statusReason).toBe("Too much CPU.");
    expect(row.statusChangedById).toBe(admin.id);
    expect((await failure(issuePasswordResetLink(admin, { userId: member.id }, meta))).code).toBe("conflict");

    await changeAccountStatus(admin, { userId: member.id, change: "reactivate" }, meta);
    expect((await t.db.user.findUniqueOrThrow({ where: { id: member.id } })).statusReason).toBe("");
  });
});
