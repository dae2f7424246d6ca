/**
 * The data layer of the admin's management (issue 9 point 8) against a real database: the audit
 * log keeps naming a VM after it is destroyed, an account's VMs are listed, and an account row
 * goes only once it owns no VM.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId } from "../db/ids";
import { ActionFailure } from "../errors";
import { setupTestDb, type TestDb } from "../testing/test-db";
import type { Caller } from "./caller";
import { unsafeDeleteAccountRow } from "./delete-account";
import { listAccountVms } from "./list-account-vms";
import { listAuditEvents } from "./list-audit-events";
import { recordAuditEvent } from "./record-audit-event";
import { unsafeCreateUser } from "./unsafe-create-user";

let t: TestDb;
let admin: Caller;
let memberId: string;

beforeAll(async () => {
  t = await setupTestDb();
  for (const [username, role] of [
    ["boss", "admin"],
    ["leaver", "member"],
  ] as const) {
    await unsafeCreateUser("cli", {
      username,
      email: `${username}@example.org`,
      name: username,
      password: "a-long-password-1",
      role,
    });
  }
  const boss = await t.db.user.findUniqueOrThrow({ where: { username: "boss" } });
  admin = { id: boss.id, username: "boss", name: "boss", email: boss.email, role: "admin", status: "active" };
  memberId = (await t.db.user.findUniqueOrThrow({ where: { username: "leaver" } })).id;
});
afterAll(async () => t?.close());

describe("management data layer", () => {
  it("names the VM in the audit log, also once the VM row is gone", async () => {
    const vmId = newId();
    await t.db.vm.create({
      data: {
        id: vmId,
        name: "gone-vm",
        ownerId: memberId,
        image: "busybox-1",
        memoryMiB: 64,
        storageGiB: 1,
        swapMiB: 0,
      },
    });
    // An event recorded without the name in its detail (as console.open is) still names the VM.
    await recordAuditEvent({
      actor: admin,
      action: "console.open",
      result: "success",
      vmId,
      targetUserId: memberId,
    });
    let rows = (await listAuditEvents(admin, { action: "console.open", page: 1 })).rows;
    expect(rows[0]?.vmName).toBe("gone-vm");
    expect(rows[0]?.vmGone).toBe(false);

    expect((await listAccountVms(admin)).get(memberId)).toEqual(["gone-vm"]);
    const refused = await unsafeDeleteAccountRow(memberId).catch((e) => e);
    expect(refused).toBeInstanceOf(ActionFailure);
    expect(await t.db.user.count({ where: { id: memberId } })).toBe(1);

    await t.db.vm.delete({ where: { id: vmId } });
    rows = (await listAuditEvents(admin, { action: "console.open", page: 1 })).rows;
    expect(rows[0]?.vmName).toBe("gone-vm");
    expect(rows[0]?.vmGone).toBe(true);
  });

  it("deletes an account without VMs; its audit events stay", async () => {
    await recordAuditEvent({
      actor: admin,
      action: "account.suspend",
      result: "success",
      targetUserId: memberId,
    });
    await unsafeDeleteAccountRow(memberId);
    expect(await t.db.user.count({ where: { id: memberId } })).toBe(0);
    const rows = (await listAuditEvents(admin, { action: "account.suspend", page: 1 })).rows;
    expect(rows).toHaveLength(1);
    expect(rows[0]?.targetUsername).toBeNull();
  });
});
