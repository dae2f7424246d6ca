/**
 * The data layer against a real database: SQLite by default, PostgreSQL when TEST_DATABASE_URL is a
 * postgresql:// URL (scripts/pg-start.sh). Same assertions on both.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadMigrations, migrate } from "../../../prisma/migrate";
import { hashPassword } from "../auth/password";
import { SIGNIN_RULES } from "../auth/rate-limit";
import { newId } from "../db/ids";
import { ActionFailure } from "../errors";
import { setupTestDb, type TestDb } from "../testing/test-db";
import { authenticateCredentials } from "./authenticate-credentials";
import type { Caller } from "./caller";
import { changeAccountStatus } from "./change-account-status";
import { listAccounts } from "./list-accounts";
import { AUDIT_PAGE_SIZE, listAuditEvents } from "./list-audit-events";
import { requestAccount } from "./request-account";
import { getTaskViewForCaller, listAllTasks, listFailedTasks, listTasksForVm, listVmAudit } from "./tasks";
import { unsafeCreateUser } from "./unsafe-create-user";
import { getVmForCaller, listProvisionableOwners, listVmsForCaller } from "./vms";

let t: TestDb;
const meta = { ip: "192.0.2.10", userAgent: "vitest" };
let admin: Caller;

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

beforeAll(async () => {
  t = await setupTestDb();
  await unsafeCreateUser("cli", {
    username: "root-admin",
    email: "admin@example.org",
    name: "Admin",
    password: "admin-password-1",
    role: "admin",
  });
  admin = await caller("root-admin");
});
afterAll(async () => t?.close());

describe(`database (${process.env.TEST_DATABASE_URL?.startsWith("postgres") ? "postgresql" : "sqlite"})`, () => {
  it("check 40: migrations are idempotent and refuse an edited applied migration", async () => {
    const again = await migrate(t.url);
    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied).toEqual(
      loadMigrations(t.provider === "sqlite" ? "sqlite" : "pg").map((m) => m.name),
    );
    await t.db.$executeRawUnsafe(
      `UPDATE "_zaphod_migrations" SET "checksum" = 'edited' WHERE "name" = '0001_init'`,
    );
    await expect(migrate(t.url)).rejects.toThrow(/edited after it was applied/);
    const real = loadMigrations(t.provider === "sqlite" ? "sqlite" : "pg")[0]!.checksum;
    await t.db.$executeRawUnsafe(
      `UPDATE "_zaphod_migrations" SET "checksum" = '${real}' WHERE "name" = '0001_init'`,
    );
  });

  it("SQLite runs in WAL mode with foreign keys on", async () => {
    if (t.provider !== "sqlite") return;
    const [mode] = await t.db.$queryRawUnsafe<{ journal_mode: string }[]>("PRAGMA journal_mode");
    expect(mode?.journal_mode).toBe("wal");
    const [fk] = await t.db.$queryRawUnsafe<{ foreign_keys: bigint | number }[]>("PRAGMA foreign_keys");
    expect(Number(fk?.foreign_keys)).toBe(1);
  });

  it("an account request is pending, audited, and unique", async () => {
    await requestAccount(
      {
        username: "alice",
        email: "alice@example.org",
        name: "Alice",
        password: "alice-password-1",
        note: "hi",
      },
      meta,
    );
    const alice = await t.db.user.findUniqueOrThrow({ where: { username: "alice" } });
    expect(alice.status).toBe("pending");
    expect(alice.role).toBe("member");
    expect(alice.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const ev = await t.db.auditEvent.findFirstOrThrow({
      where: { action: "account.request", targetUserId: alice.id },
    });
    expect(ev.ip).toBe(meta.ip);
    const dup = await failure(
      requestAccount(
        { username: "alice", email: "ALICE@example.org", name: "A", password: "alice-password-1", note: "" },
        meta,
      ),
    );
    expect(dup.code).toBe("conflict");
    // A taken username may say so; whether the email is registered is never told (issue 11 point 6).
    expect(dup.fieldErrors).toEqual({ username: "This username is taken" });
  });

  it("check 11: sign-in: same answer for unknown user and wrong password; pending may sign in", async () => {
    expect(await authenticateCredentials({ identifier: "nobody", password: "whatever-123" }, meta)).toEqual({
      ok: false,
      reason: "bad-credentials",
    });
    expect(await authenticateCredentials({ identifier: "alice", password: "wrong-password" }, meta)).toEqual({
      ok: false,
      reason: "bad-credentials",
    });
    const ok = await authenticateCredentials(
      { identifier: "ALICE@example.org", password: "alice-password-1" },
      meta,
    );
    expect(ok).toMatchObject({ ok: true, user: { status: "pending" } });
  });

  it("failed sign-ins are aggregated in the audit log (one row per account+address per window)", async () => {
    const m = { ip: "192.0.2.77", userAgent: null };
    for (let i = 0; i < 3; i++)
      await authenticateCredentials({ identifier: "ghost", password: `nope-${i}` }, m);
    const rows = await t.db.auditEvent.findMany({ where: { action: "signin.failure", ip: m.ip } });
    expect(rows).toHaveLength(1);
    expect(rows[0]?.count).toBe(3);
  });

  it("failed sign-ins are limited per account, then per address", async () => {
    await unsafeCreateUser("cli", {
      username: "bruce",
      email: "bruce@example.org",
      name: "B",
      password: "bruce-password-1",
      role: "member",
    });
    const m = { ip: "198.51.100.1", userAgent: null };
    for (let i = 0; i < SIGNIN_RULES.account.limit; i++)
      expect((await authenticateCredentials({ identifier: "bruce", password: `bad-${i}` }, m)).ok).toBe(
        false,
      );
    const limited = await authenticateCredentials({ identifier: "bruce", password: "bruce-password-1" }, m);
    expect(limited).toMatchObject({ ok: false, reason: "rate-limited" });
    if (!limited.ok && limited.reason === "rate-limited")
      expect(limited.retryAfterMinutes).toBeGreaterThanOrEqual(14);

    // Per address: many account names from one address.
    const a = { ip: "198.51.100.2", userAgent: null };
    for (let i = 0; i < SIGNIN_RULES.address.limit; i++)
      await authenticateCredentials({ identifier: `spray${i}`, password: "x-password" }, a);
    expect(
      await authenticateCredentials({ identifier: "root-admin", password: "admin-password-1" }, a),
    ).toMatchObject({ reason: "rate-limited" });
    // Another address is not affected.
    expect(
      (
        await authenticateCredentials(
          { identifier: "root-admin", password: "admin-password-1" },
          { ip: "198.51.100.3", userAgent: null },
        )
      ).ok,
    ).toBe(true);
  });

  it("check 12: a weaker stored hash is upgraded at the next good sign-in", async () => {
    const weak = await hashPassword("x"); // same params; make a weaker one by hand:
    expect(weak).toMatch(/m=19456/);
    const { hash } = await import("@node-rs/argon2");
    await t.db.user.update({
      where: { username: "root-admin" },
      data: {
        passwordHash: await hash("admin-password-1", {
          algorithm: 2,
          memoryCost: 8192,
          timeCost: 1,
          parallelism: 1,
        }),
      },
    });
    expect(
      (
        await authenticateCredentials(
          { identifier: "root-admin", password: "admin-password-1" },
          { ip: "203.0.113.9", userAgent: null },
        )
      ).ok,
    ).toBe(true);
    const row = await t.db.user.findUniqueOrThrow({ where: { username: "root-admin" } });
    expect(row.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it("only admins change account status, along the allowed transitions", async () => {
    const alice = await caller("alice");
    await unsafeCreateUser("cli", {
      username: "member-m",
      email: "m@example.org",
      name: "M",
      password: "member-password-1",
      role: "member",
    });
    const member = await caller("member-m");
    expect(
      (await failure(changeAccountStatus(member, { userId: alice.id, change: "approve" }, meta))).code,
    ).toBe("forbidden");
    expect((await failure(listAccounts(member))).code).toBe("forbidden");

    expect(await changeAccountStatus(admin, { userId: alice.id, change: "approve" }, meta)).toEqual({
      status: "active",
    });
    expect(
      (await failure(changeAccountStatus(admin, { userId: alice.id, change: "approve" }, meta))).code,
    ).toBe("conflict");
    const approved = await t.db.user.findUniqueOrThrow({ where: { id: alice.id } });
    expect(approved.approvedById).toBe(admin.id);

    const before = approved.sessionVersion;
    await changeAccountStatus(admin, { userId: alice.id, change: "suspend" }, meta);
    const suspended = await t.db.user.findUniqueOrThrow({ where: { id: alice.id } });
    expect(suspended.status).toBe("suspended");
    expect(suspended.sessionVersion).toBe(before + 1);
    expect(
      await authenticateCredentials(
        { identifier: "alice", password: "alice-password-1" },
        { ip: "203.0.113.5", userAgent: null },
      ),
    ).toEqual({
      ok: false,
      reason: "refused",
      status: "suspended",
    });
    await changeAccountStatus(admin, { userId: alice.id, change: "reactivate" }, meta);

    expect(
      (await failure(changeAccountStatus(admin, { userId: admin.id, change: "suspend" }, meta))).code,
    ).toBe("forbidden");
    expect(
      (await failure(changeAccountStatus(admin, { userId: newId(), change: "approve" }, meta))).code,
    ).toBe("not-found");

    const actions = (
      await t.db.auditEvent.findMany({ where: { targetUserId: alice.id }, orderBy: { createdAt: "asc" } })
    ).map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(["account.request", "account.approve", "account.suspend", "account.reactivate"]),
    );
  });

  it("the audit log filters by action and paginates, for admins only", async () => {
    for (let i = 0; i < AUDIT_PAGE_SIZE + 5; i++)
      await t.db.auditEvent.create({
        data: { id: newId(), actorLabel: "system", action: "signout", result: "success", ip: "" },
      });
    const first = await listAuditEvents(admin, { action: "signout", page: 1 });
    expect(first.total).toBe(AUDIT_PAGE_SIZE + 5);
    expect(first.rows).toHaveLength(AUDIT_PAGE_SIZE);
    expect(first.pages).toBe(2);
    const second = await listAuditEvents(admin, { action: "signout", page: 2 });
    expect(second.rows).toHaveLength(5);
    expect(new Set([...first.rows, ...second.rows].map((r) => r.id)).size).toBe(AUDIT_PAGE_SIZE + 5);
    expect((await listAuditEvents(admin, { page: 99 })).page).toBeGreaterThanOrEqual(1);
    expect((await failure(listAuditEvents(await caller("member-m"), { page: 1 }))).code).toBe("forbidden");
  });

  it("VM reads are scoped to the caller: own VMs, every VM for the admin, another's like a missing one", async () => {
    const alice = await caller("alice");
    const m = await caller("member-m");
    const vm = (name: string, ownerId: string) => ({
      id: newId(),
      name,
      ownerId,
      image: "busybox",
      memoryMiB: 128,
      storageGiB: 1,
      swapMiB: 64,
    });
    await t.db.vm.createMany({ data: [vm("alice-vm", alice.id), vm("member-vm", m.id)] });
    const names = (rows: { name: string }[]) => rows.map((r) => r.name);

    // The dashboard and /api/vms: a member's own VMs, asked for all or not; the admin's every VM.
    expect(names(await listVmsForCaller(alice))).toEqual(["alice-vm"]);
    expect(names(await listVmsForCaller(m, { all: true }))).toEqual(["member-vm"]);
    expect(names(await listVmsForCaller(admin, { all: true }))).toEqual(["alice-vm", "member-vm"]);
    expect(names(await listVmsForCaller(admin))).toEqual([]);

    // The VM page, power, console and snapshot actions: getVmForCaller with a capability.
    expect(await getVmForCaller(alice, "alice-vm", "power")).toMatchObject({
      name: "alice-vm",
      ownerId: alice.id,
      ownerUsername: "alice",
    });
    for (const capability of ["read", "power", "console", "snapshot"] as const) {
      expect((await failure(getVmForCaller(m, "alice-vm", capability))).code, capability).toBe("not-found");
      expect((await getVmForCaller(admin, "alice-vm", capability)).name, capability).toBe("alice-vm");
    }
    expect((await failure(getVmForCaller(alice, "no-such-vm"))).code).toBe("not-found");
    const suspendedAlice = { ...alice, status: "suspended" as const };
    expect((await failure(getVmForCaller(suspendedAlice, "alice-vm"))).code).toBe("forbidden");
    expect((await failure(listVmsForCaller(suspendedAlice))).code).toBe("forbidden");

    // The provisioning form's owners: active accounts, members without a VM first; admin only.
    const owners = await listProvisionableOwners(admin);
    expect(owners.map((o) => o.username)).toEqual(
      expect.arrayContaining(["alice", "member-m", "bruce", "root-admin"]),
    );
    expect(owners[0]).toMatchObject({ username: "bruce", vmCount: 0 });
    expect(owners.find((o) => o.username === "alice")?.vmCount).toBe(1);
    expect((await failure(listProvisionableOwners(m))).code).toBe("forbidden");
  });

  it("task and VM history reads are scoped like the VMs", async () => {
    const alice = await caller("alice");
    const m = await caller("member-m");
    const aliceVm = await t.db.vm.findUniqueOrThrow({ where: { name: "alice-vm" } });
    const taskId = newId();
    await t.db.task.create({
      data: {
        id: taskId,
        vmId: aliceVm.id,
        ownerId: alice.id,
        actorId: alice.id,
        kind: "reboot",
        status: "failed",
        error: "the guest did not answer",
        result: JSON.stringify({ step: "waiting for the guest" }),
      },
    });
    await t.db.taskLog.create({ data: { id: newId(), taskId, seq: 1, message: "asked the guest" } });
    await t.db.auditEvent.create({
      data: {
        id: newId(),
        actorId: alice.id,
        actorLabel: "alice",
        action: "vm.reboot",
        result: "failure",
        ip: "",
        vmId: aliceVm.id,
        detail: JSON.stringify({ during: "reboot" }),
      },
    });

    // The VM page and its event stream's snapshot.
    const [task] = await listTasksForVm(alice, aliceVm.id);
    expect(task).toMatchObject({
      id: taskId,
      vmName: "alice-vm",
      kind: "reboot",
      status: "failed",
      step: "waiting for the guest",
      error: "the guest did not answer",
      actor: "alice",
      logs: [{ level: "info", message: "asked the guest" }],
    });
    expect(await listTasksForVm(m, aliceVm.id)).toEqual([]);
    expect((await listTasksForVm(admin, aliceVm.id)).map((x) => x.id)).toEqual([taskId]);

    // The snapshot section's running task.
    expect((await getTaskViewForCaller(alice, taskId))?.id).toBe(taskId);
    expect(await getTaskViewForCaller(m, taskId)).toBeNull();
    expect((await getTaskViewForCaller(admin, taskId))?.id).toBe(taskId);

    // The VM page's history.
    expect(await listVmAudit(alice, aliceVm.id)).toMatchObject([
      { actor: "alice", actorIsAccount: true, action: "vm.reboot", result: "failure", during: "reboot" },
    ]);
    expect(await listVmAudit(m, aliceVm.id)).toEqual([]);

    // The admin's pages: every task, and the failures of the last day.
    expect((await listAllTasks(admin)).map((x) => x.id)).toContain(taskId);
    expect((await listFailedTasks(admin, new Date(Date.now() - 86_400_000))).map((x) => x.id)).toContain(
      taskId,
    );
    expect((await failure(listAllTasks(m))).code).toBe("forbidden");
    expect((await failure(listFailedTasks(m, new Date(0)))).code).toBe("forbidden");
  });

  it("every domain table accepts a row (schema parity between providers)", async () => {
    const alice = await caller("alice");
    const v = await t.db.vm.findUniqueOrThrow({ where: { name: "alice-vm" } });
    const task = await t.db.task.create({
      data: { id: newId(), vmId: v.id, ownerId: alice.id, actorId: alice.id, kind: "reboot" },
    });
    await t.db.taskLog.create({ data: { id: newId(), taskId: task.id, seq: 1, message: "rebooting" } });
    await t.db.snapshot.create({
      data: { id: newId(), vmId: v.id, label: "before-upgrade", sizeBytes: 5n * 1024n ** 3n },
    });
    await t.db.setting.create({ data: { key: "snapshot.maxCount", value: "5" } });
    await t.db.consoleTicket.create({
      data: {
        id: newId(),
        tokenHash: "h".repeat(64),
        userId: alice.id,
        vmId: v.id,
        expiresAt: new Date(Date.now() + 30_000),
      },
    });
    const snap = await t.db.snapshot.findFirstOrThrow({ where: { vmId: v.id } });
    expect(snap.sizeBytes).toBe(5n * 1024n ** 3n);
    expect(snap.status).toBe("requested");
    // Foreign keys are enforced.
    await expect(t.db.task.create({ data: { id: newId(), ownerId: newId(), kind: "x" } })).rejects.toThrow();
  });
});
