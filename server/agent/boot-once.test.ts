import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BOOT_ONCE_TTL_MS,
  bannersIn,
  bootOnceArgv,
  consumePending,
  readPending,
  setPending,
} from "./boot-once";

const ARGV = [
  "/usr/bin/linux.uml",
  "mem=64M",
  "ubd0=/d/root.cow,/i/img",
  "ubd2=/d/storage.img",
  "ubd3r=/d/seed.iso",
  "root=/dev/ubda",
  "rw",
  "init=/sbin/init",
];

describe("a one-shot boot's command line", () => {
  it("single-user: init is a shell; nothing else changes", () => {
    const argv = bootOnceArgv(ARGV, "single");
    expect(argv).toContain("init=/bin/sh");
    expect(argv).not.toContain("init=/sbin/init");
    expect(argv.filter((a) => !a.startsWith("init="))).toEqual(ARGV.filter((a) => !a.startsWith("init=")));
  });

  it("without storage: no ubd2; storage read-only: ubd2r; none: the usual line", () => {
    expect(bootOnceArgv(ARGV, "no-storage").some((a) => a.startsWith("ubd2"))).toBe(false);
    expect(bootOnceArgv(ARGV, "storage-ro")).toContain("ubd2r=/d/storage.img");
    expect(bootOnceArgv(ARGV, "storage-ro")).not.toContain("ubd2=/d/storage.img");
    expect(bootOnceArgv(ARGV, null)).toEqual(ARGV);
  });
});

describe("the pending option", () => {
  let dir = "";
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "boot-once-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("is taken by the next start only, and lapses unused after an hour", async () => {
    const now = Date.now();
    const set = await setPending({ dir }, "single", "carol", now);
    expect(set).toMatchObject({ mode: "single", by: "carol" });
    expect(await readPending({ dir })).toEqual(set);
    expect(await consumePending({ dir })).toEqual(set);
    expect(await consumePending({ dir })).toBeNull();
    await setPending({ dir }, "storage-ro", "carol", now - BOOT_ONCE_TTL_MS - 1);
    expect(await readPending({ dir })).toBeNull();
    expect(await consumePending({ dir })).toBeNull();
  });

  it("null cancels it", async () => {
    await setPending({ dir }, "no-storage", "carol");
    expect(await setPending({ dir }, null, "carol")).toBeNull();
    expect(await readPending({ dir })).toBeNull();
  });

  it("counts kernel banners in a boot log, never through a symlink", async () => {
    const log = join(dir, "boot-000001.log");
    await writeFile(log, "Linux version 6.1\n...\n# reboot -f\nLinux version 6.1\n");
    expect(await bannersIn(log)).toBe(2);
    const link = join(dir, "planted.log");
    await symlink(log, link);
    expect(await bannersIn(link)).toBe(0);
  });
});
