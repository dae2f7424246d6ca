/**
 * Issue 11 point 11: the end-to-end run uses the production privilege split, as scripts/up.sh
 * does. The process answering the run's port is the built web tier (dist/web.mjs of a root-owned
 * release), running as the run's unprivileged web user, which is in the agent socket's group and
 * nothing else; the agent is root; the web tier cannot write its own code, and its database is
 * the web user's.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { DB_FILE, E2E_PORT, IS_ROOT, RELEASE_DIR } from "../env";

/** The pid of the process listening on 127.0.0.1:port (ss names it). */
function listenerPid(port: number): number {
  const out = execFileSync("ss", ["-ltnpH", `sport = :${port}`], { encoding: "utf8" });
  const pid = out.match(/pid=(\d+)/)?.[1];
  if (!pid) throw new Error(`nothing listens on port ${port}: ${out}`);
  return Number(pid);
}

function ids(pid: number): { uid: number; groups: number[]; cmdline: string[] } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return {
    uid: Number(status.match(/^Uid:\s+(\d+)/m)?.[1]),
    groups: (status.match(/^Groups:\s*(.*)$/m)?.[1] ?? "").split(/\s+/).filter(Boolean).map(Number),
    cmdline: readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean),
  };
}

test("as root, the web tier runs as the unprivileged web user from a root-owned release; the agent as root", () => {
  const web = ids(listenerPid(E2E_PORT));
  if (!IS_ROOT) {
    // Without root there is no split to make (as up.sh unprivileged): everything runs as you.
    expect(web.uid).toBe(process.getuid?.());
    expect(web.cmdline.at(-1)).toBe("dist/web.mjs");
    return;
  }
  const state = JSON.parse(readFileSync(".data/e2e-agent.json", "utf8")) as {
    pid: number;
    group: string;
    webUser: string;
  };
  const agent = ids(state.pid);

  expect(agent.uid).toBe(0);
  expect(agent.cmdline.at(-1)).toBe(path.join(RELEASE_DIR, "dist/agent.mjs"));

  expect(web.uid).not.toBe(0);
  const user = execFileSync("id", ["-un", String(web.uid)], { encoding: "utf8" }).trim();
  expect(user).toBe(state.webUser);
  const socketGid = Number(
    execFileSync("getent", ["group", state.group], { encoding: "utf8" }).split(":")[2],
  );
  expect(web.groups).toEqual([socketGid]);
  expect(web.cmdline.at(-1)).toBe("dist/web.mjs");
  expect(readFileSync(`/proc/${listenerPid(E2E_PORT)}/environ`, "utf8")).toContain("NODE_ENV=production");

  // Its code is root's and not writable by it; its database is its own.
  const code = statSync(path.join(RELEASE_DIR, "dist/web.mjs"));
  expect(code.uid).toBe(0);
  expect(code.mode & 0o022).toBe(0);
  expect(statSync(DB_FILE).uid).toBe(web.uid);
  expect(statSync(path.dirname(DB_FILE)).mode & 0o777).toBe(0o700);
});
