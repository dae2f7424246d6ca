/**
 * The audit grep of security.md check 24 ("no exec/spawn with shell: true"), run on the product's
 * source (server/, app/, components/, proxy.ts; tests and test harnesses aside): no shell option, no
 * `exec`/`execSync` (which take a command string), child processes only in the agent, and `sh -c`
 * only where the script is a constant and everything variable is passed as its arguments.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const repo = path.resolve(import.meta.dirname, "..");
const productFiles = execFileSync("git", ["ls-files", "--", "server", "app", "components", "proxy.ts"], {
  cwd: repo,
  encoding: "utf8",
})
  .split("\n")
  .filter((f) => /\.(ts|tsx|mjs|cjs|js)$/.test(f))
  .filter((f) => !/\.(test|itest)\.tsx?$/.test(f) && !f.includes("/testing/"));
const source = (f: string) => readFileSync(path.join(repo, f), "utf8");

/** The only file allowed to run `sh -c` (the sandbox's cgroup join and tmux keeper). */
const SH_C_FILES = ["server/agent/confine/sandbox.ts"];

describe("no shell (security.md check 24)", () => {
  it("reads the product's source", () => {
    expect(productFiles.length).toBeGreaterThan(100);
    expect(productFiles).toContain("server/agent/exec.ts");
  });

  it("check 24: no shell option and no exec/execSync anywhere in the product", () => {
    const found: string[] = [];
    for (const f of productFiles) {
      const text = source(f);
      if (/\bshell\s*:\s*(true|["'`])/.test(text)) found.push(`${f}: a shell option`);
      const imports = /import\s*\{([^}]*)\}\s*from\s*["'](node:)?child_process["']/g;
      for (const m of text.matchAll(imports)) {
        const names = (m[1] ?? "").split(",").map(
          (n) =>
            n
              .replace(/\btype\b/, "")
              .trim()
              .split(/\s+as\s+/)[0],
        );
        for (const n of names) if (n === "exec" || n === "execSync") found.push(`${f}: imports ${n}`);
      }
      if (/require\(["'](node:)?child_process["']\)/.test(text)) found.push(`${f}: requires child_process`);
    }
    expect(found).toEqual([]);
  });

  it("check 24: only the agent starts processes; the web tier and the pages never do", () => {
    const starters = productFiles.filter((f) => /["'](node:)?child_process["']/.test(source(f)));
    expect(starters.length).toBeGreaterThan(0);
    expect(starters.filter((f) => !f.startsWith("server/agent/"))).toEqual([]);
  });

  it("check 24: sh -c only with a constant script, the variable parts as its arguments", () => {
    const withDashC = productFiles.filter((f) => /["']-c["']/.test(source(f)));
    expect(withDashC).toEqual(SH_C_FILES);
    for (const f of SH_C_FILES) {
      const text = source(f);
      const uses = [...text.matchAll(/["']-c["'],?\s*([A-Za-z_$][\w$]*)?/g)];
      expect(uses.length).toBeGreaterThan(0);
      for (const use of uses) {
        // The script is a named constant holding a plain single-quoted string: nothing interpolated.
        const name = use[1] ?? "(not a name)";
        expect(name, `${f}: sh -c ${name}`).toMatch(/^[A-Z][A-Z0-9_]*$/);
        expect(text, `${f}: ${name}`).toMatch(new RegExp(`const ${name} =\\s*'[^'\\n]*';`));
      }
    }
  });
});
