/**
 * The management verbs against real UML VMs: memory for the next boot (seen by the guest), offline
 * storage growth (resize2fs as the VM's user), owner change (fresh files for the new host user,
 * the old one removed), destroy keeping or discarding snapshots, owner.remove. Each time the VM's
 * host user plants a symlink where the new code touches a file, and the agent does not follow it.
 */
import { randomUUID } from "node:crypto";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./exec";
import { createHarness, type Harness } from "./testing/agent-harness";

let h: Harness;
const VM = "mg-vm";
const VM2 = "mg-two";
const OWNER = "carol";
const NEW_OWNER = "dave";
const timings: Record<string, number> = {};

const vmDir = (name = VM) => join(h.dataDir, "vms", name);
const disk = (file: string, name = VM) => join(vmDir(name), "disk", file);

async function uidOf(owner: string): Promise<number | null> {
  const r = await run(["getent", "passwd", "--", `${h.prefix}${owner}`], { allowFailure: true });
  return r.code === 0 ? Number(r.stdout.split(":")[2]) : null;
}

/** Runs argv as the owner of `dir` (the VM's host user), as a member escaping their guest could. */
async function asOwnerOf(dir: string, argv: string[]) {
  const info = await stat(dir);
  return run(["setpriv", `--reuid=${info.uid}`, `--regid=${info.gid}`, "--clear-groups", "--", ...argv]);
}

async function blockCount(file: string): Promise<number> {
  const r = await run(["dumpe2fs", "-h", "--", file], { allowFailure: true });
  const blocks = Number(/^Block count:\s+(\d+)/m.exec(r.stdout)?.[1] ?? 0);
  const size = Number(/^Block size:\s+(\d+)/m.exec(r.stdout)?.[1] ?? 0);
  return blocks * size;
}

async function bootLog(name = VM): Promise<string> {
  const dir = join(vmDir(name), "console");
  const logs = (await readdir(dir)).filter((f) => f.startsWith("boot-")).sort();
  return readFile(join(dir, logs.at(-1) as string), "latin1");
}

async function stopIfRunning(name = VM): Promise<void> {
  const status = await h.client.call("vm.status", { name });
  if (status.pid !== null) await h.client.run("vm.poweroff", { name });
}

/** A root-owned file the member must not be able to touch through the agent. */
async function victimFile(name: string): Promise<string> {
  const path = join(h.root, name);
  await writeFile(path, "root's file\n", { mode: 0o644 });
  return path;
}

beforeAll(async () => {
  h = await createHarness();
  await h.startAgent();
  for (const [name, owner] of [
    [VM, OWNER],
    [VM2, "erin"],
  ] as const) {
    await h.client.run("vm.create", {
      name,
      owner,
      image: h.image,
      memoryMiB: 64,
      storageGiB: 1,
      swapMiB: 0,
    });
  }
}, 240_000);

afterAll(async () => {
  console.log(`manage timings (s): ${JSON.stringify(timings)}`);
  await h?.cleanup();
});

describe("managing VMs with a real agent", () => {
  it("memory changes apply at the next boot: the guest kernel boots with the new size", async () => {
    const config = await h.client.call("vm.setMemory", { name: VM, memoryMiB: 128 });
    expect(config.memoryMiB).toBe(128);
    const vmJson = JSON.parse(await readFile(join(vmDir(), "vm.json"), "utf8"));
    expect(vmJson.memoryMiB).toBe(128);
    const t0 = Date.now();
    await h.client.run("vm.start", { name: VM });
    timings.boot = (Date.now() - t0) / 1000;
    // The guest kernel's own count of its memory: more than a 64 MiB VM could have (the
    // initramfs of a confined VM is reserved from it at this point: ~102 MiB of 128 measured).
    const log = await bootLog();
    expect(log).toMatch(/^Kernel command line: mem=128M /m);
    const available = Number(/^Memory: (\d+)K\/\d+K available/m.exec(log)?.[1] ?? 0);
    expect(available).toBeGreaterThan(90 * 1024);
    await stopIfRunning();
  }, 240_000);

  it("refuses storage growth and owner change while the VM runs", async () => {
    const up = await h.client.run("vm.start", { name: VM });
    expect(up.result?.state, (await bootLog()).slice(-400)).toBe("running");
    await expect(h.client.call("vm.growStorage", { name: VM, storageGiB: 2 })).rejects.toMatchObject({
      code: "invalid-state",
    });
    await expect(h.client.call("vm.setOwner", { name: VM, owner: NEW_OWNER })).rejects.toMatchObject({
      code: "invalid-state",
    });
    await stopIfRunning();
  }, 240_000);

  it("grows storage offline: the file and its ext4 reach the new size; never shrinks", async () => {
    await expect(h.client.call("vm.growStorage", { name: VM, storageGiB: 1 })).rejects.toMatchObject({
      code: "invalid-request",
    });
    const t0 = Date.now();
    const task = await h.client.run("vm.growStorage", { name: VM, storageGiB: 3 });
    timings.grow = (Date.now() - t0) / 1000;
    expect(task.state).toBe("succeeded");
    expect(task.result?.storageGiB).toBe(3);
    const info = await stat(disk("storage.img"));
    expect(info.size).toBe(3 * 1024 ** 3);
    expect(info.blocks * 512).toBeLessThan(200 * 1024 ** 2); // still sparse
    expect(await blockCount(disk("storage.img"))).toBe(3 * 1024 ** 3);
    // Still the VM user's file (resize2fs ran as that user, not as root).
    expect(info.uid).toBe(await uidOf(OWNER));
  }, 120_000);

  it("does not follow a symlink planted for the storage disk", async () => {
    const victim = await victimFile("victim-storage");
    const diskDir = join(vmDir(), "disk");
    await asOwnerOf(diskDir, ["mv", "--", disk("storage.img"), disk("storage.real")]);
    await asOwnerOf(diskDir, ["ln", "-s", "--", victim, disk("storage.img")]);
    try {
      await expect(h.client.run("vm.growStorage", { name: VM, storageGiB: 4 })).rejects.toMatchObject({
        code: "invalid-state",
      });
      expect(await readFile(victim, "utf8")).toBe("root's file\n");
      expect((await stat(victim)).size).toBe(12);
      const config = JSON.parse(await readFile(join(vmDir(), "vm.json"), "utf8"));
      expect(config.storageGiB).toBe(3);
    } finally {
      await asOwnerOf(diskDir, ["rm", "-f", "--", disk("storage.img")]);
      await asOwnerOf(diskDir, ["mv", "--", disk("storage.real"), disk("storage.img")]);
    }
  });

  it("refuses an owner change when a disk is a planted symlink; nothing changes hands", async () => {
    const victim = await victimFile("victim-swap");
    const diskDir = join(vmDir(), "disk");
    // The VM has no swap: the member plants swap.img → a root-owned file.
    await asOwnerOf(diskDir, ["ln", "-s", "--", victim, disk("swap.img")]);
    try {
      await expect(h.client.run("vm.setOwner", { name: VM, owner: NEW_OWNER })).rejects.toMatchObject({
        code: "invalid-state",
      });
      const info = await stat(victim);
      expect(info.uid).toBe(0);
      expect(await readFile(victim, "utf8")).toBe("root's file\n");
      const config = JSON.parse(await readFile(join(vmDir(), "vm.json"), "utf8"));
      expect(config.owner).toBe(OWNER);
      expect((await stat(disk("root.cow"))).uid).toBe(await uidOf(OWNER));
      expect(await readdir(vmDir())).not.toContain("disk.new");
      expect(await uidOf(NEW_OWNER)).toBeNull(); // the user made for the change was removed again
    } finally {
      await asOwnerOf(diskDir, ["rm", "-f", "--", disk("swap.img")]);
    }
  });

  it("changes the owner: fresh files of the new host user, the old user removed, UML runs as the new one", async () => {
    const oldUid = await uidOf(OWNER);
    const before = await stat(disk("storage.img"));
    const t0 = Date.now();
    const task = await h.client.run("vm.setOwner", { name: VM, owner: NEW_OWNER });
    timings.owner = (Date.now() - t0) / 1000;
    expect(task.state).toBe("succeeded");
    expect(task.result?.owner).toBe(NEW_OWNER);
    expect(task.result?.hostUser).toBe(`${h.prefix}${NEW_OWNER}`);
    const newUid = await uidOf(NEW_OWNER);
    expect(newUid).not.toBeNull();
    expect(await uidOf(OWNER)).toBeNull(); // carol's last VM moved: her host user is gone
    for (const file of ["root.cow", "storage.img"]) {
      const info = await stat(disk(file));
      expect(info.uid, file).toBe(newUid);
      expect(info.mode & 0o777, file).toBe(0o600);
    }
    const after = await stat(disk("storage.img"));
    expect(after.ino).not.toBe(before.ino); // a fresh inode: no descriptor of the old user reaches it
    expect(after.size).toBe(before.size);
    expect(after.blocks * 512).toBeLessThan(200 * 1024 ** 2); // copied sparse
    for (const dir of ["disk", "run", "ram", "console"]) {
      expect((await stat(join(vmDir(), dir))).uid, dir).toBe(newUid);
    }
    expect(await readdir(vmDir())).not.toContain("disk.old");
    expect(oldUid).not.toBe(newUid);

    // UML ran as the new user: it opened the 0600 disks of that user and mounted the root disk.
    await h.client.run("vm.start", { name: VM });
    const log = await bootLog();
    expect(log).toMatch(/EXT4-fs \(ubda\): mounted filesystem/);
    expect((await stat(join(vmDir(), "console"))).uid).toBe(newUid);
    await stopIfRunning();
  }, 240_000);

  it("destroy keeps the snapshots when asked, away from a later VM of the same name", async () => {
    const id = randomUUID();
    await h.client.run("snapshot.create", { name: VM, id, includeStorage: false });
    await expect(h.client.call("owner.remove", { owner: NEW_OWNER })).rejects.toMatchObject({
      code: "invalid-state",
    });
    const task = await h.client.run("vm.destroy", { name: VM, confirm: VM, keepSnapshots: true });
    expect(task.state).toBe("succeeded");
    expect(task.log?.some((l) => l.includes("kept-snapshots"))).toBe(true);
    const kept = await readdir(join(h.dataDir, "kept-snapshots"));
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatch(new RegExp(`^${VM}-\\d{8}T\\d{6}$`));
    const manifest = JSON.parse(
      await readFile(join(h.dataDir, "kept-snapshots", kept[0] as string, id, "manifest.json"), "utf8"),
    );
    expect(manifest.id).toBe(id);
    expect(await readdir(join(h.dataDir, "snapshots")).catch(() => [])).not.toContain(VM);
    expect(await readdir(join(h.dataDir, "vms"))).not.toContain(VM);
    expect(await uidOf(NEW_OWNER)).toBeNull();
    expect(await h.client.call("owner.remove", { owner: NEW_OWNER })).toEqual({
      owner: NEW_OWNER,
      removed: false,
    });
  }, 120_000);

  it("restores a stopped VM's snapshot; a name the member planted for the temp file is removed, not followed", async () => {
    const id = randomUUID();
    await h.client.run("snapshot.create", { name: VM2, id, includeStorage: true });
    const victim = await victimFile("victim-restore");
    const diskDir = join(vmDir(VM2), "disk");
    await asOwnerOf(diskDir, ["ln", "-s", "--", victim, join(diskDir, ".restore-root.cow")]);
    const task = await h.client.run("snapshot.restore", {
      name: VM2,
      id,
      confirm: id,
      safetyId: randomUUID(),
    });
    expect(task.state).toBe("succeeded");
    expect(await readFile(victim, "utf8")).toBe("root's file\n");
    expect((await stat(victim)).uid).toBe(0);
    expect((await readdir(diskDir)).filter((n) => n.startsWith(".restore-"))).toEqual([]);
    expect((await stat(disk("root.cow", VM2))).uid).toBe(await uidOf("erin"));
  }, 120_000);

  it("destroy discards snapshots by default and never follows a planted symlink", async () => {
    await h.client.run("snapshot.create", { name: VM2, id: randomUUID(), includeStorage: false });
    // The member plants links to a root-owned directory and file in its console and disk dirs.
    const victimDir = join(h.root, "victim-dir");
    await mkdir(victimDir);
    await writeFile(join(victimDir, "keep-me"), "x");
    const victim = await victimFile("victim-destroy");
    const consoleDir = join(vmDir(VM2), "console");
    await asOwnerOf(consoleDir, ["ln", "-s", "--", victimDir, join(consoleDir, "boot-000777.log")]);
    await asOwnerOf(consoleDir, ["ln", "-s", "--", victim, join(vmDir(VM2), "disk", "swap.img")]);

    const task = await h.client.run("vm.destroy", { name: VM2, confirm: VM2 });
    expect(task.state).toBe("succeeded");
    expect(await readFile(join(victimDir, "keep-me"), "utf8")).toBe("x");
    expect(await readFile(victim, "utf8")).toBe("root's file\n");
    expect(await readdir(join(h.dataDir, "vms"))).toEqual([]);
    expect(await readdir(join(h.dataDir, "snapshots"))).not.toContain(VM2);
    expect(await readdir(join(h.dataDir, "kept-snapshots"))).toHaveLength(1); // only the earlier one
    expect(await uidOf("erin")).toBeNull();
  }, 120_000);
});
