/**
 * A clean, migrated database for data-layer tests. TEST_DATABASE_URL picks the provider:
 * unset → a fresh SQLite file in a temp directory; `postgresql://…` (scripts/pg-start.sh) → that
 * database, emptied first. The process-wide client (getDb) is pointed at it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { migrate } from "../../../prisma/migrate";
import { createDb, type Db, setDbForTests } from "../db/client";

export type TestDb = { db: Db; url: string; provider: "sqlite" | "postgresql"; close: () => Promise<void> };

export async function setupTestDb(): Promise<TestDb> {
  const fromEnv = process.env.TEST_DATABASE_URL;
  let url: string;
  let cleanup = async () => {};
  if (fromEnv?.startsWith("postgres")) {
    url = fromEnv;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;");
    await client.end();
  } else {
    const dir = mkdtempSync(path.join(tmpdir(), "zaphod-test-"));
    url = `file:${path.join(dir, "test.db")}`;
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  }
  await migrate(url);
  const db = createDb(url);
  setDbForTests(db);
  return {
    db,
    url,
    provider: url.startsWith("file:") ? "sqlite" : "postgresql",
    close: async () => {
      setDbForTests(undefined);
      await db.$disconnect();
      await cleanup();
    },
  };
}
