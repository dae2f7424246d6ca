/**
 * Debian's Chromium (never a browser Playwright downloads), headless, with the flags this machine's
 * closed network needs (background networking off, or it retries refused connections at start).
 */
export const chromiumLaunchOptions = {
  executablePath: "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
};
