/**
 * Fails when an import crosses a layer the wrong way (the rules of scripts/layer-rules.cjs, checked
 * by dependency-cruiser): server/protocol imports only zod; server/agent never imports server/web,
 * app or components; nothing outside app/ imports app/ (pages pass server actions down as props);
 * a "use client" file never reaches server code (type-only imports are erased and allowed); the
 * data layer never reaches the console hub or the event streams (it emits, they listen).
 *
 *   tsx scripts/check-layers.ts [root]
 */

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { cruise, type ICruiseOptions, type ICruiseResult, type IForbiddenRuleType } from "dependency-cruiser";
import extractTSConfig from "dependency-cruiser/config-utl/extract-ts-config";

const require = createRequire(import.meta.url);
const { layerConfig } = require("./layer-rules.cjs") as {
  layerConfig: (root: string) => {
    forbidden: IForbiddenRuleType[];
    options: Record<string, unknown> & { tsConfig: { fileName: string } };
  };
};

/** Top-level paths that hold code; what is missing in a tree (a test fixture) is skipped. */
const ROOTS = ["app", "components", "server", "scripts", "e2e", "proxy.ts"];

export type LayerProblem = { rule: string; from: string; to: string; via: string[]; why: string };

export async function checkLayers(root: string): Promise<LayerProblem[]> {
  const config = layerConfig(root);
  const roots = ROOTS.filter((p) => existsSync(path.join(root, p)));
  // dependency-cruiser resolves tsconfig paths (`@/…`) against the working directory, not baseDir.
  const cwd = process.cwd();
  process.chdir(root);
  const result = await cruise(
    roots,
    {
      ...config.options,
      baseDir: root,
      // The resolver reads tsconfig paths (`@/…`) from the rule set's options, as the CLI passes them.
      ruleSet: { forbidden: config.forbidden, options: config.options } as ICruiseOptions["ruleSet"],
      validate: true,
    },
    {},
    { tsConfig: extractTSConfig(config.options.tsConfig.fileName) },
  ).finally(() => process.chdir(cwd));
  const output = result.output as ICruiseResult;
  const why = new Map(config.forbidden.map((r) => [r.name ?? "", r.comment ?? ""]));
  return (output.summary.violations ?? []).map((v) => ({
    rule: v.rule.name,
    from: v.from,
    to: v.to,
    via: (v.via ?? []).map((step) => (typeof step === "string" ? step : step.name)),
    why: why.get(v.rule.name) ?? "",
  }));
}

/**
 * One line per import that breaks a rule: a client file that reaches server code through one import
 * is named once, with how many server modules that import brings along.
 */
export function formatProblems(problems: LayerProblem[]): string[] {
  const groups = new Map<string, { p: LayerProblem; first: string; reached: string[] }>();
  for (const p of problems) {
    const first = p.via[0] ?? p.to;
    const key = `${p.rule}\0${p.from}\0${first}`;
    const g = groups.get(key) ?? { p, first, reached: [] };
    g.reached.push(p.to);
    groups.set(key, g);
  }
  return [...groups.values()].map(({ p, first, reached }) => {
    const more = reached.filter((r) => r !== first);
    const also = more.length ? ` (and through it ${more.length} more, e.g. ${more[0]})` : "";
    return `${p.from} → ${first}${also}: ${p.rule}: ${p.why}`;
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const root = path.resolve(process.argv[2] ?? ".");
  const problems = await checkLayers(root);
  const lines = formatProblems(problems);
  for (const line of lines) console.error(line);
  if (problems.length) {
    console.error(
      `check:layers: ${lines.length} import(s) cross a layer the wrong way (rules: scripts/layer-rules.cjs)`,
    );
    process.exit(1);
  }
  console.log("check:layers: protocol, agent, app, client components and the data layer keep their layers");
}
