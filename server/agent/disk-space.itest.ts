/**
 * Security catalogue check 31 (disk quota with sparse images). This kernel has no disk quotas, so
 * the nearest equivalent is tested: the free-space reserve (disk-space.ts). The agent's data dir is
 * a small loop-mounted ext4 (2 GiB, sparse on the host; the test's filler is `fallocate`d, so no
 * gigabytes are written), a real UML VM writes into its storage disk with `dd` until free space
 * crosses the reserve, and the test checks that the agent pauses it with the reason, that the
 * filesystem never fills, that provisioning is refused with the message, that an admin resume of a
 * VM that keeps writing is paused again, and that deleting the filler resumes it.
 */
import { randomUUID } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, stat, statfs } from "node:fs/promises";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentEvent, VmStatus } from "../protocol/agent";
import { run } from "./exec";
import { createHarness, type Harness } from "./testing/agent-harness";
import { TestConsole } from "./testing/console-client";

const MiB = 1024 ** 2;
const RESERVE = 128 * MiB;
/** What the filler leaves above the reserve: the guest's dd crosses it after about this much. */
const HEADROOM = 48 * MiB;
const VM = "space-vm";
const OWNER = "spacer";

let h: Harness;
let image = "";
let mounted = false;
const figures: Record<string, number> = {};

const freeBytes = async () => {
  const fs = await statfs(h.dataDir);
  return fs.bavail * fs.bsize;
};
const status = (): Promise<VmStatus> => h.client.call("vm.status", { name: VM });

async function until<T>(
  what: string,
  probe: () => Promise<T | null | undefined>,
  timeoutMs: number,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const value = await probe();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

function shell(): Promise<TestConsole> {
  return TestConsole.shell(h.client.openConsole(VM));
}

beforeAll(async () => {
  h = await createHarness();
  // The data dir (with the harness's image in it) moves onto a small filesystem of its own.
  image = join("/var/tmp", `zaphod-check31-${basename(h.root)}.img`);
  await run(["truncate", "-s", "2G", "--", image]);
  await run(["mkfs.ext4", "-q", "-m", "0", "-F", image]);
  const orig = `${h.dataDir}.orig`;
  await rename(h.dataDir, orig);
  await mkdir(h.dataDir);
  await run(["mount", "-o", "loop", "--", image, h.dataDir]);
  mounted = true;
  await chmod(h.dataDir, 0o755);
  await run(["cp", "-a", "--", join(orig, "images"), h.dataDir]);
  await rm(orig, { recursive: true, force: true });
  await h.startAgent();
  const host = await h.client.call("host.setDiskReserve", { reserve: { bytes: RESERVE } });
  expect(host.dataDiskReserveBytes).toBe(RESERVE);
  expect(host.dataDiskReserve).toEqual({ bytes: RESERVE });
  await h.client.run("vm.create", {
    name: VM,
    owner: OWNER,
    image: h.image,
    memoryMiB: 64,
    storageGiB: 1,
    swapMiB: 0,
  });
  const up = await h.client.run("vm.start", { name: VM });
  const boot = await readFile(join(h.dataDir, "vms", VM, "console", "boot-000001.log"), "latin1").catch(
    String,
  );
  expect(up.result?.stage, `${JSON.stringify(up.result)}\n${boot.slice(-3000)}\n${h.agentLog.join("")}`).toBe(
    "up",
  );
}, 240_000);

afterAll(async () => {
  console.log(`check 31 figures (MiB): ${JSON.stringify(figures)}`);
  const lines = (h?.agentLog.join("") ?? "").split("\n");
  console.log(lines.filter((l) => /space|paused|resum|reserve/.test(l)).join("\n"));
  // cleanup() stops the VMs and removes the users; its final rm stops at the mount point.
  await h?.cleanup().catch(() => undefined);
  if (mounted) {
    const r = await run(["umount", "--", h.dataDir], { allowFailure: true });
    if (r.code !== 0) await run(["umount", "-l", "--", h.dataDir], { allowFailure: true });
  }
  if (h) await rm(h.root, { recursive: true, force: true });
  if (image) await rm(image, { force: true });
}, 60_000);

describe("disk space", () => {
  it("check 31: disk quota with sparse images — nearest equivalent: the free-space reserve (this kernel has no disk quotas)", async () => {
    const c = await shell();
    const events: AgentEvent[] = [];
    const off = h.client.subscribe((e) => events.push(e));
    const filler = join(h.dataDir, "filler");
    const fillBytes = (await freeBytes()) - RESERVE - HEADROOM;
    await run(["fallocate", "-l", String(fillBytes), "--", filler]);
    figures.freeAfterFiller = Math.round((await freeBytes()) / MiB);
    expect(await freeBytes()).toBeGreaterThan(RESERVE);

    // The host's free space, sampled every 50 ms for the whole test: it must never reach 0.
    let minFree = Number.POSITIVE_INFINITY;
    const sampler = setInterval(() => {
      void freeBytes().then((f) => {
        minFree = Math.min(minFree, f);
      });
    }, 50);
    try {
      // 300 MB of zeros into the storage disk: far more than is free above the reserve.
      const mark = c.text.length;
      c.type("dd if=/dev/zero of=/data/fill bs=1M count=300 conv=fsync 2>/dev/null; echo dd-$((3+4))\r");
      const paused = await until("paused for space", async () => (await status()).pausedForSpace, 120_000);
      expect((await status()).state).toBe("running");
      expect(paused.reason).toMatch(/below its 128 MiB reserve/);
      expect(paused.grewBytes).toBeGreaterThan(0);
      expect(paused.reserveBytes).toBe(RESERVE);
      expect(events.some((e) => e.type === "vm.state" && e.vm === VM && e.pausedForSpace === true)).toBe(
        true,
      );
      // The agent (root) still writes to the data disk: it recorded the pause there.
      expect((await stat(join(h.dataDir, "vms", VM, "space-pause.json"))).size).toBeGreaterThan(0);
      // Paused means paused: free space stops falling (in-flight writes aside) and dd does not finish.
      const atPause = await freeBytes();
      await new Promise((r) => setTimeout(r, 3000));
      figures.fellAfterPause = Math.round((atPause - (await freeBytes())) / MiB);
      expect(atPause - (await freeBytes())).toBeLessThan(16 * MiB);
      expect(c.text.slice(mark)).not.toMatch(/^dd-7/m);

      // Provisioning is refused while the host is short of space, saying why.
      const refused = await h.client
        .call("vm.create", {
          name: "space-two",
          owner: OWNER,
          image: h.image,
          memoryMiB: 32,
          storageGiB: 1,
          swapMiB: 0,
        })
        .then(
          () => null,
          (e: unknown) => e as { code: string; message: string },
        );
      expect(refused?.code).toBe("no-space");
      expect(refused?.message).toMatch(
        /the new VM's disks .* could need [\d.]+ GiB, .* above the host's 128 MiB reserve/,
      );
      // So is a snapshot of the writer (its allocated disks do not fit above the reserve either).
      const snap = await h.client
        .call("snapshot.create", { name: VM, id: randomUUID(), includeStorage: true })
        .then(
          () => null,
          (e: unknown) => e as { code: string },
        );
      expect(snap?.code).toBe("no-space");

      // The admin resumes it while it still writes: the next check pauses it again.
      await h.client.call("vm.resume", { name: VM });
      const again = await until("paused again", async () => (await status()).pausedForSpace, 30_000);
      expect(new Date(again.since).getTime()).toBeGreaterThan(new Date(paused.since).getTime());

      // Space comes back (the filler goes; nothing of the member's was deleted): the VM resumes.
      await rm(filler);
      await until("resumed", async () => ((await status()).pausedForSpace ? null : true), 30_000);
      await expect(stat(join(h.dataDir, "vms", VM, "space-pause.json"))).rejects.toThrow();
      await c.waitFor(/^dd-7/m, 120_000, mark);
      const done = c.text.length;
      c.type("ls -l /data/fill | awk '{print \"size-\" $5}'\r");
      const size = await c.waitFor(/^size-(\d+)/m, 30_000, done);
      expect(Number(size[1])).toBe(300 * MiB);
      figures.minFree = Math.round(minFree / MiB);
      expect(minFree).toBeGreaterThan(0);
      expect(events.some((e) => e.type === "vm.state" && e.vm === VM && e.pausedForSpace === false)).toBe(
        true,
      );
    } finally {
      clearInterval(sampler);
      off();
      c.close();
      await rm(filler, { force: true });
    }
  }, 400_000);
});
