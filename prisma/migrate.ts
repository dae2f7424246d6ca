/**
 * Applies the committed SQL migrations (prisma/migrations/{sqlite,pg}/NNNN_name/migration.sql) in
 * name order. Offline and idempotent: applied names and SHA-256 checksums are kept in
 * `_zaphod_migrations`; an applied migration whose file has since changed is refused. Each
 * migration runs in its own transaction. (The Prisma CLI cannot download its schema engine here.)
 *
 *   bin/zaphod migrate   (or: npm run db:migrate)
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";

const migrationsRoot = path.join(import.meta.dirname, "migrations");

export type Migration = { name: string; sql: string; checksum: string };
export type MigrateResult = { applied: string[]; alreadyApplied: string[] };

export function loadMigrations(provider: "sqlite" | "pg"): Migration[] {
  const dir = path.join(migrationsRoot, provider);
  return readdirSync(dir)
    .filter((n) => /^\d{4}_[a-z0-9_]+$/.test(n))
    .sort()
    .map((name) => {
      const sql = readFileSync(path.join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    });
}

export class MigrationError extends Error {}

function plan(migrations: Migration[], applied: Map<string, string>): Migration[] {
  for (const [name, checksum] of applied) {
    const m = migrations.find((x) => x.name === name);
    if (!m)
      throw new MigrationError(
        `migration ${name} is applied in the database but missing from the repository`,
      );
    if (m.checksum !== checksum)
      throw new MigrationError(
        `migration ${name} was edited after it was applied (checksum differs); add a new migration instead`,
      );
  }
  return migrations.filter((m) => !applied.has(m.name));
}

function sqlitePath(url: string): string {
  return url.replace(/^file:/, "").replace(/\?.*$/, "");
}

export async function migrate(
  databaseUrl: string,
  log: (line: string) => void = () => {},
): Promise<MigrateResult> {
  if (databaseUrl.startsWith("file:")) return migrateSqlite(sqlitePath(databaseUrl), log);
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) return migratePg(databaseUrl, log);
  throw new MigrationError("DATABASE_URL must start with file: or postgresql://");
}

function migrateSqlite(file: string, log: (line: string) => void): MigrateResult {
  if (file !== ":memory:") mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new Database(file, { timeout: 10_000 });
  try {
    db.pragma("journal_mode = WAL"); // persists in the file
    db.pragma("foreign_keys = ON");
    db.exec(`CREATE TABLE IF NOT EXISTS "_zaphod_migrations" (
      "name" TEXT PRIMARY KEY, "checksum" TEXT NOT NULL, "appliedAt" TEXT NOT NULL)`);
    const result: MigrateResult = { applied: [], alreadyApplied: [] };
    // IMMEDIATE takes the write lock first, so two runners cannot apply the same migration.
    db.transaction(() => {
      const rows = db.prepare(`SELECT "name", "checksum" FROM "_zaphod_migrations"`).all() as {
        name: string;
        checksum: string;
      }[];
      const applied = new Map(rows.map((r) => [r.name, r.checksum]));
      result.alreadyApplied = [...applied.keys()].sort();
      for (const m of plan(loadMigrations("sqlite"), applied)) {
        log(`applying ${m.name}`);
        db.exec(m.sql);
        db.prepare(`INSERT INTO "_zaphod_migrations" VALUES (?, ?, ?)`).run(
          m.name,
          m.checksum,
          new Date().toISOString(),
        );
        result.applied.push(m.name);
      }
    }).immediate();
    return result;
  } finally {
    db.close();
  }
}

async function migratePg(url: string, log: (line: string) => void): Promise<MigrateResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // One runner at a time across every web instance.
    await client.query("SELECT pg_advisory_lock(727274)");
    await client.query(`CREATE TABLE IF NOT EXISTS "_zaphod_migrations" (
      "name" TEXT PRIMARY KEY, "checksum" TEXT NOT NULL, "appliedAt" TIMESTAMPTZ NOT NULL)`);
    const { rows } = await client.query<{ name: string; checksum: string }>(
      `SELECT "name", "checksum" FROM "_zaphod_migrations"`,
    );
    const applied = new Map(rows.map((r) => [r.name, r.checksum]));
    const result: MigrateResult = { applied: [], alreadyApplied: [...applied.keys()].sort() };
    for (const m of plan(loadMigrations("pg"), applied)) {
      log(`applying ${m.name}`);
      await client.query("BEGIN");
      try {
        await client.query(m.sql);
        await client.query(`INSERT INTO "_zaphod_migrations" VALUES ($1, $2, now())`, [m.name, m.checksum]);
        await client.query("COMMIT");
      } catch (e) {
        await client.query("ROLLBACK");
        throw new MigrationError(`migration ${m.name} failed: ${(e as Error).message}`);
      }
      result.applied.push(m.name);
    }
    return result;
  } finally {
    await client.query("SELECT pg_advisory_unlock(727274)").catch(() => {});
    await client.end();
  }
}
