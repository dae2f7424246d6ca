import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openLogFile } from "./log-file";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), "zaphod-log-"));
  chmodSync(d, 0o750);
  dirs.push(d);
  return d;
}

describe("the log file (issue 11 point 10: logs are safe to keep)", () => {
  it("rotates at its size cap and keeps a bounded number of files: a flood of lines never fills the disk", () => {
    const d = dir();
    const log = openLogFile({ path: join(d, "agent.log"), maxBytes: 4096, keep: 3 });
    const line = `${"x".repeat(99)}\n`;
    for (let i = 0; i < 1000; i++) log.write(line); // 100 kB through a 4 kB cap
    log.close();
    const files = readdirSync(d).sort();
    expect(files).toEqual(["agent.log", "agent.log.1", "agent.log.2", "agent.log.3"]);
    let total = 0;
    for (const f of files) {
      const { size } = statSync(join(d, f));
      expect(size).toBeLessThanOrEqual(4096);
      total += size;
    }
    expect(total).toBeLessThanOrEqual(4 * 4096);
    // whole lines only: a rotation never splits one
    for (const f of files)
      expect(
        readFileSync(join(d, f), "utf8")
          .split("\n")
          .slice(0, -1)
          .every((l) => l === line.trim()),
      ).toBe(true);
  });

  it("writes mode 0640, whatever the umask, and closes a directory others could enter", () => {
    const d = dir();
    chmodSync(d, 0o755);
    const old = process.umask(0);
    try {
      const log = openLogFile({ path: join(d, "web.log"), maxBytes: 1024, keep: 1 });
      log.write("hello\n");
      for (let i = 0; i < 30; i++) log.write(`${"y".repeat(63)}\n`);
      log.close();
    } finally {
      process.umask(old);
    }
    expect(statSync(join(d, "web.log")).mode & 0o777).toBe(0o640);
    expect(statSync(join(d, "web.log.1")).mode & 0o777).toBe(0o640);
    expect(statSync(d).mode & 0o007).toBe(0);
  });

  it("check 25: never follows a symlink planted as the log file", () => {
    const d = dir();
    const target = join(d, "target");
    writeFileSync(target, "");
    symlinkSync(target, join(d, "agent.log"));
    expect(() => openLogFile({ path: join(d, "agent.log"), maxBytes: 1024, keep: 1 })).toThrow(
      /ELOOP|symbolic link/,
    );
    expect(readFileSync(target, "utf8")).toBe("");
  });
});
