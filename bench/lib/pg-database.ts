/**
 * A fresh database on the benches' private PostgreSQL (scripts/pg-start.sh starts it when needed;
 * the bench runs scripts/pg-stop.sh at its end): dropped and made again, its URL returned.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

export async function freshDatabase(name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${JSON.stringify(name)}`);
  const url = execFileSync(join(repoRoot, "scripts/pg-start.sh"), { encoding: "utf8" }).trim();
  const root = new pg.Client({ connectionString: url });
  await root.connect();
  try {
    await root.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await root.query(`CREATE DATABASE ${name}`);
  } finally {
    await root.end();
  }
  return url.replace(/\/[^/]+$/, `/${name}`);
}
