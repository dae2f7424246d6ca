// Generates the Prisma clients (SQLite and PostgreSQL) after `npm install`.
// The Prisma CLI cannot download its schema engine on these machines; `generate` never runs
// it and only checks that the file exists, so point it at /bin/false (notes/stack.md §4).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

if (!existsSync("prisma/schema.prisma")) process.exit(0);
const env = { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: "/bin/false", PRISMA_HIDE_UPDATE_MESSAGE: "1" };
for (const config of ["prisma.config.ts", "prisma/pg/prisma.config.ts"]) {
  if (!existsSync(config)) continue;
  const r = spawnSync("npx", ["prisma", "generate", "--config", config], { stdio: "inherit", env });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
