// The host CLI (dist/cli.mjs, as up.sh runs it) as a user who cannot reach the database's
// directory: one sentence naming the user and the directory, not a driver error. As root the CLI
// runs as nobody from the tests' root-owned release (scripts/test.sh build installs it), as up.sh
// runs it from /opt/zaphod: the clone may sit in a 0700 home nobody cannot enter.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RELEASE_DIR } from "../../../e2e/env";

const isRoot = process.getuid?.() === 0;
const root = mkdtempSync("/tmp/zaphod-reach-");
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("the CLI and a database out of its user's reach", () => {
  it("says which user cannot enter which directory", () => {
    mkdirSync(path.join(root, "closed", "web"), { recursive: true });
    chmodSync(root, 0o755);
    chmodSync(path.join(root, "closed"), 0o700);
    const asOther = isRoot ? ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"] : [];
    const user = isRoot ? "nobody" : execFileSync("id", ["-un"], { encoding: "utf8" }).trim();
    if (!isRoot) chmodSync(path.join(root, "closed"), 0o000);
    const cli = path.join(RELEASE_DIR, "dist/cli.mjs");
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run scripts/test.sh build first`);
    const [cmd, ...args] = [...asOther, process.execPath, cli, "migrate"];
    const r = spawnSync(cmd ?? "", args, {
      encoding: "utf8",
      cwd: "/",
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        DATABASE_URL: `file:${path.join(root, "closed", "web", "zaphod.db")}`,
      } as unknown as NodeJS.ProcessEnv,
    });
    if (!isRoot) chmodSync(path.join(root, "closed"), 0o700);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(
      `zaphod: the database ${path.join(root, "closed", "web", "zaphod.db")} is out of reach: user ${user} cannot enter ${path.join(root, "closed")} (mode ${isRoot ? "0700" : "0000"})`,
    );
  });
});
