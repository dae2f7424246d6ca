/**
 * Snapshots against a real UML VM (one VM reused throughout): the marker-file round trip through
 * a live snapshot and a restore, then kill -9 of the agent at each named point of a snapshot
 * (ZAPHOD_TEST_PAUSE_AT, test-only), each time checking that the restarted agent left the VM
 * running and not paused, listed no partial snapshot, reported the task interrupted and held no lock.
 */
import { randomUUID } from "node:crypto";
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./exec";
import { createHarness, type Harness } from "./testing/agent-harness";
import { TestConsole } from "./testing/console-client";

let h: Harness;
const VM = "snap-vm";
const OWNER = "snapper";
const timings: Record<string, number> = {};

function shell(): Promise<TestConsole> {
  return TestConsole.shell(h.client.openConsole(VM));
}

/** Types a command and waits for its unique answer: proves the guest runs (a paused guest echoes nothing). */
async function exec(c: TestConsole, command: string, answer: RegExp, timeoutMs = 30_000): Promise<void> {
  const mark = c.text.length;
  c.type(`${command}\r`);
  await c.waitFor(answer, timeoutMs, mark);
}

async function waitForFile(path: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await stat(path).catch(() => null)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${path} did not appear`);
}

async function restartAgent(pauseAt: string | null): Promise<void> {
  await h.killAgent("SIGKILL");
  if (pauseAt) h.env.ZAPHOD_TEST_PAUSE_AT = pauseAt;
  else delete (h.env as Record<string, string | undefined>).ZAPHOD_TEST_PAUSE_AT;
  await h.startAgent();
}

const snapDir = () => join(h.dataDir, "snapshots", VM);

beforeAll(async () => {
  h = await createHarness();
  await h.startAgent();
  await h.client.run("vm.create", {
    name: VM,
    owner: OWNER,
    image: h.image,
    memoryMiB: 64,
    storageGiB: 1,
    swapMiB: 0,
  });
  const t0 = Date.now();
  const up = await h.client.run("vm.start", { name: VM });
  timings.boot = (Date.now() - t0) / 1000;
  expect(up.result?.stage).toBe("up");
}, 240_000);

afterAll(async () => {
  console.log(`snapshot timings (s): ${JSON.stringify(timings)}`);
  await h?.cleanup();
});

describe("snapshots with a real UML VM", () => {
  it("round trip: a file written before the snapshot is back after a restore, one written after is gone", async () => {
    const c = await shell();
    // 24 MB of incompressible data on the root disk makes the pause measurable.
    await exec(
      c,
      "echo before > /root/before; dd if=/dev/urandom of=/root/big bs=1M count=24 2>/dev/null; sync; echo w-$((1+1))",
      /^w-2/m,
      120_000,
    );
    const id = randomUUID();
    const t0 = Date.now();
    const task = await h.client.run("snapshot.create", { name: VM, id, includeStorage: true });
    timings.snapshot = (Date.now() - t0) / 1000;
    expect(task.state).toBe("succeeded");
    expect(task.snapshot?.id).toBe(id);
    expect(task.snapshot?.live).toBe(true);
    expect(task.snapshot?.pauseMs).toBeGreaterThan(0);
    expect(task.log?.some((l) => /guest paused \d+\.\d\d s/.test(l))).toBe(true);
    timings.pauseSeconds = (task.snapshot?.pauseMs ?? 0) / 1000;
    // Sparse stays sparse: the 1 GiB storage file copied at its allocated size, not its apparent one.
    const storage = task.snapshot?.files.find((f) => f.disk === "storage");
    expect(storage?.apparentBytes).toBe(1024 ** 3);
    expect(storage?.allocatedBytes).toBeLessThan(100 * 1024 ** 2);
    const srcStorage = await stat(join(h.dataDir, "vms", VM, "disk", "storage.img"));
    // Never more than the source (holes stay holes; zero-filled blocks may even become holes).
    expect(storage?.allocatedBytes ?? 0).toBeLessThanOrEqual(srcStorage.blocks * 512 + 1024 ** 2);
    expect(task.snapshot?.image.name).toBe(h.image);
    // The guest was resumed.
    await exec(c, "echo after > /root/after; sync; echo a-$((2+2))", /^a-4/m);
    c.close();

    const list = await h.client.call("snapshot.list", { name: VM });
    expect(list.snapshots.map((s) => s.id)).toEqual([id]);

    // Refusals: wrong confirmation, unknown snapshot, hostile ids (before anything happens).
    await expect(
      h.client.call("snapshot.restore", { name: VM, id, confirm: randomUUID(), safetyId: randomUUID() }),
    ).rejects.toMatchObject({ code: "invalid-request" });
    const unknown = randomUUID();
    await expect(
      h.client.call("snapshot.restore", { name: VM, id: unknown, confirm: unknown, safetyId: randomUUID() }),
    ).rejects.toMatchObject({ code: "not-found" });
    await expect(
      h.client.call("snapshot.delete", { name: VM, id: "../../etc" } as never),
    ).rejects.toMatchObject({ code: "invalid-request" });
    await expect(
      h.client.call("snapshot.create", { name: VM, id, includeStorage: false, path: "/etc" } as never),
    ).rejects.toMatchObject({ code: "invalid-request" });

    const safetyId = randomUUID();
    const t1 = Date.now();
    const restored = await h.client.run("snapshot.restore", { name: VM, id, confirm: id, safetyId });
    timings.restore = (Date.now() - t1) / 1000;
    expect(restored.state).toBe("succeeded");
    expect(restored.result?.stage).toBe("up");
    expect(restored.snapshot?.id).toBe(safetyId);
    expect(restored.snapshot?.kind).toBe("safety");
    expect(restored.log?.some((l) => /shut down cleanly/.test(l))).toBe(true);

    const c2 = await shell();
    await exec(
      c2,
      "test -e /root/before && echo HAS-BEFORE; test -e /root/after || echo NO-AFTER; echo r-$((3+3))",
      /HAS-BEFORE[\s\S]*NO-AFTER[\s\S]*r-6/,
    );
    c2.close();

    const after = await h.client.call("snapshot.list", { name: VM });
    expect(after.snapshots.map((s) => [s.id, s.kind])).toEqual([
      [id, "manual"],
      [safetyId, "safety"],
    ]);
    const usage = await h.client.call("snapshot.usage", { name: VM });
    expect(usage.vms[0]?.count).toBe(2);
    expect(usage.vms[0]?.allocatedBytes).toBe(after.snapshots.reduce((n, s) => n + s.allocatedBytes, 0));
    const deleted = await h.client.call("snapshot.delete", { name: VM, id: safetyId });
    expect(deleted.deleted.id).toBe(safetyId);
    await expect(h.client.call("snapshot.delete", { name: VM, id: safetyId })).rejects.toMatchObject({
      code: "not-found",
    });
    // Snapshot files are the agent's: a root-only directory.
    expect((await stat(snapDir())).mode & 0o777).toBe(0o700);
  }, 300_000);

  it("check 25: never follows a symlink the VM's user plants for a disk: the snapshot fails, its marker is removed, nothing is listed, the VM runs on", async () => {
    const disk = join(h.dataDir, "vms", VM, "disk");
    const { uid, gid } = await stat(disk);
    const asVmUser = (argv: string[]) =>
      run(["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--", ...argv]);
    const before = (await h.client.call("snapshot.list", { name: VM })).snapshots.map((s) => s.id);
    await asVmUser(["mv", "--", join(disk, "storage.img"), join(disk, "storage.real")]);
    await asVmUser(["ln", "-s", "/etc/shadow", join(disk, "storage.img")]);
    try {
      const id = randomUUID();
      await expect(
        h.client.run("snapshot.create", { name: VM, id, includeStorage: true }),
      ).rejects.toMatchObject({
        code: "internal",
      });
      expect((await h.client.call("snapshot.list", { name: VM })).snapshots.map((s) => s.id)).toEqual(before);
      expect((await readdir(snapDir())).filter((e) => e.startsWith(".tmp-") || e === id)).toEqual([]);
      // The failed snapshot removes its in-progress marker (issue 11 point 9): a restarted agent
      // must not report a failed task as interrupted, nor undo anything for it.
      expect(await readdir(snapDir())).not.toContain(".in-progress.json");
    } finally {
      await asVmUser(["rm", "-f", "--", join(disk, "storage.img")]);
      await asVmUser(["mv", "--", join(disk, "storage.real"), join(disk, "storage.img")]);
    }
    const c = await shell();
    await exec(c, "echo still-$((8*8))", /^still-64/m);
    c.close();
  });

  it("check 32: kill -9 of the agent during a snapshot, at every point: VM resumed, nothing partial, task interrupted, no lock", async () => {
    const points = ["before-stop", "after-stop", "after-copy", "before-rename", "after-rename"];
    const before = (await h.client.call("snapshot.list", { name: VM })).snapshots.map((s) => s.id);
    let previous: { point: string; taskId: string; snapshotId: string } | null = null;
    const pauseDir = join(h.dataDir, "test-pause");
    const verify = async (p: { point: string; taskId: string; snapshotId: string }) => {
      const task = await h.client.call("task.get", { id: p.taskId });
      expect(task.state, p.point).toBe("interrupted");
      const listed = (await h.client.call("snapshot.list", { name: VM })).snapshots.map((s) => s.id);
      expect(listed, p.point).toEqual(before);
      const entries = await readdir(snapDir());
      expect(
        entries.filter((e) => e.startsWith(".tmp-") || e === ".in-progress.json" || e === p.snapshotId),
        p.point,
      ).toEqual([]);
      const status = await h.client.call("vm.status", { name: VM });
      expect(status.state, p.point).toBe("running");
      expect(status.busy, p.point).toBeNull();
      // Running, not paused: the guest echoes.
      const c = await shell();
      await exec(c, `echo alive-${p.point}-$((7*6))`, new RegExp(`^alive-${p.point}-42`, "m"), 20_000);
      c.close();
    };
    const t0 = Date.now();
    for (const point of points) {
      await restartAgent(`snapshot:${point}`);
      if (previous) await verify(previous);
      await rm(pauseDir, { recursive: true, force: true });
      const snapshotId = randomUUID();
      const taskId = randomUUID();
      // Accepted at once: the previous kill left no lock behind.
      const accepted = await h.client.call(
        "snapshot.create",
        { name: VM, id: snapshotId, includeStorage: false },
        { id: taskId },
      );
      expect(accepted.task.state).toBe("running");
      await waitForFile(join(pauseDir, `${point}.reached`));
      if (point === "after-stop" || point === "after-copy") {
        // The guest really is paused here: the console does not answer.
        const c = await TestConsole.open(h.client.openConsole(VM));
        await c.replayed();
        const mark = c.text.length;
        c.type("echo paused-$((5*5))\r");
        await expect(c.waitFor(/^paused-25/m, 1500, mark)).rejects.toThrow();
        c.close();
      }
      previous = { point, taskId, snapshotId };
    }
    await restartAgent(null);
    if (previous) await verify(previous);
    timings.killPoints = (Date.now() - t0) / 1000;
    // And the next snapshot runs to the end.
    const id = randomUUID();
    const ok = await h.client.run("snapshot.create", { name: VM, id, includeStorage: false });
    expect(ok.state).toBe("succeeded");
    expect((await h.client.call("snapshot.list", { name: VM })).snapshots.map((s) => s.id)).toContain(id);
  }, 400_000);

  it("a snapshot of a stopped VM is a plain copy (no pause); destroy removes the VM's snapshots", async () => {
    await h.client.run("vm.poweroff", { name: VM });
    const id = randomUUID();
    const task = await h.client.run("snapshot.create", { name: VM, id, includeStorage: false });
    expect(task.snapshot?.live).toBe(false);
    expect(task.snapshot?.pauseMs).toBeNull();
    expect(task.log?.some((l) => /without a pause/.test(l))).toBe(true);
    await h.client.run("vm.destroy", { name: VM, confirm: VM });
    await new Promise((r) => setTimeout(r, 300));
    expect(await stat(snapDir()).catch(() => null)).toBeNull();
  }, 120_000);
});
