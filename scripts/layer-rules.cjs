/**
 * The layering rules (ARCHITECTURE.md "Where things live" and "Rules"), as dependency-cruiser
 * rules over the tree at `root`. Used by .dependency-cruiser.cjs (so `npx depcruise` knows them)
 * and by scripts/check-layers.ts, which runs them in the test command.
 *
 * Type-only imports are erased by the compiler and carry no code, so they are not counted
 * (`tsPreCompilationDeps: false`): a client component may name a server type, never run server code.
 * Tests are outside the rules (they are never shipped and may reach anything).
 */
const { readdirSync, readFileSync, statSync } = require("node:fs");
const path = require("node:path");

/** Modules with no server code that client components may import (each says so in its header). */
const CLIENT_SAFE = ["server/protocol/", "server/web/vms/overcommit.ts"];

const SKIP_DIRS = new Set(["node_modules", ".next", ".git", ".data", ".cache", "dist", "generated"]);
/** Test files, and test support kept in `testing/` folders (harnesses that start both sides). */
const TESTS = "\\.(test|itest|spec)\\.[cm]?[jt]sx?$|(^|/)testing/";

function walk(dir, out = []) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (SKIP_DIRS.has(name)) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.[cm]?[jt]sx?$/.test(name) && !new RegExp(TESTS).test(p)) out.push(p);
  }
  return out;
}

/** True when the file's first statement (after comments) is the "use client" directive. */
function isClientFile(text) {
  return /^(?:\s+|\/\/[^\n]*\n|\/\*[\s\S]*?\*\/)*["']use client["']/.test(text);
}

const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Client components and hooks under `root` (dependency-cruiser cannot see directives). */
function clientFiles(root) {
  return ["app", "components"]
    .flatMap((d) => walk(path.join(root, d)))
    .filter((f) => isClientFile(readFileSync(f, "utf8")))
    .map((f) => path.relative(root, f).split(path.sep).join("/"))
    .sort();
}

function layerRules(root) {
  const clients = clientFiles(root);
  return [
    {
      name: "protocol-imports-only-zod",
      comment:
        "server/protocol is shared by the agent, the web tier and the browser: it imports nothing but zod",
      severity: "error",
      from: { path: "^server/protocol/", pathNot: TESTS },
      to: { pathNot: "^(server/protocol/|(node_modules/)?zod(/|$))" },
    },
    {
      name: "agent-never-imports-web",
      comment: "the root agent runs apart from the web tier: it may not import server/web, app or components",
      severity: "error",
      from: { path: "^server/agent/", pathNot: TESTS },
      to: { path: "^(server/web|app|components)/" },
    },
    {
      name: "app-is-imported-by-nothing",
      comment: "app/ is the top: pages pass server actions down as props; nothing outside app/ imports it",
      severity: "error",
      from: { pathNot: `^app/|${TESTS}` },
      to: { path: "^app/" },
    },
    {
      name: "data-layer-never-reaches-live-sessions",
      comment:
        "server/web/dal reads and writes rows: it says what happened (../session-events.ts) and the console hub and event streams listen, never imported by it",
      severity: "error",
      from: { path: "^server/web/dal/", pathNot: TESTS },
      to: { path: "^server/web/(console/|vms/(hub|sse|service)\\.ts$)", reachable: true },
    },
    {
      name: "client-never-reaches-server-code",
      comment: `a "use client" file (and what it imports) runs in the browser: no server code, only types and ${CLIENT_SAFE.join(", ")}`,
      severity: "error",
      from: { path: clients.length ? `^(${clients.map(escapeRegExp).join("|")})$` : "^$." },
      to: {
        path: "^(server/|app/|(node_modules/)?server-only(/|$))",
        pathNot: `^(${CLIENT_SAFE.map(escapeRegExp).join("|")})`,
        reachable: true,
      },
    },
  ];
}

/** The dependency-cruiser configuration for the tree at `root`. */
function layerConfig(root) {
  return {
    forbidden: layerRules(root),
    options: {
      doNotFollow: { path: "node_modules" },
      exclude: { path: `(^|/)(node_modules|\\.next|\\.data|\\.cache|dist|generated)/|${TESTS}` },
      tsPreCompilationDeps: false,
      tsConfig: { fileName: path.join(root, "tsconfig.json") },
      enhancedResolveOptions: { extensions: [".ts", ".tsx", ".mjs", ".js", ".cjs", ".json"] },
    },
  };
}

module.exports = { layerConfig, layerRules, clientFiles, isClientFile, CLIENT_SAFE };
