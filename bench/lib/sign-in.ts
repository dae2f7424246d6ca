/**
 * Signs in through the real login form (Debian's Chromium) and returns the session cookie as a
 * `Cookie` header value, for benches that call the panel as a member.
 *
 *   tsx bench/lib/sign-in.ts http://127.0.0.1:3000 demo > .cache/bench/member.cookie   (password on stdin)
 */
import { chromium } from "@playwright/test";

export async function signInCookie(base: string, username: string, password: string): Promise<string> {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"],
  });
  try {
    const context = await browser.newContext({ baseURL: base });
    const page = await context.newPage();
    await page.goto("/login", { waitUntil: "networkidle" }); // hydrated: the form posts as an action
    await page.getByLabel("Username or email").fill(username);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL((u) => !u.pathname.startsWith("/login"), { waitUntil: "commit" });
    const cookies = await context.cookies();
    return cookies.map((c) => `${c.name}=${c.value}`).join("; ");
  } finally {
    await browser.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [base, username] = process.argv.slice(2);
  if (!base || !username) {
    console.error("usage: tsx bench/lib/sign-in.ts <base-url> <username>   (password on stdin)");
    process.exit(2);
  }
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const password = Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
  process.stdout.write(`${await signInCookie(base, username, password)}\n`);
}
