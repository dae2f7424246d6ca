import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const root = fileURLToPath(new URL(".", import.meta.url));
const alias = {
  "@/": root,
  // `server-only` throws outside a React Server bundle; tests import server modules directly.
  "server-only": fileURLToPath(new URL("./server/web/testing/server-only-stub.ts", import.meta.url)),
};

export default defineConfig({
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: "unit",
          include: ["**/*.test.ts", "**/*.test.tsx"],
          exclude: ["**/node_modules/**", ".next/**", "e2e/**", ".data/**", ".cache/**"],
          environment: "node",
        },
      },
      {
        resolve: { alias },
        test: {
          name: "integration",
          include: ["**/*.itest.ts"],
          exclude: ["**/node_modules/**", ".next/**", "e2e/**", ".data/**", ".cache/**"],
          environment: "node",
          // Real VMs and real databases: one file at a time, generous timeouts.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
