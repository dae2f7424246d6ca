// Adds up the JSON reports of vitest and Playwright into one closing line:
// "Totals: N passed, N failed" (skipped tests are counted and fail the run: none are allowed).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2];
let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of readdirSync(dir).filter((f) => f.endsWith(".json"))) {
  const report = JSON.parse(readFileSync(join(dir, file), "utf8"));
  if (report.stats && "expected" in report.stats) {
    // Playwright
    passed += report.stats.expected + report.stats.flaky;
    failed += report.stats.unexpected;
    skipped += report.stats.skipped;
    console.log(`  ${file}: ${report.stats.expected} passed, ${report.stats.unexpected} failed`);
  } else if ("numPassedTests" in report) {
    // vitest (jest-compatible)
    passed += report.numPassedTests;
    failed += report.numFailedTests;
    skipped += report.numPendingTests + (report.numTodoTests ?? 0);
    console.log(`  ${file}: ${report.numPassedTests} passed, ${report.numFailedTests} failed`);
  }
}
if (skipped) console.log(`  ${skipped} skipped: a skipped test proves nothing`);
console.log(`Totals: ${passed} passed, ${failed} failed`);
process.exit(failed || skipped || passed === 0 ? 1 : 0);
