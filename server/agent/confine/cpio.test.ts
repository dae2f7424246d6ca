import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readNewc, writeNewc } from "./cpio";

describe("newc cpio", () => {
  const archive = writeNewc([
    { type: "dir", path: "/bin", mode: 0o755 },
    { type: "file", path: "bin/hello", mode: 0o755, data: Buffer.from("#!/bin/sh\necho hi\n") },
    { type: "symlink", path: "bin/sh", target: "busybox" },
    { type: "char", path: "dev/console", mode: 0o600, major: 5, minor: 1 },
  ]);

  it("reads back every entry root-owned with its mode, data, link target and device", () => {
    const members = readNewc(archive);
    expect(members.map((m) => m.name)).toEqual(["bin", "bin/hello", "bin/sh", "dev/console"]);
    expect(members.every((m) => m.uid === 0 && m.gid === 0)).toBe(true);
    expect(members[0]?.mode).toBe(0o040755);
    expect(members[1]?.mode).toBe(0o100755);
    expect(members[1]?.data.toString()).toBe("#!/bin/sh\necho hi\n");
    expect(members[2]?.data.toString()).toBe("busybox");
    expect(members[3]?.mode).toBe(0o020600);
    expect(members[3]?.rdev).toEqual([5, 1]);
  });

  it("is aligned to 4 bytes and the same bytes every time", () => {
    expect(archive.length % 4).toBe(0);
    expect(writeNewc([{ type: "dir", path: "bin", mode: 0o755 }])).toEqual(
      writeNewc([{ type: "dir", path: "bin", mode: 0o755 }]),
    );
  });

  it("refuses paths that climb or are empty", () => {
    for (const path of ["", "/", "a/../b", "./a", "a//b"])
      expect(() => writeNewc([{ type: "dir", path, mode: 0o755 }])).toThrow(/bad cpio path/);
  });

  it("is understood by busybox cpio", () => {
    const dir = mkdtempSync(join(tmpdir(), "zaphod-cpio-"));
    try {
      writeFileSync(join(dir, "a.cpio"), archive);
      const list = spawnSync("busybox", ["cpio", "-t", "-F", join(dir, "a.cpio")], { encoding: "utf8" });
      expect(list.status).toBe(0);
      expect(list.stdout.trim().split("\n")).toEqual(["bin", "bin/hello", "bin/sh", "dev/console"]);
      const out = spawnSync("busybox", ["cpio", "-i", "-d", "-F", join(dir, "a.cpio")], {
        cwd: dir,
        encoding: "utf8",
      });
      expect(out.status).toBe(0);
      expect(readFileSync(join(dir, "bin/hello"), "utf8")).toBe("#!/bin/sh\necho hi\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
