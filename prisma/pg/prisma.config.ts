// PostgreSQL twin of ../../prisma.config.ts; prisma/pg/schema.prisma is generated (scripts/db-diff.ts).
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "schema.prisma",
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/zaphod" },
});
