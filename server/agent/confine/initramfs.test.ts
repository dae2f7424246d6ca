import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { readNewc } from "./cpio";
import { buildInitramfs, INIT_SCRIPT } from "./initramfs";

const modulesRoot = "/usr/lib/uml/modules";
const hasUml = existsSync(modulesRoot) && existsSync("/bin/busybox");

describe("initramfs", () => {
  it("/init is valid shell and turns module loading off before the real root", () => {
    const check = spawnSync("busybox", ["sh", "-n", "-c", INIT_SCRIPT]);
    expect(check.status).toBe(0);
    const off = INIT_SCRIPT.indexOf("echo 1 > /proc/sys/kernel/modules_disabled");
    expect(off).toBeGreaterThan(INIT_SCRIPT.indexOf("insmod"));
    expect(off).toBeLessThan(INIT_SCRIPT.indexOf("switch_root"));
    expect(INIT_SCRIPT).toMatch(/!= 1 \]; then[\s\S]*poweroff -f/);
  });

  it.runIf(hasUml)(
    "builds a root-owned 0444 archive with busybox, /init and the modules in load order",
    async () => {
      const dir = await mkdtemp(join(tmpdir(), "zaphod-initramfs-"));
      try {
        const version = readdirSync(modulesRoot)[0] as string;
        const built = await buildInitramfs({ kernelVersion: version, outFile: join(dir, "initramfs.cpio") });
        const info = await stat(built.path);
        expect(info.mode & 0o777).toBe(0o444);
        const members = readNewc(gunzipSync(await readFile(built.path)));
        const byName = new Map(members.map((m) => [m.name, m]));
        expect(members.every((m) => m.uid === 0 && m.gid === 0)).toBe(true);
        expect(byName.get("init")?.data.toString()).toBe(INIT_SCRIPT);
        expect(byName.get("bin/busybox")?.data.equals(await readFile("/bin/busybox"))).toBe(true);
        expect(byName.get("dev/console")?.rdev).toEqual([5, 1]);
        const order = (byName.get("etc/modules.load")?.data.toString() ?? "").trim().split("\n");
        expect(order.length).toBe(built.modules.length);
        for (const path of order) expect(byName.has(join("lib/modules", path))).toBe(true);
        expect(order.indexOf("kernel/net/netfilter/nfnetlink.ko")).toBeLessThan(
          order.indexOf("kernel/net/netfilter/nf_tables.ko"),
        );
        expect(built.modules).toEqual(expect.arrayContaining(["ipv6", "nf_tables", "vfat", "isofs"]));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  it("refuses to write into a directory others can write to", async () => {
    const dir = await mkdtemp(join(tmpdir(), "zaphod-initramfs-"));
    try {
      await mkdir(join(dir, "modules", "x"), { recursive: true });
      await writeFile(join(dir, "modules", "x", "modules.dep"), "");
      await chmod(dir, 0o777);
      await expect(
        buildInitramfs({
          kernelVersion: "x",
          outFile: join(dir, "i.cpio"),
          modulesRoot: join(dir, "modules"),
          modules: [],
        }),
      ).rejects.toThrow(/not writable by others/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
