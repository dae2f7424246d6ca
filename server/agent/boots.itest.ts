/**
 * Every boot's console, kept (issue 14 point 6), against a real UML VM: a start, a hard reset, a
 * reboot from inside the guest, a force off, a halt from inside, a crash (a kernel panic), a clean
 * shut down — each boot says how it began and ended, and its
 * console log is read through the agent. The retention removes the oldest logs with their records.
 * A log the VM's user replaces with a symlink or a hard link to another file is not sent.
 */
import { link, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_PATHS, type BootRecord } from "../protocol/agent";
import { createHarness, type Harness } from "./testing/agent-harness";
import { TestConsole } from "./testing/console-client";
import { bootLogName } from "./vm-paths";

let h: Harness;
const VM = "boots-vm";

const status = () => h.client.call("vm.status", { name: VM });
const boots = async (): Promise<BootRecord[]> => (await h.client.call("vm.boots", { name: VM })).boots;
const consoleDir = () => join(h.dataDir, "vms", VM, "console");

/** Types a command that ends the guest (no marker comes back). */
async function fire(command: string): Promise<void> {
  const c = await TestConsole.shell(h.client.openConsole(VM));
  c.type(`${command}\r`);
  await new Promise((r) => setTimeout(r, 300));
  c.ws.close();
}

async function logText(n: number): Promise<string> {
  const body = await h.client.download(AGENT_PATHS.bootLog(VM, n));
  let text = "";
  for await (const chunk of body) text += String(chunk);
  return text;
}

async function stoppedBy(timeoutMs = 60_000): Promise<void> {
  await expect.poll(async () => (await status()).pid, { timeout: timeoutMs, interval: 500 }).toBeNull();
}

/** The newest boot once it is recorded as ended. */
async function ended(): Promise<BootRecord | undefined> {
  await expect
    .poll(async () => (await boots())[0]?.end ?? null, { timeout: 30_000, interval: 500 })
    .not.toBeNull();
  return (await boots())[0];
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

describe("every boot's console, kept", () => {
  it("a start, a hard reset, a reboot from inside and a force off, each with how it began and ended", async () => {
    expect((await h.client.run("vm.start", { name: VM })).state).toBe("succeeded");
    expect((await boots())[0]).toMatchObject({
      n: 1,
      cause: "start",
      end: null,
      running: true,
      guestReboots: 0,
    });

    expect((await h.client.run("vm.reset", { name: VM })).state).toBe("succeeded");
    let list = await boots();
    expect(list.map((b) => [b.n, b.cause, b.end, b.running])).toEqual([
      [2, "hard-reset", null, true],
      [1, "start", "hard-reset", false],
    ]);
    expect(Date.parse(list[1]?.endedAt ?? "")).toBeGreaterThanOrEqual(Date.parse(list[1]?.startedAt ?? ""));

    // The guest's own reboot: UML starts the kernel again in the same process and the same log.
    await fire("reboot -f");
    await expect
      .poll(async () => (await boots())[0]?.guestReboots, { timeout: 90_000, interval: 1_000 })
      .toBe(1);
    await expect.poll(async () => (await status()).stage, { timeout: 90_000, interval: 1_000 }).toBe("up");
    expect((await boots())[0]).toMatchObject({ n: 2, running: true });

    await h.client.run("vm.poweroff", { name: VM });
    list = await boots();
    expect(list[0]).toMatchObject({ n: 2, end: "force-off", running: false });
    expect(list[0]?.logBytes).toBeGreaterThan(1000);
    // Its console log, through the agent: both kernels' banners.
    expect((await logText(2)).split("Linux version ").length - 1).toBe(2);
  }, 300_000);

  it("a halt from inside the guest, and a crash with the console's last line", async () => {
    await h.client.run("vm.start", { name: VM });
    await fire("poweroff -f");
    await stoppedBy();
    expect(await ended()).toMatchObject({ n: 3, cause: "start", end: "guest-halt", endDetail: null });

    // A kernel panic (sysrq c): UML exits; the agent did not stop it.
    await h.client.run("vm.start", { name: VM });
    await fire("echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger");
    await stoppedBy();
    expect(await ended()).toMatchObject({
      n: 4,
      end: "crash",
      endDetail: "Kernel panic - not syncing: sysrq triggered crash",
    });
    expect(await logText(4)).toContain("sysrq: Trigger a crash");
  }, 300_000);

  it("a clean shut down; the retention keeps the newest logs and their records", async () => {
    await h.client.run("vm.start", { name: VM });
    await h.client.run("vm.shutdown", { name: VM });
    expect((await boots())[0]).toMatchObject({ n: 5, end: "shutdown" });

    expect((await h.client.call("host.setBootLogRetention", { keep: 3 })).keep).toBe(3);
    expect((await h.client.call("agent.health", {})).bootLogsKept).toBe(3);
    await h.client.run("vm.start", { name: VM });
    const list = await boots();
    expect(list.map((b) => b.n)).toEqual([6, 5, 4]);
    expect(list.every((b) => b.logBytes !== null)).toBe(true);
    expect((await readdir(consoleDir())).sort()).toEqual([bootLogName(4), bootLogName(5), bootLogName(6)]);
    await expect(logText(1)).rejects.toMatchObject({ code: "not-found" });
    await h.client.run("vm.poweroff", { name: VM });
    await h.client.call("host.setBootLogRetention", { keep: 5 });
  }, 300_000);

  it("a log replaced with a symlink or a hard link to another file is not sent", async () => {
    const secret = join(h.root, "not-the-vms.txt");
    await writeFile(secret, "root:secret-hash:::\n", { mode: 0o600 });
    const file = join(consoleDir(), bootLogName(5));
    await rm(file);
    await symlink(secret, file);
    await expect(logText(5)).rejects.toMatchObject({ code: "not-found" });
    await rm(file);
    // A hard link: the file is root's (or the test's), not the VM user's own.
    await link(secret, file);
    const refused = await logText(5).catch((e: unknown) => e as { code: string; message: string });
    expect(refused).toMatchObject({ code: "invalid-state" });
    expect(String((refused as { message: string }).message)).not.toContain("secret-hash");
  }, 60_000);
});
