/**
 * security.md check 26 (remote agent transport), for the panel's own host: an agent without
 * ZAPHOD_AGENT_LISTEN (the default, one host) opens no inet socket at all: every socket it holds is
 * a Unix socket, its RPC socket among them. The agent of another host listens with mutual TLS; its
 * refusals (no certificate, another CA's, an expired, revoked or host certificate, TLS 1.1) are
 * server/web/hosts/hosts.itest.ts (checks 26 and 47).
 */

import { readdir, readFile, readlink } from "node:fs/promises";
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, type Harness } from "./testing/agent-harness";

/** The socket inodes a process holds (its /proc/PID/fd links "socket:[N]"). */
async function socketInodes(pid: number | "self"): Promise<Set<string>> {
  const out = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m?.[1]) out.add(m[1]);
  }
  return out;
}

/** Inodes of the inet sockets in a process's network namespace (tcp, tcp6, udp, udp6, raw). */
async function inetInodes(pid: number | "self"): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const table of ["tcp", "tcp6", "udp", "udp6", "raw", "raw6"]) {
    const text = await readFile(`/proc/${pid}/net/${table}`, "utf8").catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && cols[9]) out.set(cols[9], `${table} ${cols[1]}`);
    }
  }
  return out;
}

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
  await h.startAgent();
});
afterAll(async () => h?.cleanup());

describe("the agent's only transport is its Unix socket (check 26, nearest equivalent)", () => {
  it("the probe sees a TCP listener when there is one (the positive control)", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const mine = await socketInodes("self");
      const inet = await inetInodes("self");
      expect([...mine].some((i) => inet.has(i))).toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("check 26: the running agent holds no TCP, UDP or raw socket; its sockets are Unix sockets, the RPC socket among them", async () => {
    const pid = h.agent?.pid;
    if (!pid) throw new Error("no agent");
    // It answers on its socket (so it is up and serving) ...
    expect((await h.client.call("agent.health", {})).version).toBe(1);
    const held = await socketInodes(pid);
    expect(held.size).toBeGreaterThan(0);
    // ... and none of what it holds is an inet socket.
    const inet = await inetInodes(pid);
    expect([...held].filter((i) => inet.has(i)).map((i) => inet.get(i))).toEqual([]);
    // Its listening socket is the Unix one at the configured path.
    const unix = await readFile(`/proc/${pid}/net/unix`, "utf8");
    const listening = unix
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      // Columns: Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 is a listener.
      .filter((c) => c.length >= 8 && c[3] === "00010000" && held.has(c[6] ?? "") && c[7] === h.socketPath);
    expect(listening).toHaveLength(1);
  });
});
