import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { beginBoot, endBoot, lastLine, listBoots, readJournal, settleEnded } from "./boot-journal";
import { bootLogName } from "./vm-paths";

let dir: string;
let paths: { dir: string; consoleDir: string };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "boot-journal-"));
  paths = { dir, consoleDir: join(dir, "console") };
  await mkdir(paths.consoleDir);
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const log = (n: number, text: string) => writeFile(join(paths.consoleDir, bootLogName(n)), text);

describe("the boot journal", () => {
  it("a start, a reboot, a hard reset and a force off: each boot says how it began and ended", async () => {
    await beginBoot(paths, 1, "start", 1, new Date("2026-12-01T01:00:00Z"));
    await beginBoot(paths, 2, "reboot", 1, new Date("2026-12-01T02:00:00Z"));
    await beginBoot(paths, 3, "hard-reset", 1, new Date("2026-12-01T03:00:00Z"));
    await endBoot(paths, "force-off", null, new Date("2026-12-01T04:00:00Z"));
    await endBoot(paths, "shutdown"); // once: a second end does not overwrite the first
    expect(await readJournal(paths)).toEqual([
      {
        n: 1,
        startedAt: "2026-12-01T01:00:00.000Z",
        cause: "start",
        endedAt: "2026-12-01T02:00:00.000Z",
        end: "reboot",
        endDetail: null,
      },
      {
        n: 2,
        startedAt: "2026-12-01T02:00:00.000Z",
        cause: "reboot",
        endedAt: "2026-12-01T03:00:00.000Z",
        end: "hard-reset",
        endDetail: null,
      },
      {
        n: 3,
        startedAt: "2026-12-01T03:00:00.000Z",
        cause: "hard-reset",
        endedAt: "2026-12-01T04:00:00.000Z",
        end: "force-off",
        endDetail: null,
      },
    ]);
  });

  it("gone without being stopped: a halt the guest asked for, or a crash with the panic line", async () => {
    await beginBoot(paths, 1, "start", 1);
    await log(1, "Welcome\r\n# poweroff\r\nThe system is going down NOW!\r\nreboot: System halted\r\n");
    await settleEnded(paths);
    expect((await readJournal(paths)).at(-1)).toMatchObject({ end: "guest-halt", endDetail: null });

    await beginBoot(paths, 2, "start", 1);
    await log(
      2,
      "EXT4-fs error\r\n\x1b[0mKernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\r\nCPU: 0 PID: 1\r\n",
    );
    await settleEnded(paths);
    expect((await readJournal(paths)).at(-1)).toMatchObject({
      end: "crash",
      endDetail: "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100",
    });
    // The start before it was left open by nobody: a new start does not invent how boot 1 ended.
    expect((await readJournal(paths))[0]?.end).toBe("guest-halt");
  });

  it("keeps the records of the boots whose logs are kept", async () => {
    for (let n = 1; n <= 6; n++) await beginBoot(paths, n, "start", n - 2);
    expect((await readJournal(paths)).map((e) => e.n)).toEqual([4, 5, 6]);
  });

  it("lists the newest first, with log sizes, guest reboots and logs from before records were kept", async () => {
    await log(1, "old boot\n");
    await beginBoot(paths, 2, "start", 1);
    await log(2, "Linux version 6.1\nlogin:\nLinux version 6.1\nlogin:\n");
    const boots = await listBoots(paths, [1, 2], true);
    expect(boots.map((b) => [b.n, b.cause, b.running, b.guestReboots, b.logBytes])).toEqual([
      [2, "start", true, 1, 50],
      [1, null, false, 0, 9],
    ]);
  });

  it("a log the VM's user replaced with a symlink is not read", async () => {
    await beginBoot(paths, 1, "start", 1);
    await writeFile(join(dir, "secret"), "Kernel panic - secret\n");
    await symlink(join(dir, "secret"), join(paths.consoleDir, bootLogName(1)));
    await settleEnded(paths);
    expect((await readJournal(paths)).at(-1)).toMatchObject({ end: "crash", endDetail: null });
    expect((await listBoots(paths, [1], false))[0]?.logBytes).toBeNull();
  });

  it("the last line worth showing", () => {
    expect(lastLine("a\r\n\x1b[1mb\x1b[0m\r\n\r\n")).toBe("b");
    expect(lastLine("")).toBeNull();
  });
});
