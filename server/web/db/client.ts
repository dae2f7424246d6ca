/**
 * The one Prisma client. `DATABASE_URL` picks the provider: `file:` → SQLite (better-sqlite3),
 * `postgresql://` → PostgreSQL (pg). Both generated clients come from the same models
 * (prisma/schema.prisma and its generated pg twin), so the SQLite client's type serves for both.
 */
import { PrismaBetterSqlite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaPg } from "@prisma/adapter-pg";
import { getEnv } from "../env";
import { retryWhileBusy, SQLITE_BUSY_TIMEOUT_MS } from "./busy";
import { PrismaClient as PgClient } from "./generated/pg/client";
import { PrismaClient as SqliteClient } from "./generated/sqlite/client";

export type Db = SqliteClient;

export function createDb(databaseUrl: string): Db {
  if (databaseUrl.startsWith("file:")) {
    // timeout = SQLite busy_timeout (ms), kept tiny: better-sqlite3 waits synchronously, so a lock
    // held elsewhere would freeze the event loop; retryWhileBusy waits asynchronously instead
    // (server/web/db/busy.ts). WAL is set once by the migration runner (it persists in the file);
    // foreign keys are on by default in better-sqlite3's build.
    const client = new SqliteClient({
      adapter: new PrismaBetterSqlite3({ url: databaseUrl, timeout: SQLITE_BUSY_TIMEOUT_MS }),
    });
    return client.$extends({
      query: { $allOperations: ({ args, query }) => retryWhileBusy(() => query(args)) },
    }) as unknown as Db;
  }
  return new PgClient({ adapter: new PrismaPg({ connectionString: databaseUrl }) }) as unknown as Db;
}

const g = globalThis as { __zaphodDb?: Db };

/** The process-wide client (kept on globalThis so dev reloads do not open new connections). */
export function getDb(): Db {
  g.__zaphodDb ??= createDb(getEnv().databaseUrl);
  return g.__zaphodDb;
}

/** Tests swap in a client for another database. */
export function setDbForTests(db: Db | undefined) {
  g.__zaphodDb = db;
}
