/**
 * Screenshots of ConsoleView (the console page's whole content) in Debian's Chromium at desktop and
 * 375 px, light and dark, against the real console path and a bash stand-in agent; types into it
 * first. Not a test: a tool for looking at the page.
 *
 *   npx tsx components/console/testing/screenshot-console.ts [outdir]
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { startPtyAgent } from "../../../bench/console/pty-agent";
import { startConsoleTestServer } from "../../../server/web/console/testing/console-test-server";

const here = fileURLToPath(new URL(".", import.meta.url));
const out = process.argv[2] ?? "screenshots/console";
mkdirSync(out, { recursive: true });
const work = mkdtempSync(join(tmpdir(), "zaphod-console-shots-"));
const html = `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>console</title><link rel="stylesheet" href="/harness.css"></head><body><div id="root"></div><script src="/harness.js"></script></body></html>`;

await build({
  entryPoints: { harness: join(here, "harness.tsx") },
  bundle: true,
  outdir: work,
  format: "iife",
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "error",
});
const agent = await startPtyAgent(join(work, "agent.sock"));
const web: Awaited<ReturnType<typeof startConsoleTestServer>> = await startConsoleTestServer({
  agentUrl: agent.url,
  onRequest: (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/") return res.writeHead(200, { "content-type": "text/html" }).end(html);
    if (path === "/harness.js" || path === "/harness.css") {
      const type = path.endsWith(".js") ? "text/javascript" : "text/css";
      return res.writeHead(200, { "content-type": type }).end(readFileSync(join(work, path)));
    }
    if (path === "/ticket")
      return void web
        .issueToken("bench", "bench")
        .then((token) => res.writeHead(200).end(JSON.stringify({ token })));
    res.writeHead(404).end();
  },
});
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
try {
  for (const [name, viewport] of [
    ["desktop", { width: 1280, height: 800 }],
    ["375", { width: 375, height: 740 }],
  ] as const) {
    for (const colorScheme of ["light", "dark"] as const) {
      const page = await browser.newPage({ viewport, colorScheme });
      await page.goto(web.origin);
      await page.getByRole("status").filter({ hasText: "Live" }).waitFor({ timeout: 20_000 });
      await page.locator(".xterm-helper-textarea").focus();
      await page.keyboard.type("echo typed-through-the-browser; ls / | head -5; stty size");
      await page.keyboard.press("Enter");
      await page.waitForTimeout(800);
      await page.screenshot({ path: join(out, `console-${name}-${colorScheme}.png`) });
      await page.close();
    }
  }
} finally {
  await browser.close();
  await web.stop();
  await agent.close();
  rmSync(work, { recursive: true, force: true });
}
console.log(`screenshots in ${out}`);
