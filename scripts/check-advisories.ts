/**
 * The dependency advisory gate (security.md §5): every installed copy of a package named in
 * security/advisories.json (node_modules/**) is compared with the advisories' vulnerable ranges,
 * and any match fails. `npm audit --omit=dev` runs too, with a short timeout: when the registry
 * answers, its findings fail the gate as well; when it does not (the registry reachable here answers
 * the audit endpoint 405), that is said and the committed table is the check.
 *
 * Usage: tsx scripts/check-advisories.ts [root]
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

export interface Advisory {
  package: string;
  id: string;
  cve?: string;
  vulnerable: string;
  fixed: string;
  summary: string;
}

type Version = { core: [number, number, number]; pre: string[] };

export function parseVersion(text: string): Version {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(text.trim());
  if (!m) throw new Error(`not a version: ${JSON.stringify(text)}`);
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ? m[4].split(".") : [] };
}

/** Semver precedence: core numbers, then a prerelease sorts before its release. */
export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a);
  const y = parseVersion(b);
  for (let i = 0; i < 3; i++) if (x.core[i] !== y.core[i]) return (x.core[i] ?? 0) - (y.core[i] ?? 0);
  if (!x.pre.length || !y.pre.length) return (y.pre.length ? 1 : 0) - (x.pre.length ? 1 : 0);
  for (let i = 0; i < Math.max(x.pre.length, y.pre.length); i++) {
    const p = x.pre[i];
    const q = y.pre[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    if (p === q) continue;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn) return Number(p) - Number(q);
    if (pn !== qn) return pn ? -1 : 1;
    return p < q ? -1 : 1;
  }
  return 0;
}

/** `>=a <b || <c`: plain order, prereleases included (stricter than npm's prerelease rule). */
export function satisfies(version: string, range: string): boolean {
  return range.split("||").some((alternative) => {
    const comparators = alternative.trim().split(/\s+/).filter(Boolean);
    if (!comparators.length) throw new Error(`empty range in ${JSON.stringify(range)}`);
    return comparators.every((c) => {
      const m = /^(>=|<=|>|<|=)?(.+)$/.exec(c);
      if (!m?.[2]) throw new Error(`bad comparator ${JSON.stringify(c)}`);
      const d = compareVersions(version, m[2]);
      switch (m[1]) {
        case ">=":
          return d >= 0;
        case "<=":
          return d <= 0;
        case ">":
          return d > 0;
        case "<":
          return d < 0;
        default:
          return d === 0;
      }
    });
  });
}

export interface Installed {
  name: string;
  version: string;
  dir: string;
}

/** Every package under root/node_modules, nested copies included (symlinks are not followed). */
export function listInstalled(root: string): Installed[] {
  const out: Installed[] = [];
  const visit = (modules: string) => {
    let entries: import("node:fs").Dirent[];
    try {
      entries = readdirSync(modules, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory() || e.name.startsWith(".")) continue;
      const dirs = e.name.startsWith("@")
        ? readdirSync(path.join(modules, e.name), { withFileTypes: true })
            .filter((s) => s.isDirectory())
            .map((s) => path.join(modules, e.name, s.name))
        : [path.join(modules, e.name)];
      for (const dir of dirs) {
        const manifest = path.join(dir, "package.json");
        if (existsSync(manifest)) {
          try {
            const pkg = JSON.parse(readFileSync(manifest, "utf8")) as { name?: string; version?: string };
            if (pkg.name && pkg.version) out.push({ name: pkg.name, version: pkg.version, dir });
          } catch {
            // an unreadable manifest names no package
          }
        }
        visit(path.join(dir, "node_modules"));
      }
    }
  };
  visit(path.join(root, "node_modules"));
  return out;
}

export interface Finding {
  advisory: Advisory;
  installed: Installed;
}

export function findVulnerable(advisories: Advisory[], installed: Installed[]): Finding[] {
  const findings: Finding[] = [];
  for (const advisory of advisories)
    for (const copy of installed)
      if (copy.name === advisory.package && satisfies(copy.version, advisory.vulnerable))
        findings.push({ advisory, installed: copy });
  return findings;
}

export function readAdvisories(root: string): Advisory[] {
  const table = JSON.parse(readFileSync(path.join(root, "security/advisories.json"), "utf8")) as {
    advisories: Advisory[];
  };
  return table.advisories;
}

export type AuditOutcome =
  | { answered: true; findings: { name: string; severity: string; via: string[] }[] }
  | { answered: false; why: string };

/** What `npm audit --json` printed: its findings, or why the registry gave none. */
export function readAuditAnswer(stdout: string): AuditOutcome {
  let json: {
    vulnerabilities?: Record<string, { severity?: string; via?: unknown[] }>;
    message?: string;
    error?: { summary?: string };
  };
  try {
    json = JSON.parse(stdout);
  } catch {
    return { answered: false, why: stdout.trim() ? "its output was not JSON" : "no output" };
  }
  if (!json.vulnerabilities)
    return { answered: false, why: json.message || json.error?.summary || "no vulnerabilities report" };
  return {
    answered: true,
    findings: Object.entries(json.vulnerabilities).map(([name, v]) => ({
      name,
      severity: v.severity ?? "unknown",
      via: (v.via ?? []).map((x) =>
        typeof x === "string" ? x : ((x as { url?: string; title?: string }).url ?? "?"),
      ),
    })),
  };
}

function runAudit(root: string, timeoutMs: number): AuditOutcome {
  const r = spawnSync("npm", ["audit", "--json", "--omit=dev"], {
    cwd: root,
    encoding: "utf8",
    timeout: timeoutMs,
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (r.error) return { answered: false, why: (r.error as NodeJS.ErrnoException).code ?? r.error.message };
  return readAuditAnswer(r.stdout);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const root = path.resolve(process.argv[2] ?? ".");
  const advisories = readAdvisories(root);
  const installed = listInstalled(root);
  const findings = findVulnerable(advisories, installed);
  const packages = [...new Set(advisories.map((a) => a.package))];
  for (const name of packages) {
    const copies = installed.filter((i) => i.name === name);
    console.log(
      `advisories: ${name}: ${copies.length ? copies.map((c) => c.version).join(", ") : "not installed"}`,
    );
  }
  for (const f of findings)
    console.error(
      `advisories: ${f.installed.name} ${f.installed.version} (${path.relative(root, f.installed.dir)}) is affected by ${f.advisory.id}${f.advisory.cve ? ` / ${f.advisory.cve}` : ""} (${f.advisory.vulnerable}; fixed in ${f.advisory.fixed}): ${f.advisory.summary}`,
    );
  const audit = runAudit(root, 30_000);
  let auditFailed = false;
  if (!audit.answered) {
    console.log(
      `advisories: npm audit got no answer from the registry (${audit.why}); the table is the check`,
    );
  } else if (audit.findings.length) {
    auditFailed = true;
    for (const f of audit.findings)
      console.error(`advisories: npm audit: ${f.name} (${f.severity}): ${f.via.join(", ")}`);
  } else {
    console.log("advisories: npm audit answered: no known vulnerability in the shipped dependencies");
  }
  if (findings.length || auditFailed) process.exit(1);
  console.log(
    `advisories: ${advisories.length} advisories for ${packages.length} packages (table checked ${JSON.parse(readFileSync(path.join(root, "security/advisories.json"), "utf8")).checked}): none matches an installed version`,
  );
}
