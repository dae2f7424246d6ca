import type { NextConfig } from "next";

const config: NextConfig = {
  // Native modules and database drivers stay outside the bundle.
  serverExternalPackages: [
    "better-sqlite3",
    "@prisma/adapter-better-sqlite3",
    "@prisma/adapter-pg",
    "pg",
    "@node-rs/argon2",
    // The panel's CA (server/web/hosts/pki.ts): tsyringe needs reflect-metadata loaded first, as Node loads it.
    "@peculiar/x509",
    "reflect-metadata",
    "tsyringe",
  ],
  poweredByHeader: false,
  // Types are checked once for the whole repository by `npm run typecheck` (tsc --noEmit).
  typescript: { ignoreBuildErrors: true },
  reactStrictMode: true,
  // Baseline headers for every response, static assets included (proxy.ts adds the CSP to pages and APIs).
  async headers() {
    return [
      {
        source: "/:path*",
        headers: [
          { key: "X-Content-Type-Options", value: "nosniff" },
          { key: "Referrer-Policy", value: "same-origin" },
          { key: "X-Frame-Options", value: "DENY" },
        ],
      },
    ];
  },
  experimental: {
    serverActions: { bodySizeLimit: "64kb" },
  },
};

export default config;
