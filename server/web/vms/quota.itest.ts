/**
 * VM quotas per member (issue 14 point 8) against the real agent (the integration harness: VMs
 * provisioned on the host as the panel does) and a real database: the admin's defaults and a
 * member's own limits; provisioning, more memory, more storage and a new owner refused with the
 * limit named and nothing made or changed; the host CLI not held to them; audited.
 */
import { lstat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, type Harness } from "../../agent/testing/agent-harness";
import { createAgentClient } from "../agent/client";
import { setAgentForTests } from "../agent/instance";
import type { Caller } from "../dal/caller";
import { ActionFailure } from "../errors";
import { activeCallers } from "../testing/actors";
import { setupTestDb, type TestDb } from "../testing/test-db";
import { changeVmOwner, growVmStorage, setVmMemory } from "./manage-vm";
import { getOwnVmQuota, getVmQuotaAdminView, setMemberVmQuota, setVmQuotaDefaults } from "./quota";
import { provisionVm, unsafeProvisionVm } from "./service";

let t: TestDb;
let h: Harness;
let admin: Caller;
let carol: Caller;
let dave: Caller;
const spec = { image: "", memoryMiB: 64, storageGiB: 1, swapMiB: 0, autostart: false, startNow: false };

async function settled(taskId: string): Promise<string> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const task = await t.db.task.findUnique({ where: { id: taskId } });
    if (task && task.status !== "running" && task.status !== "queued") return task.status;
    if (Date.now() > deadline) return "timed out";
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The refusal's field errors, or a failure when it was not refused. */
async function refusal(work: Promise<unknown>): Promise<Record<string, string>> {
  const error = await work.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ActionFailure);
  expect((error as ActionFailure).message).toMatch(/VM quota/);
  return (error as ActionFailure).fieldErrors ?? {};
}

const onHost = async (vm: string) =>
  lstat(join(h.dataDir, "vms", vm)).then(
    () => true,
    () => false,
  );

beforeAll(async () => {
  t = await setupTestDb();
  h = await createHarness({ confine: false });
  await h.startAgent();
  spec.image = h.image;
  setAgentForTests(createAgentClient({ socketPath: h.socketPath, timeoutMs: 15_000 }));
  const tag = String(Date.now() % 10_000);
  const callers = await activeCallers(t.db, [
    [`qadm${tag}`, "admin"],
    [`carol${tag}`, "member"],
    [`dave${tag}`, "member"],
  ]);
  admin = callers[`qadm${tag}`] as Caller;
  carol = callers[`carol${tag}`] as Caller;
  dave = callers[`dave${tag}`] as Caller;
}, 120_000);

afterAll(async () => {
  setAgentForTests(undefined);
  await h?.cleanup();
  await t?.close();
});

describe("VM quotas per member", () => {
  it("with no limits set (the default), a member's dashboard says nothing and the admin sees 'no limit'", async () => {
    expect(await getOwnVmQuota(carol)).toBeNull();
    const view = await getVmQuotaAdminView(admin);
    expect(view.defaults).toEqual({ maxCount: null, maxMemoryMiB: null, maxStorageGiB: null });
    await expect(getVmQuotaAdminView(carol)).rejects.toMatchObject({ code: "forbidden" });
    await expect(
      setVmQuotaDefaults(carol, { maxCount: 9, maxMemoryMiB: null, maxStorageGiB: null }),
    ).rejects.toMatchObject({ code: "forbidden" });
  });

  it("the default VM count: the first VM is made, the second refused naming the limit, nothing made", async () => {
    await setVmQuotaDefaults(admin, { maxCount: 1, maxMemoryMiB: 256, maxStorageGiB: 4 });
    const first = await provisionVm(admin, { ...spec, ownerId: carol.id, name: "quota-one" });
    expect(await settled(first.taskId)).toBe("succeeded");
    expect(await onHost("quota-one")).toBe(true);

    const fields = await refusal(provisionVm(admin, { ...spec, ownerId: carol.id, name: "quota-two" }));
    expect(fields.ownerId).toBe(
      `${carol.username} may have 1 VM (the default limit) and has 1: raise their VM limit first`,
    );
    expect(await t.db.vm.findUnique({ where: { name: "quota-two" } })).toBeNull();
    expect(await onHost("quota-two")).toBe(false);
    // Her dashboard says where she stands.
    expect(await getOwnVmQuota(carol)).toMatchObject({
      limits: { maxCount: 1, maxMemoryMiB: 256, maxStorageGiB: 4 },
      used: { count: 1, memoryMiB: 64, storageGiB: 1 },
    });
  }, 120_000);

  it("her own limits override the default: a second VM fits the count, not the memory", async () => {
    await setMemberVmQuota(admin, { userId: carol.id, maxCount: 3, maxMemoryMiB: 100, maxStorageGiB: null });
    const fields = await refusal(provisionVm(admin, { ...spec, ownerId: carol.id, name: "quota-two" }));
    expect(fields.memoryMiB).toBe(
      `${carol.username}'s VMs may have 100 MiB of memory together (their own limit); they have 64 MiB, so at most 36 MiB more`,
    );
    const second = await provisionVm(admin, { ...spec, memoryMiB: 32, ownerId: carol.id, name: "quota-two" });
    expect(await settled(second.taskId)).toBe("succeeded");
    const row = (await getVmQuotaAdminView(admin)).members.find((m) => m.id === carol.id);
    expect(row).toMatchObject({
      own: { maxCount: 3, maxMemoryMiB: 100, maxStorageGiB: null },
      quota: { source: { maxCount: "member", maxMemoryMiB: "member", maxStorageGiB: "default" } },
    });
  }, 120_000);

  it("more memory and more storage are refused past her limits; the VM keeps what it had", async () => {
    const memory = await refusal(setVmMemory(admin, "quota-one", 128));
    expect(memory.memoryMiB).toMatch(/may have 100 MiB of memory together .* at most 4 MiB more$/);
    expect((await h.client.call("vm.status", { name: "quota-one" })).memoryMiB).toBe(64);
    // Storage: the default of 4 GiB; she has 2.
    const storage = await refusal(growVmStorage(admin, "quota-one", 4));
    expect(storage.storageGiB).toBe(
      `${carol.username}'s VMs may have 4 GiB of storage together (the default limit); they have 2 GiB, so at most 2 GiB more`,
    );
    expect((await t.db.vm.findUnique({ where: { name: "quota-one" } }))?.storageGiB).toBe(1);
    // Within the limit it works.
    expect(await setVmMemory(admin, "quota-one", 68)).toEqual({ memoryMiB: 68 });
  }, 120_000);

  it("a VM given to a member without room is refused; the host CLI is not held to quotas", async () => {
    await setMemberVmQuota(admin, { userId: dave.id, maxCount: 0, maxMemoryMiB: null, maxStorageGiB: null });
    const fields = await refusal(changeVmOwner(admin, "quota-two", dave.id));
    expect(fields.ownerId).toBe(
      `${dave.username} may have 0 VMs (their own limit) and has 0: raise their VM limit first`,
    );
    expect(
      (await t.db.vm.findUnique({ where: { name: "quota-two" }, include: { owner: true } }))?.owner.id,
    ).toBe(carol.id);
    // Root on the host provisions past it (as it may overcommit).
    const cli = await unsafeProvisionVm({ ...spec, ownerId: dave.id, name: "quota-cli" });
    expect(await settled(cli.taskId)).toBe("succeeded");
    expect(await onHost("quota-cli")).toBe(true);
  }, 120_000);

  it("the admin's quota changes are audited", async () => {
    const events = await t.db.auditEvent.findMany({
      where: { action: { in: ["vm.quota.defaults", "vm.quota"] } },
      orderBy: { createdAt: "asc" },
    });
    expect(events.map((e) => [e.action, e.targetUserId])).toEqual([
      ["vm.quota.defaults", null],
      ["vm.quota", carol.id],
      ["vm.quota", dave.id],
    ]);
  });
});
