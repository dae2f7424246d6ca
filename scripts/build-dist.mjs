// Compiles the processes that run outside Next's own bundles into plain JavaScript in dist/, so
// nothing at run time goes through tsx (whose compile cache sits in world-writable /tmp: root
// would execute whatever another user planted there).
//
//   dist/agent.mjs          the root host agent, one self-contained file (zod and ws inside)
//   dist/build-busybox.mjs  the demo image builder (run as root by up.sh), self-contained
//   dist/shutdown-vms.mjs   scripts/down.sh --vms, self-contained
//   dist/web.mjs            the web tier's custom server (packages from node_modules at run time)
//   dist/cli.mjs            the host admin CLI (bin/zaphod), with dist/migrations beside it
//   dist/uml-xstate.so      the ptrace shim that lets Debian 12's UML boot on AMX hosts
//
// Run by `npm run build` (after `next build`); plain Node, no TypeScript needed to run it.
import { spawnSync } from "node:child_process";
import { cp, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(root, "dist");

// ESM output still meets CommonJS inside bundled packages (ws): give them a real `require`.
const banner = {
  js: "import { createRequire as __zaphodCreateRequire } from 'node:module'; const require = __zaphodCreateRequire(import.meta.url);",
};
const common = {
  absWorkingDir: root,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
  banner,
  outExtension: { ".js": ".mjs" },
};

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });

// The agent and the image builder: nothing from node_modules at run time (ws's optional native
// helpers are looked up in a try/catch and simply absent).
await build({
  ...common,
  entryPoints: {
    agent: "server/agent/main.ts",
    "build-busybox": "server/agent/images/build-busybox.ts",
    "shutdown-vms": "scripts/shutdown-vms.ts",
  },
  outdir: out,
  external: ["bufferutil", "utf-8-validate"],
});

// The web server and the CLI load Next, Prisma's runtime, the database drivers and argon2 from
// node_modules; `server-only` is a marker that throws outside a React Server bundle.
await build({
  ...common,
  entryPoints: { web: "server/web/main.ts", cli: "server/web/cli/main.ts" },
  outdir: out,
  packages: "external",
  alias: { "server-only": "./server/web/testing/server-only-stub.ts" },
});

// UML's xstate shim (server/agent/uml-xstate/uml-xstate.c), preloaded into every VM by the agent.
const cc = spawnSync(
  "gcc",
  [
    "-shared",
    "-fPIC",
    "-O2",
    "-Wall",
    "-Werror",
    "-o",
    path.join(out, "uml-xstate.so"),
    "server/agent/uml-xstate/uml-xstate.c",
    "-ldl",
  ],
  { cwd: root, stdio: "inherit" },
);
if (cc.status !== 0)
  throw new Error("gcc could not build dist/uml-xstate.so (apt-get install gcc libc6-dev)");

// prisma/migrate.ts finds its SQL beside itself (import.meta.dirname): dist/migrations.
await cp(path.join(root, "prisma/migrations"), path.join(out, "migrations"), { recursive: true });
console.log("dist: agent.mjs build-busybox.mjs shutdown-vms.mjs web.mjs cli.mjs uml-xstate.so migrations/");
