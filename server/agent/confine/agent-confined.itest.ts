/**
 * The agent with confinement on (ZAPHOD_CONFINE=on, opt-in): a VM it provisions and starts runs
 * inside its sandbox and cgroup, and `vm.status` reports the cgroup's figures. The attacks on a
 * confined VM are in ./confine.itest.ts; this checks that the agent's own start path confines.
 */
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, type Harness } from "../testing/agent-harness";

let h: Harness;
const VM = "vm-boxed";

beforeAll(async () => {
  h = await createHarness({ confine: true });
  await h.startAgent();
}, 120_000);

afterAll(async () => {
  await h?.cleanup();
}, 120_000);

describe("agent with ZAPHOD_CONFINE=on", () => {
  it("starts a VM confined: its cgroup counts memory and processes, UML has no privileges", async () => {
    const created = await h.client.run("vm.create", {
      name: VM,
      owner: "bob",
      image: h.image,
      memoryMiB: 64,
      storageGiB: 1,
      swapMiB: 0,
    });
    expect(created.state).toBe("succeeded");
    const started = await h.client.run("vm.start", { name: VM });
    expect(started.state).toBe("succeeded");
    const status = await h.client.call("vm.status", { name: VM });
    expect(status.state).toBe("running");
    expect(status.hostUse?.memoryBytes).toBeGreaterThan(16 * 2 ** 20);
    expect(status.hostUse?.pidsMax).toBe(512);
    expect(status.hostUse?.pids).toBeGreaterThan(2);
    const proc = await readFile(`/proc/${status.pid}/status`, "utf8");
    expect(proc).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(proc).toMatch(/^CapEff:\s+0+$/m);
    const cgroups = await readFile(`/proc/${status.pid}/cgroup`, "utf8");
    expect(cgroups).toContain(`/${VM}`);
    const off = await h.client.run("vm.poweroff", { name: VM });
    expect(off.state).toBe("succeeded");
    const destroyed = await h.client.run("vm.destroy", { name: VM, confirm: VM });
    expect(destroyed.state).toBe("succeeded");
  }, 180_000);
});
