import type { NextConfig } from "next";

const config: NextConfig = {
  // Native modules and database drivers stay outside the bundle.
  serverExternalPackages: [
    "better-sqlite3",
    "@prisma/adapter-better-sqlite3",
    "@prisma/adapter-pg",
    "pg",
    "@node-rs/argon2",
  ],
  poweredByHeader: false,
  // Types are checked once for the whole repository by `npm run typecheck` (tsc --noEmit).
  typescript: { ignoreBuildErrors: true },
  reactStrictMode: true,
  experimental: {
    serverActions: { bodySizeLimit: "64kb" },
  },
};

export default config;
