/** The host CLI end to end (bin/zaphod as a subprocess) on a fresh SQLite file. */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, expect, it } from "vitest";

const dir = mkdtempSync(path.join(tmpdir(), "zaphod-cli-"));
const file = path.join(dir, "cli.db");
const env = { ...process.env, DATABASE_URL: `file:${file}` };
const zaphod = (args: string[], input?: string) =>
  spawnSync("bin/zaphod", args, { env, input, encoding: "utf8" });

afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("migrates, creates an admin from stdin, lists and approves users, and audits as cli", () => {
  expect(zaphod(["migrate"]).status).toBe(0);
  expect(zaphod(["migrate"]).stdout).toContain("up to date");

  const created = zaphod(
    ["create-admin", "ada", "--email", "Ada@Example.org", "--name", "Ada L"],
    "admin-password-1\n",
  );
  expect(created.status, created.stderr).toBe(0);
  expect(
    zaphod(["create-admin", "ada", "--email", "x@example.org", "--if-missing"], "whatever-123\n").status,
  ).toBe(0);
  expect(zaphod(["create-admin", "ada", "--email", "x@example.org"], "whatever-123\n").status).toBe(1);
  expect(
    zaphod(["create-user", "bob", "--email", "bob@example.org", "--pending"], "bob-password-1\n").status,
  ).toBe(0);
  const weak = zaphod(["create-user", "eve", "--email", "eve@example.org"], "short\n");
  expect(weak.status).toBe(1);
  expect(weak.stderr).toContain("password: At least 10 characters");

  const list = execFileSync("bin/zaphod", ["list-users"], { env, encoding: "utf8" });
  expect(list).toMatch(/^ada\s+admin\s+active\s+ada@example\.org/m);
  expect(list).toMatch(/^bob\s+member\s+pending/m);

  expect(zaphod(["approve", "bob"]).status).toBe(0);
  expect(zaphod(["approve", "bob"]).status).toBe(1); // no longer pending
  expect(zaphod(["approve", "nobody"]).status).toBe(1);

  const db = new Database(file, { readonly: true });
  try {
    const bob = db.prepare("SELECT status FROM User WHERE username = 'bob'").get() as { status: string };
    expect(bob.status).toBe("active");
    const hash = db.prepare("SELECT passwordHash FROM User WHERE username = 'ada'").get() as {
      passwordHash: string;
    };
    expect(hash.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const events = db.prepare(`SELECT action, actorLabel FROM AuditEvent ORDER BY createdAt`).all() as {
      action: string;
      actorLabel: string;
    }[];
    expect(events.map((e) => e.action)).toEqual(["account.create", "account.create", "account.approve"]);
    expect(new Set(events.map((e) => e.actorLabel))).toEqual(new Set(["cli"]));
  } finally {
    db.close();
  }
});
