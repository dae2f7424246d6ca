/**
 * Schema tooling that works offline (the Prisma CLI cannot download its schema engine here,
 * notes/stack.md §4; the WASM build of the engine ships in an npm package).
 *
 *   tsx scripts/db-diff.ts --check          prisma/pg/schema.prisma is current and no migration is pending
 *   tsx scripts/db-diff.ts --name add_foo   write prisma/pg/schema.prisma and a new migration for
 *                                           both providers (prisma/migrations/{sqlite,pg}/NNNN_add_foo)
 *
 * Each migration directory keeps the `schema.prisma` it was made from, so the next migration is the
 * diff between that snapshot and the current schema: no shadow database, no live connection.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { PrismaBetterSqlite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaPg } from "@prisma/adapter-pg";

type Provider = "sqlite" | "pg";
const root = path.resolve(import.meta.dirname, "..");
const sourcePath = path.join(root, "prisma/schema.prisma");
const pgPath = path.join(root, "prisma/pg/schema.prisma");
const migrationsDir = (p: Provider) => path.join(root, "prisma/migrations", p);

export function toPgSchema(source: string): string {
  const out = source
    .replace(/provider\s*=\s*"sqlite"/, 'provider = "postgresql"')
    .replace(
      'output   = "../server/web/db/generated/sqlite"',
      'output   = "../../server/web/db/generated/pg"',
    );
  if (out === source || !out.includes("generated/pg"))
    throw new Error("prisma/schema.prisma: unexpected shape");
  const header = "// GENERATED from prisma/schema.prisma by scripts/db-diff.ts. Do not edit.\n";
  return header + out.replace(/^\/\/ The source schema[\s\S]*?\n\n/, "");
}

// The package's entry does `import "./schema_engine_bg.wasm"`, which Node refuses; instantiate by hand.
// biome-ignore lint/suspicious/noExplicitAny: generated wasm-bindgen glue
let glue: any;
async function loadGlue() {
  const dir = path.join(root, "node_modules/@prisma/schema-engine-wasm");
  const bg = await import(path.join(dir, "schema_engine_bg.js"));
  const bytes = readFileSync(path.join(dir, "schema_engine_bg.wasm"));
  const { instance } = await WebAssembly.instantiate(bytes, { "./schema_engine_bg.js": bg });
  bg.__wbg_set_wasm(instance.exports);
  (instance.exports as { __wbindgen_start: () => void }).__wbindgen_start();
  // The engine reports Rust panics through this global.
  (globalThis as Record<string, unknown>).PRISMA_WASM_PANIC_REGISTRY = {
    set_message: (m: string) => console.error(`schema engine panic: ${m}`),
  };
  return bg;
}

async function loadEngine(provider: Provider) {
  glue ??= await loadGlue();
  const bg = glue;
  const { bindMigrationAwareSqlAdapterFactory } = await import("@prisma/driver-adapter-utils");
  // A datamodel-to-datamodel diff reads nothing, but the engine still opens a connection: an
  // in-memory SQLite, or the private test PostgreSQL (scripts/pg-start.sh, or DB_DIFF_PG_URL).
  const factory =
    provider === "sqlite"
      ? new PrismaBetterSqlite3({ url: ":memory:" })
      : new PrismaPg({ connectionString: pgUrl() });
  const schema =
    provider === "sqlite" ? readFileSync(sourcePath, "utf8") : toPgSchema(readFileSync(sourcePath, "utf8"));
  // biome-ignore lint/suspicious/noExplicitAny: untyped internal API of the WASM engine
  const engine: any = await bg.SchemaEngine.new(
    { datamodels: [["schema.prisma", schema]] },
    () => {},
    // biome-ignore lint/suspicious/noExplicitAny: see above
    bindMigrationAwareSqlAdapterFactory(factory as any),
  );
  return engine;
}

function pgUrl(): string {
  if (process.env.DB_DIFF_PG_URL) return process.env.DB_DIFF_PG_URL;
  const out = execFileSync(path.join(root, "scripts/pg-start.sh"), { encoding: "utf8" });
  return out.trim().split("\n").at(-1)!;
}

function migrationNames(p: Provider): string[] {
  try {
    return readdirSync(migrationsDir(p))
      .filter((n) => /^\d{4}_[a-z0-9_]+$/.test(n))
      .sort();
  } catch {
    return [];
  }
}

export async function diffSql(provider: Provider, from: string | null, to: string): Promise<string> {
  const engine = await loadEngine(provider);
  const source = (content: string) => ({
    tag: "schemaDatamodel",
    files: [{ path: "schema.prisma", content }],
  });
  let script = "";
  const captured: string[] = [];
  const orig = process.stdout.write.bind(process.stdout);
  // The engine prints the script through its own stdout hook; capture it.
  process.stdout.write = ((chunk: string | Uint8Array) => {
    captured.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    const res = await engine.diff({
      from: from === null ? { tag: "empty" } : source(from),
      to: source(to),
      script: true,
      exitCode: null,
      shadowDatabaseUrl: null,
      filters: { externalTables: [], externalEnums: [] },
    });
    script = typeof res?.stdout === "string" ? res.stdout : captured.join("");
  } finally {
    process.stdout.write = orig;
  }
  if (!script) script = captured.join("");
  return script.includes("This is an empty migration.") ? "" : script.trim();
}

async function main() {
  const args = process.argv.slice(2);
  const check = args.includes("--check");
  const nameIdx = args.indexOf("--name");
  const name = nameIdx >= 0 ? args[nameIdx + 1] : undefined;
  if (!check && !name) {
    console.error("usage: tsx scripts/db-diff.ts --check | --name <snake_case_name>");
    process.exit(2);
  }
  const source = readFileSync(sourcePath, "utf8");
  const pg = toPgSchema(source);
  let pgCurrent = "";
  try {
    pgCurrent = readFileSync(pgPath, "utf8");
  } catch {}
  const problems: string[] = [];
  if (pgCurrent !== pg) {
    if (check)
      problems.push("prisma/pg/schema.prisma is out of date (run: npm run db:diff -- --name <name>)");
    else writeFileSync(pgPath, pg);
  }
  for (const p of ["sqlite", "pg"] as const) {
    const names = migrationNames(p);
    const last = names.at(-1);
    const prev = last ? readFileSync(path.join(migrationsDir(p), last, "schema.prisma"), "utf8") : null;
    const target = p === "sqlite" ? source : pg;
    const sql = prev === target ? "" : await diffSql(p, prev, target);
    if (check) {
      if (sql) problems.push(`${p}: schema.prisma has changes without a migration:\n${sql}`);
      continue;
    }
    if (!sql) {
      console.log(`${p}: no changes`);
      continue;
    }
    if (!name || !/^[a-z0-9_]+$/.test(name)) throw new Error("--name must be snake_case");
    const next = String((last ? Number(last.slice(0, 4)) : 0) + 1).padStart(4, "0");
    const dir = path.join(migrationsDir(p), `${next}_${name}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "migration.sql"), `${sql}\n`);
    writeFileSync(path.join(dir, "schema.prisma"), target);
    console.log(`${p}: wrote ${path.relative(root, dir)}/migration.sql`);
  }
  if (problems.length) {
    for (const m of problems) console.error(m);
    process.exit(1);
  }
  if (check) console.log("db schema: pg twin current, no pending migration");
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
