/**
 * Renders the home-screen PNGs in public/ from the SVG icons with headless Chromium (Debian's), so
 * the PNGs never drift from the SVG by hand:  npx tsx e2e/tools/render-icons.ts
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { chromium } from "@playwright/test";

const pub = path.resolve("public");
const targets = [
  { svg: "icons/icon.svg", out: "icons/icon-192.png", size: 192 },
  { svg: "icons/icon.svg", out: "icons/icon-512.png", size: 512 },
  { svg: "icons/icon-maskable.svg", out: "icons/icon-maskable-512.png", size: 512 },
  // iOS puts its own rounded mask on a full square.
  { svg: "icons/icon-maskable.svg", out: "apple-touch-icon.png", size: 180 },
  { svg: "icons/icon.svg", out: "icons/favicon-32.png", size: 32 },
];

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
try {
  for (const t of targets) {
    const page = await browser.newPage({ viewport: { width: t.size, height: t.size }, deviceScaleFactor: 1 });
    const svg = readFileSync(path.join(pub, t.svg), "utf8");
    await page.setContent(
      `<!doctype html><style>html,body{margin:0;background:transparent}svg{display:block;width:${t.size}px;height:${t.size}px}</style>${svg}`,
    );
    await page.screenshot({ path: path.join(pub, t.out), omitBackground: true });
    await page.close();
    console.log(`${t.out} (${t.size}×${t.size})`);
  }
} finally {
  await browser.close();
}
