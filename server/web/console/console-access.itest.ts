/**
 * Who gets a console ticket and who passes the upgrade's re-check, on a real migrated database.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Caller } from "../dal/caller";
import { newId } from "../db/ids";
import { setupTestDb, type TestDb } from "../testing/test-db";
import { issueConsoleTicket } from "./issue-console-ticket";
import { loadConsoleAccess } from "./load-console-access";

let t: TestDb;
const ids = { alice: newId(), bob: newId(), root: newId(), sam: newId(), aliceVm: newId(), bobVm: newId() };
const caller = (
  id: string,
  username: string,
  role: Caller["role"],
  status: Caller["status"] = "active",
): Caller => ({
  id,
  username,
  role,
  status,
  name: username,
  email: `${username}@example.org`,
});
const alice = caller(ids.alice, "alice", "member");
const bob = caller(ids.bob, "bob", "member");
const root = caller(ids.root, "root", "admin");

beforeAll(async () => {
  t = await setupTestDb();
  for (const [id, username, role, status] of [
    [ids.alice, "alice", "member", "active"],
    [ids.bob, "bob", "member", "active"],
    [ids.root, "root", "admin", "active"],
    [ids.sam, "sam", "member", "suspended"],
  ] as const) {
    await t.db.user.create({
      data: {
        id,
        username,
        role,
        status,
        email: `${username}@example.org`,
        name: username,
        passwordHash: "x",
      },
    });
  }
  const vm = { image: "demo", memoryMiB: 64, storageGiB: 1, swapMiB: 64 };
  await t.db.vm.create({ data: { id: ids.aliceVm, name: "alice", ownerId: ids.alice, ...vm } });
  await t.db.vm.create({ data: { id: ids.bobVm, name: "bob", ownerId: ids.bob, ...vm } });
});
afterAll(() => t?.close());

describe("issueConsoleTicket", () => {
  it("issues for one's own VM and, for an admin, any VM", async () => {
    expect(await issueConsoleTicket(alice, "alice")).toMatchObject({
      token: expect.stringMatching(/^[\w-]{43}$/),
    });
    expect(await issueConsoleTicket(root, "alice")).not.toBeNull();
  });

  it("answers another member's VM exactly like a missing one", async () => {
    expect(await issueConsoleTicket(bob, "alice")).toBeNull();
    expect(await issueConsoleTicket(bob, "no-such-vm")).toBeNull();
  });

  it("refuses a caller who is not active", async () => {
    expect(await issueConsoleTicket(caller(ids.sam, "sam", "member", "suspended"), "alice")).toBeNull();
    expect(await issueConsoleTicket({ ...alice, status: "pending" }, "alice")).toBeNull();
  });
});

describe("loadConsoleAccess", () => {
  it("lets the owner and an admin in, both with Ctrl-Alt-Del (admins act on every VM)", async () => {
    expect(await loadConsoleAccess({ userId: ids.alice, vmId: ids.aliceVm })).toEqual({
      user: { id: ids.alice, username: "alice", role: "member" },
      vm: { id: ids.aliceVm, name: "alice", ownerId: ids.alice },
      canCtrlAltDel: true,
    });
    expect(await loadConsoleAccess({ userId: ids.root, vmId: ids.aliceVm })).toMatchObject({
      user: { role: "admin" },
      canCtrlAltDel: true,
    });
  });

  it("refuses another member, a suspended user, and rows that are gone", async () => {
    expect(await loadConsoleAccess({ userId: ids.bob, vmId: ids.aliceVm })).toBeNull();
    expect(await loadConsoleAccess({ userId: ids.sam, vmId: ids.aliceVm })).toBeNull();
    expect(await loadConsoleAccess({ userId: newId(), vmId: ids.aliceVm })).toBeNull();
    expect(await loadConsoleAccess({ userId: ids.alice, vmId: newId() })).toBeNull();
  });

  it("check 16: takes effect at once when a user is suspended after the ticket was issued", async () => {
    await t.db.user.update({ where: { id: ids.bob }, data: { status: "suspended" } });
    expect(await loadConsoleAccess({ userId: ids.bob, vmId: ids.bobVm })).toBeNull();
    await t.db.user.update({ where: { id: ids.bob }, data: { status: "active" } });
    expect(await loadConsoleAccess({ userId: ids.bob, vmId: ids.bobVm })).not.toBeNull();
  });
});
