import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  type Advisory,
  compareVersions,
  findVulnerable,
  listInstalled,
  readAdvisories,
  readAuditAnswer,
  satisfies,
} from "./check-advisories";

const repo = path.resolve(import.meta.dirname, "..");

let root = "";
afterEach(() => {
  if (root) rmSync(root, { recursive: true, force: true });
  root = "";
});

function tree(packages: Record<string, string>) {
  root = mkdtempSync(path.join(tmpdir(), "advisories-"));
  for (const [dir, version] of Object.entries(packages)) {
    const name = dir.split("node_modules/").pop() as string;
    mkdirSync(path.join(root, dir), { recursive: true });
    writeFileSync(path.join(root, dir, "package.json"), JSON.stringify({ name, version }));
  }
  return root;
}

describe("advisory gate (security.md §5: npm audit / OSV for next, next-auth, ws, xterm, …)", () => {
  it("orders versions by semver, prereleases before their release", () => {
    expect(compareVersions("16.2.10", "16.2.9")).toBeGreaterThan(0);
    expect(compareVersions("5.0.0-beta.32", "5.0.0-beta.4")).toBeGreaterThan(0);
    expect(compareVersions("5.0.0-beta.32", "5.0.0")).toBeLessThan(0);
    expect(compareVersions("1.0.0-alpha", "1.0.0-alpha.1")).toBeLessThan(0);
    expect(compareVersions("1.2.3", "1.2.3")).toBe(0);
    expect(() => compareVersions("16.x", "1.0.0")).toThrow(/not a version/);
  });

  it("matches npm-style ranges with alternatives", () => {
    const range = ">=14.0.0 <14.2.25 || >=15.0.0 <15.2.3";
    expect(satisfies("15.2.2", range)).toBe(true);
    expect(satisfies("14.2.24", range)).toBe(true);
    expect(satisfies("15.2.3", range)).toBe(false);
    expect(satisfies("16.4.6", range)).toBe(false);
    expect(satisfies("5.0.0-beta.31", ">=5.0.0-beta.0 <5.0.0-beta.32")).toBe(true);
    expect(satisfies("5.0.0-beta.32", ">=5.0.0-beta.0 <5.0.0-beta.32")).toBe(false);
  });

  it("finds a vulnerable copy wherever it is installed, nested copies included", () => {
    const advisories: Advisory[] = [
      {
        package: "ws",
        id: "GHSA-3h5v-q93c-6h6q",
        vulnerable: ">=8.0.0 <8.17.1",
        fixed: "8.17.1",
        summary: "",
      },
      {
        package: "next",
        id: "GHSA-f82v-jwr5-mffw",
        vulnerable: ">=15.0.0 <15.2.3",
        fixed: "15.2.3",
        summary: "",
      },
    ];
    const dir = tree({
      "node_modules/ws": "8.23.0",
      "node_modules/some-lib/node_modules/ws": "8.17.0",
      "node_modules/next": "15.2.2",
      "node_modules/@scope/thing": "1.0.0",
    });
    const found = findVulnerable(advisories, listInstalled(dir)).map(
      (f) => `${f.advisory.id} ${path.relative(dir, f.installed.dir)} ${f.installed.version}`,
    );
    expect(found.sort()).toEqual([
      "GHSA-3h5v-q93c-6h6q node_modules/some-lib/node_modules/ws 8.17.0",
      "GHSA-f82v-jwr5-mffw node_modules/next 15.2.2",
    ]);
    expect(listInstalled(dir).map((i) => i.name)).toContain("@scope/thing");
  });

  it("reads npm audit's answer, and says why when the registry gave none", () => {
    const refused = JSON.stringify({
      message: "405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk",
      statusCode: 405,
    });
    expect(readAuditAnswer(refused)).toEqual({ answered: false, why: expect.stringContaining("405") });
    expect(readAuditAnswer("")).toEqual({ answered: false, why: "no output" });
    const answered = JSON.stringify({
      vulnerabilities: { ws: { severity: "high", via: [{ url: "https://github.com/advisories/GHSA-x" }] } },
    });
    expect(readAuditAnswer(answered)).toEqual({
      answered: true,
      findings: [{ name: "ws", severity: "high", via: ["https://github.com/advisories/GHSA-x"] }],
    });
  });

  it("the committed table is well formed: every range parses, no fixed version is inside its own range", () => {
    const advisories = readAdvisories(repo);
    expect(advisories.length).toBeGreaterThan(20);
    for (const a of advisories) {
      expect(a.id, JSON.stringify(a)).toMatch(/^(GHSA(-[23456789cfghjmpqrvwx]{4}){3}|CVE-\d{4}-\d+)$/);
      expect(satisfies(a.fixed, a.vulnerable), `${a.package} ${a.id}`).toBe(false);
    }
    const covered = new Set(advisories.map((a) => a.package));
    for (const shipped of ["next", "next-auth", "@auth/core", "ws", "zod"])
      expect(covered).toContain(shipped);
  });

  it("no installed package of this tree matches a known advisory", () => {
    const findings = findVulnerable(readAdvisories(repo), listInstalled(repo)).map(
      (f) => `${f.installed.name} ${f.installed.version}: ${f.advisory.id} (fixed in ${f.advisory.fixed})`,
    );
    expect(findings).toEqual([]);
  });
});
