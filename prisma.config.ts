// Prisma 7 reads the datasource URL from here (never from the schema). Only `prisma generate`
// runs the CLI on these machines; migrations go through prisma/migrate.ts (notes/stack.md §4).
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  datasource: { url: process.env.DATABASE_URL ?? "file:./.data/zaphod.db" },
});
