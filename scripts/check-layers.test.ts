import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkLayers, formatProblems } from "./check-layers";

/** A small tree that keeps every rule; each test adds one file that breaks one. */
const CLEAN: Record<string, string> = {
  "tsconfig.json": JSON.stringify({
    compilerOptions: {
      jsx: "react-jsx",
      module: "esnext",
      moduleResolution: "bundler",
      paths: { "@/*": ["./*"] },
    },
  }),
  "server/protocol/agent.ts": `import { z } from "zod";\nimport { NAME } from "./names";\nexport const Verb = z.string().regex(NAME);\n`,
  "server/protocol/names.ts": "export const NAME = /^[a-z]+$/;\n",
  "server/agent/server.ts": `import { Verb } from "../protocol/agent";\nexport const verb = Verb;\n`,
  "server/web/dal/vms.ts": `import "server-only";\nexport type VmRow = { name: string };\nexport async function listVms(): Promise<VmRow[]> { return []; }\n`,
  "server/web/vms/overcommit.ts": "export const gib = (n: number) => n / 1024 ** 3;\n",
  "app/actions/vms.ts": `"use server";\nimport { listVms } from "@/server/web/dal/vms";\nexport const listAction = async () => listVms();\n`,
  "app/page.tsx": `import { listAction } from "@/app/actions/vms";\nimport { VmList } from "@/components/vm-list";\nexport default function Page() { return <VmList list={listAction} />; }\n`,
  "components/vm-list.tsx": `// A client component: server types and the pure overcommit figures only.
"use client";
import type { VmRow } from "@/server/web/dal/vms";
import { Verb } from "@/server/protocol/agent";
import { gib } from "@/server/web/vms/overcommit";
export function VmList({ list }: { list: () => Promise<VmRow[]> }) { return <p>{String(gib(1) + Number(Verb) + Number(list))}</p>; }
`,
  "server/agent/agent.itest.ts": `import { listVms } from "../web/dal/vms";\nexport const t = listVms;\n`,
};

let root = "";
afterEach(() => {
  if (root) rmSync(root, { recursive: true, force: true });
  root = "";
});

async function check(extra: Record<string, string> = {}) {
  root = mkdtempSync(path.join(tmpdir(), "check-layers-"));
  for (const [file, text] of Object.entries({ ...CLEAN, ...extra })) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), text);
  }
  const problems = await checkLayers(root);
  return {
    rules: [...new Set(problems.map((p) => `${p.rule}: ${p.from}`))],
    lines: formatProblems(problems),
  };
}

describe("check:layers", () => {
  it("passes a tree that keeps the layers (type-only imports, the pure allow-list, tests aside)", async () => {
    expect((await check()).rules).toEqual([]);
  });

  it("fails when server/protocol imports anything but zod and itself", async () => {
    const { rules } = await check({
      "server/protocol/leak.ts": `import { readFileSync } from "node:fs";\nimport { listVms } from "../web/dal/vms";\nexport const x = [readFileSync, listVms];\n`,
    });
    expect(rules).toEqual(["protocol-imports-only-zod: server/protocol/leak.ts"]);
  });

  it("fails when the agent imports the web tier", async () => {
    const { rules } = await check({
      "server/agent/leak.ts": `import { listVms } from "../web/dal/vms";\nexport const x = listVms;\n`,
    });
    expect(rules).toEqual(["agent-never-imports-web: server/agent/leak.ts"]);
  });

  it("fails when anything outside app/ imports app/", async () => {
    const { rules, lines } = await check({
      "components/uses-app.tsx": `import { listAction } from "@/app/actions/vms";\nexport const x = listAction;\n`,
    });
    expect(rules).toEqual(["app-is-imported-by-nothing: components/uses-app.tsx"]);
    expect(lines[0]).toContain("components/uses-app.tsx → app/actions/vms.ts: app-is-imported-by-nothing");
  });

  it("fails when the data layer reaches the console hub", async () => {
    const { rules } = await check({
      "server/web/console/console-hub-instance.ts":
        "export const getConsoleHub = () => ({ closeUser: (_id: string) => 0 });\n",
      "server/web/dal/change-account-status.ts": `import { getConsoleHub } from "../console/console-hub-instance";\nexport const suspend = (id: string) => getConsoleHub().closeUser(id);\n`,
    });
    expect(rules).toEqual([
      "data-layer-never-reaches-live-sessions: server/web/dal/change-account-status.ts",
    ]);
  });

  it("fails when a client component reaches server code, also through a plain helper", async () => {
    const { rules, lines } = await check({
      "components/helper.ts": `import { listVms } from "@/server/web/dal/vms";\nexport const load = listVms;\n`,
      "components/leaky.tsx": `"use client";\nimport { load } from "./helper";\nexport function Leaky() { return <p>{String(load)}</p>; }\n`,
    });
    expect(rules).toEqual(["client-never-reaches-server-code: components/leaky.tsx"]);
    expect(lines[0]).toContain("components/leaky.tsx → components/helper.ts");
  });
});
