/**
 * The web tier of the host network (issue 12) against a real database and the real agent, which
 * runs here without networking (`ZAPHOD_NET_NETNS` unset; until the core lands it refuses every
 * network verb): "no network" must be an answer, never an error. A VM is provisioned without an
 * address; the VM page's data says off for the owner and an admin, not-found for another member;
 * the admin's changes are refused with a sentence saying networking is off, after the web tier's
 * own checks (an address pool outside its subnet, a privileged port) refused what they can. The
 * allocation from a pool is service.itest.ts (a stand-in agent with a network).
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, type Harness } from "../../agent/testing/agent-harness";
import type { HostNetworkSettings } from "../../protocol/agent";
import { setAgentForTests } from "../agent/instance";
import type { Caller } from "../dal/caller";
import { actionFailure, activeCallers } from "../testing/actors";
import { setupTestDb, type TestDb } from "../testing/test-db";
import {
  addPortForward,
  getHostNetwork,
  getVmNetwork,
  removePortForward,
  setHostNetwork,
  setVmNetwork,
} from "./network";
import { provisionVm } from "./service";

let h: Harness;
let t: TestDb;
let admin: Caller;
let alice: Caller;
let bob: Caller;
const VM = "net-alice";

const settings: HostNetworkSettings = {
  mode: "isolated",
  ipv4Subnet: "10.77.0.0/24",
  gateway: "10.77.0.1",
  poolFirst: "10.77.0.10",
  poolLast: "10.77.0.200",
  ipv6Prefix: null,
  dns: [],
  vmToVm: true,
  outboundSmtp: false,
};

beforeAll(async () => {
  h = await createHarness({ confine: false });
  await h.startAgent();
  t = await setupTestDb();
  setAgentForTests(h.client);
  const tag = randomUUID().slice(0, 4);
  const callers = await activeCallers(t.db, [
    [`netadm${tag}`, "admin"],
    [`alice${tag}`, "member"],
    [`bob${tag}`, "member"],
  ]);
  const of = (username: string) => callers[username] as Caller;
  [admin, alice, bob] = [of(`netadm${tag}`), of(`alice${tag}`), of(`bob${tag}`)];
}, 180_000);

afterAll(async () => {
  setAgentForTests(undefined);
  await t?.close();
  await h?.cleanup();
});

describe("the web tier with an agent that has no network", () => {
  it("provisions a VM without an address (none asked of the agent, none kept in the panel)", async () => {
    const { taskId } = await provisionVm(admin, {
      ownerId: alice.id,
      name: VM,
      image: h.image,
      memoryMiB: 64,
      storageGiB: 1,
      swapMiB: 0,
      autostart: false,
      startNow: false,
    });
    const deadline = Date.now() + 60_000;
    let status = "";
    while (Date.now() < deadline) {
      status = (await t.db.task.findUnique({ where: { id: taskId } }))?.status ?? "";
      if (status === "succeeded" || status === "failed") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe("succeeded");
    expect((await t.db.vm.findUnique({ where: { name: VM } }))?.ip).toBeNull();
    const config = JSON.parse(await readFile(join(h.dataDir, "vms", VM, "vm.json"), "utf8"));
    expect(config.ipv4 ?? null).toBeNull();
  }, 90_000);

  it("the VM page's network data says off to the owner and an admin; another member gets not-found", async () => {
    expect(await getVmNetwork(alice, VM)).toEqual({ state: "off" });
    expect(await getVmNetwork(admin, VM)).toEqual({ state: "off" });
    expect((await actionFailure(getVmNetwork(bob, VM))).code).toBe("not-found");
  });

  it("the admin's network page says off; a member may not see it", async () => {
    expect(await getHostNetwork(admin)).toEqual({ state: "off" });
    expect((await actionFailure(getHostNetwork(alice))).code).toBe("forbidden");
  });

  it("the admin's changes are refused with a sentence saying networking is off, after the web tier's own checks", async () => {
    const pool = await actionFailure(setHostNetwork(admin, { ...settings, poolLast: "10.78.0.5" }));
    expect(pool.code).toBe("invalid");
    expect(pool.fieldErrors?.ipv4Subnet).toMatch(/must lie inside 10\.77\.0\.0\/24/);
    const off = await actionFailure(setHostNetwork(admin, settings));
    expect(off.code).toBe("conflict");
    expect(off.message).toMatch(/networking is off/);

    const low = await actionFailure(addPortForward(admin, { hostPort: 22, name: VM, vmPort: 22 }));
    expect(low.fieldErrors?.hostPort).toMatch(/below 1024/);
    for (const refused of [
      () => addPortForward(admin, { hostPort: 2201, name: VM, vmPort: 22 }),
      () => removePortForward(admin, 2201),
      () => setVmNetwork(admin, { name: VM, ipv4: "10.77.0.10", rateLimitKbit: 1000 }),
    ]) {
      const f = await actionFailure(refused());
      expect(f.code).toBe("conflict");
      expect(f.message).toMatch(/networking is off/);
    }
    expect((await t.db.vm.findUnique({ where: { name: VM } }))?.ip).toBeNull();
  });

  it("members have no network administration, not even of their own VM", async () => {
    for (const refused of [
      () => setVmNetwork(alice, { name: VM, ipv4: "10.77.0.10", rateLimitKbit: null }),
      () => addPortForward(alice, { hostPort: 2201, name: VM, vmPort: 22 }),
      () => removePortForward(alice, 2201),
      () => setHostNetwork(alice, settings),
    ])
      expect((await actionFailure(refused())).code).toBe("forbidden");
  });
});
