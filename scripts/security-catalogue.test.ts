/**
 * Keeps docs/security-checks.md true (issue 11 point 12): checks 1–47 of the security catalogue
 * each have one row, and every test file a row names exists and holds a title `check N: …` for
 * that row's N. A row whose test has not landed fails here, naming the file and the note (who).
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const repo = path.resolve(import.meta.dirname, "..");
const CHECKS_NOW = 47;

type Row = { n: number; name: string; files: string[]; notes: string };

function readTable(): Row[] {
  const text = readFileSync(path.join(repo, "docs/security-checks.md"), "utf8");
  const rows: Row[] = [];
  for (const line of text.split("\n")) {
    const m = /^\|\s*(\d+)\s*\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|\s*$/.exec(line);
    if (!m) continue;
    rows.push({
      n: Number(m[1]),
      name: (m[2] ?? "").trim(),
      files: [...(m[3] ?? "").matchAll(/`([^`]+)`/g)].map((f) => f[1] as string),
      notes: (m[5] ?? "").trim(),
    });
  }
  return rows;
}

const rows = readTable();

describe("the security catalogue's checks are tests (docs/security-checks.md)", () => {
  it(`has one row for each of checks 1–${CHECKS_NOW}, each naming at least one test file`, () => {
    expect(rows.map((r) => r.n)).toEqual(Array.from({ length: CHECKS_NOW }, (_, i) => i + 1));
    for (const r of rows) expect(r.files.length, `check ${r.n}`).toBeGreaterThan(0);
  });

  it.each(rows.map((r) => [r.n, r] as const))(
    "check %i: its tests exist and are named after it",
    (n, row) => {
      const problems: string[] = [];
      for (const file of row.files) {
        const full = path.join(repo, file);
        if (!existsSync(full)) {
          problems.push(`${file} does not exist`);
          continue;
        }
        // The title starts "check N:" (in a describe, it or test title, or a quickstart check line).
        if (!new RegExp(`["'\`(]check ${n}:`).test(readFileSync(full, "utf8")))
          problems.push(`${file} has no test titled "check ${n}: …"`);
      }
      const who = row.notes ? ` (notes: ${row.notes.slice(0, 120)})` : "";
      expect(problems, `check ${n} (${row.name})${who}`).toEqual([]);
    },
  );
});
