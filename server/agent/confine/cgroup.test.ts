import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CgroupError, defaultLimits, detectCgroups, ensureVmCgroup, readVmCgroupUsage } from "./cgroup";

let root = "";
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "zaphod-cgroup-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fake v1 tree: each controller dir has cgroup.procs; children get their files when "created". */
async function fakeV1(withBlkioWeight: boolean) {
  for (const c of ["pids", "memory", "blkio"]) {
    await mkdir(join(root, c), { recursive: true });
    await writeFile(join(root, c, "cgroup.procs"), "");
  }
  const layout = await detectCgroups(root);
  // The kernel makes a new group's files; here they are made up front for the groups the test uses.
  for (const rel of ["zaphod", "zaphod/alice"]) {
    for (const [c, files] of Object.entries({
      pids: ["pids.max", "pids.current"],
      memory: ["memory.limit_in_bytes", "memory.usage_in_bytes"],
      blkio: withBlkioWeight ? ["blkio.bfq.weight"] : [],
    })) {
      await mkdir(join(root, c, rel), { recursive: true });
      for (const f of [...files, "cgroup.procs"]) await writeFile(join(root, c, rel, f), "0");
    }
  }
  return layout;
}

describe("cgroups", () => {
  it("says clearly when there is neither v1 nor v2", async () => {
    await expect(detectCgroups(root)).rejects.toThrow(CgroupError);
    await expect(detectCgroups(root)).rejects.toThrow(/neither cgroup v2.*nor the v1 pids and memory/);
  });

  it("v1: writes pids.max, the memory limit and the BFQ weight; joins no cpu controller", async () => {
    await mkdir(join(root, "cpu"), { recursive: true });
    await writeFile(join(root, "cpu", "cgroup.procs"), "");
    const layout = await fakeV1(true);
    expect(layout.version).toBe(1);
    const limits = defaultLimits(64, { pidsMax: 200, ioWeight: 20 });
    const group = await ensureVmCgroup(layout, "zaphod", "alice", limits);
    const read = (p: string) => readFile(join(root, p), "utf8");
    expect(await read("pids/zaphod/alice/pids.max")).toBe("200");
    expect(Number(await read("memory/zaphod/alice/memory.limit_in_bytes"))).toBe(
      (64 + 16 + 96) * 1024 * 1024,
    );
    expect(await read("blkio/zaphod/alice/blkio.bfq.weight")).toBe("20");
    expect(group.procs).toEqual(
      ["pids", "memory", "blkio"].map((c) => join(root, c, "zaphod/alice/cgroup.procs")),
    );
    expect(await readdir(join(root, "cpu"))).toEqual(["cgroup.procs"]);
    expect(group.notApplied).toEqual([]);
  });

  it("v1: the admin's I/O weight goes to the VM and to every VM together (the parent)", async () => {
    const layout = await fakeV1(true);
    await ensureVmCgroup(layout, "zaphod", "alice", defaultLimits(64, { ioWeight: 25 }), 25);
    const read = (p: string) => readFile(join(root, p), "utf8");
    expect(await read("blkio/zaphod/alice/blkio.bfq.weight")).toBe("25");
    expect(await read("blkio/zaphod/blkio.bfq.weight")).toBe("25");
  });

  it("v1: reports an I/O weight it cannot set instead of failing", async () => {
    const group = await ensureVmCgroup(await fakeV1(false), "zaphod", "alice", defaultLimits(64));
    expect(group.notApplied).toEqual(["block I/O weight (no blkio.bfq.weight or blkio.weight)"]);
  });

  it("v2: enables pids, memory and io (not cpu) and writes memory.max and io.weight", async () => {
    await writeFile(join(root, "cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma misc\n");
    await writeFile(join(root, "cgroup.subtree_control"), "");
    const layout = await detectCgroups(root);
    expect(layout.version).toBe(2);
    for (const rel of ["zaphod", "zaphod/alice"]) {
      await mkdir(join(root, rel), { recursive: true });
      for (const f of ["cgroup.subtree_control", "io.weight", "pids.max", "memory.max", "memory.current"])
        await writeFile(join(root, rel, f), "");
    }
    await writeFile(join(root, "zaphod/alice/memory.current"), "4096");
    const group = await ensureVmCgroup(layout, "zaphod", "alice", defaultLimits(128));
    expect(await readFile(join(root, "cgroup.subtree_control"), "utf8")).toBe("+pids +memory +io");
    expect(await readFile(join(root, "zaphod/alice/io.weight"), "utf8")).toBe("default 50");
    expect(await readFile(join(root, "zaphod/alice/memory.max"), "utf8")).toBe(
      String((128 + 16 + 96) * 2 ** 20),
    );
    expect((await readVmCgroupUsage(group)).memoryBytes).toBe(4096);
  });

  it("v2: a host lacking a controller is named", async () => {
    await writeFile(join(root, "cgroup.controllers"), "cpu memory\n");
    await expect(detectCgroups(root)).rejects.toThrow(/lacks the pids, io controller/);
  });

  it("refuses odd names and out-of-range limits", async () => {
    const layout = await fakeV1(true);
    await expect(ensureVmCgroup(layout, "zaphod", "../etc", defaultLimits(64))).rejects.toThrow(
      /bad cgroup name/,
    );
    await expect(
      ensureVmCgroup(layout, "zaphod", "alice", defaultLimits(64, { pidsMax: 1 })),
    ).rejects.toThrow(/pids/);
    await expect(
      ensureVmCgroup(layout, "zaphod", "alice", defaultLimits(64, { ioWeight: 0 })),
    ).rejects.toThrow(/I\/O weight/);
  });
});
