/**
 * One-shot boot options against a real UML VM (issue 14 point 1): the seed's "filesystem
 * corrupted, log in as root to fix it", self-service. A broken /etc/fstab stops the boot at the
 * maintenance prompt; the next start is a single-user shell (init=/bin/sh: PID 1, no login) where
 * the member repairs it; their `reboot -f` (UML re-execs with the same command line) is caught and
 * the VM starts normally, up at its login prompt. Storage read-only and no storage disk apply to
 * one boot; a hard reset of a one-shot boot is a normal boot.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, type Harness } from "./testing/agent-harness";
import { TestConsole } from "./testing/console-client";

let h: Harness;
const VM = "bo-vm";

const status = () => h.client.call("vm.status", { name: VM });

async function raw(): Promise<TestConsole> {
  const c = await TestConsole.open(h.client.openConsole(VM));
  await c.replayed();
  return c;
}

/** Types a command at a `# ` prompt and waits for its marker line. */
async function typed(c: TestConsole, command: string, marker: string, timeoutMs = 30_000): Promise<string> {
  const mark = c.text.length;
  c.type(`${command}; echo ${marker}-$((1+1))\r`);
  await c.waitFor(new RegExp(`${marker}-2`), timeoutMs, mark);
  return c.text.slice(mark);
}

/** Shuts the VM down cleanly (a power-off would leave /data's journal to replay, which a read-only disk cannot). */
async function stopped(): Promise<void> {
  if ((await status()).pid !== null) await h.client.run("vm.shutdown", { name: VM });
}

beforeAll(async () => {
  h = await createHarness();
  await h.startAgent();
  await h.client.run("vm.create", {
    name: VM,
    owner: "carol",
    image: h.image,
    memoryMiB: 64,
    storageGiB: 1,
    swapMiB: 0,
  });
}, 240_000);

afterAll(async () => {
  await h?.cleanup();
}, 120_000);

describe("one-shot boot options", () => {
  it("a broken fstab, a single-user boot to repair it, and the reboot after it is a normal boot", async () => {
    // Break it: the boot stops at the maintenance prompt.
    expect((await h.client.run("vm.start", { name: VM })).state).toBe("succeeded");
    let c = await TestConsole.shell(h.client.openConsole(VM));
    await typed(c, "echo '/dev/ubdz /nope ext4 defaults 0 2' >> /etc/fstab; sync", "broken");
    c.ws.close();
    await h.client.run("vm.poweroff", { name: VM });
    expect((await h.client.run("vm.start", { name: VM })).result?.stage).toBe("waiting-at-console");
    await h.client.run("vm.poweroff", { name: VM });

    // The member asks for a single-user shell at the next start.
    const set = await h.client.call("vm.setBootOnce", { name: VM, mode: "single" });
    expect(set.bootOnce).toMatchObject({ mode: "single", by: "the host" });
    expect((await status()).bootOnce?.mode).toBe("single");
    const started = await h.client.run("vm.start", { name: VM });
    expect(started.state).toBe("succeeded");
    expect((started.log ?? []).join("\n")).toContain(
      "This boot only: a single-user shell (asked by the host)",
    );
    const during = await status();
    expect(during).toMatchObject({ bootOnce: null, bootedOnce: "single" });

    // A root shell as PID 1, without a login; the member repairs fstab and reboots.
    c = await raw();
    const mark = c.text.length;
    c.type("\r");
    await c.waitFor(/# $/m, 30_000, mark);
    expect(c.text.slice(mark)).not.toMatch(/login:/);
    expect(await typed(c, "echo pid-$$", "pid")).toContain("pid-1");
    await typed(c, "sed -i '/ubdz/d' /etc/fstab; sync", "repaired");
    c.type("reboot -f\r");
    c.ws.close();

    // Caught: the VM is started again normally (a new process), up at its login prompt.
    await expect
      .poll(
        async () => {
          const s = await status();
          return s.pid !== null && s.pid !== during.pid && s.bootedOnce === null ? s.stage : "waiting";
        },
        { timeout: 90_000, interval: 1_000 },
      )
      .toBe("up");
    c = await TestConsole.shell(h.client.openConsole(VM));
    const shown = await typed(c, "echo pid-$$; cat /proc/cmdline; grep -c ubdz /etc/fstab", "normal");
    expect(shown).not.toContain("pid-1\r");
    expect(shown).toContain("init=/sbin/init");
    expect(shown).toMatch(/^0\r?$/m);
    c.ws.close();
    await stopped();
  }, 300_000);

  it("the storage disk read-only, then none at all, each for one boot", async () => {
    await h.client.call("vm.setBootOnce", { name: VM, mode: "storage-ro" });
    expect((await h.client.run("vm.start", { name: VM })).state).toBe("succeeded");
    let c = await TestConsole.shell(h.client.openConsole(VM));
    const ro = await typed(c, "grep ' /data ' /proc/mounts; touch /data/x 2>&1", "ro");
    expect(ro).toMatch(/\/dev\/ubdc \/data ext4 ro[, ]/);
    expect(ro).toMatch(/Read-only file system/);
    c.ws.close();
    await stopped();

    await h.client.call("vm.setBootOnce", { name: VM, mode: "no-storage" });
    await h.client.run("vm.start", { name: VM });
    c = await TestConsole.shell(h.client.openConsole(VM));
    const none = await typed(c, "cat /proc/partitions", "parts");
    expect(none).toContain("ubda");
    expect(none).not.toContain("ubdc");
    c.ws.close();
    await stopped();

    // The next boot is normal again: the storage disk is there, writable.
    await h.client.run("vm.start", { name: VM });
    c = await TestConsole.shell(h.client.openConsole(VM));
    const normal = await typed(c, "touch /data/x && echo wrote-data; grep ' /data ' /proc/mounts", "rw");
    expect(normal).toContain("wrote-data");
    expect(normal).toMatch(/\/dev\/ubdc \/data ext4 rw[, ]/);
    c.ws.close();
    await stopped();
  }, 300_000);

  it("a hard reset of a one-shot boot is a normal boot; a cancelled option is not used", async () => {
    await h.client.call("vm.setBootOnce", { name: VM, mode: "single" });
    await h.client.run("vm.start", { name: VM });
    expect((await status()).bootedOnce).toBe("single");
    const reset = await h.client.run("vm.reset", { name: VM });
    expect(reset.state).toBe("succeeded");
    expect(await status()).toMatchObject({ bootedOnce: null, stage: "up" });
    await stopped();

    await h.client.call("vm.setBootOnce", { name: VM, mode: "no-storage" });
    expect((await h.client.call("vm.setBootOnce", { name: VM, mode: null })).bootOnce).toBeNull();
    await h.client.run("vm.start", { name: VM });
    expect(await status()).toMatchObject({ bootOnce: null, bootedOnce: null });
    await stopped();
  }, 300_000);
});
