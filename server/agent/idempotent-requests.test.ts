/**
 * security.md check 34 (idempotent retries): the web tier retries a verb with the same request id
 * after a timeout; the agent runs it once and answers the retry with the first result. The real
 * AgentServer on a Unix socket in a temp directory; its VmManager is a stand-in that counts the
 * starts it is asked for (the real start boots a VM: agent.itest.ts).
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_PATHS, PROTOCOL_VERSION, type TaskInfo } from "../protocol/agent";
import { AgentServer } from "./server";
import type { VmManager } from "./vm-manager";

const starts: { id: string; name: string }[] = [];
let release: () => void = () => {};
const manager = {
  info: { list: async () => [] },
  lifecycle: {
    async start(id: string, name: string): Promise<TaskInfo> {
      starts.push({ id, name });
      // Held until the test lets it go, so a retry can arrive while the first is still running.
      await new Promise<void>((resolve) => {
        release = resolve;
        setTimeout(resolve, 200);
      });
      return {
        id,
        op: "vm.start",
        vm: name,
        state: "running",
        step: `start #${starts.length}`,
        startedAt: new Date().toISOString(),
        endedAt: null,
        error: null,
        result: null,
      };
    },
  },
} as unknown as VmManager;

let dir = "";
let socketPath = "";
let server: AgentServer;
const logged: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "zaphod-idem-"));
  socketPath = path.join(dir, "agent.sock");
  server = new AgentServer(manager, (line) => logged.push(line));
  await new Promise<void>((resolve) => server.http.listen(socketPath, resolve));
});
afterAll(async () => {
  await new Promise((resolve) => server.http.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

function rpc(body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        path: AGENT_PATHS.rpc,
        method: "POST",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(text) },
      },
      (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (c) => {
          data += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(data) }));
      },
    );
    req.on("error", reject);
    req.end(text);
  });
}
const start = (id: string, name = "alice") => ({
  v: PROTOCOL_VERSION,
  id,
  op: "vm.start",
  args: { name },
});

describe("idempotent retries (check 34)", () => {
  it("check 34: the same request id sent twice (a retry after a timeout) runs once; the retry gets the first result", async () => {
    const id = randomUUID();
    const first = rpc(start(id));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const retry = rpc(start(id)); // arrives while the first still runs
    release();
    const [a, b] = await Promise.all([first, retry]);
    const late = await rpc(start(id)); // and once it has ended
    expect(starts.filter((s) => s.id === id)).toHaveLength(1);
    expect(a.status).toBe(200);
    expect(b).toEqual(a);
    expect(late).toEqual(a);
    expect((a.json.result as { task: TaskInfo }).task.id).toBe(id);
  });

  it("check 34: a request id reused for another request is refused, and nothing runs", async () => {
    const id = randomUUID();
    await rpc(start(id, "alice"));
    const before = starts.length;
    const other = await rpc(start(id, "bob"));
    expect(other.status).toBe(400);
    expect(other.json).toMatchObject({
      ok: false,
      error: { code: "invalid-request", message: "request id reused for another request" },
    });
    expect(starts.length).toBe(before);
  });

  it("a new request id is a new request (the positive control)", async () => {
    const before = starts.length;
    await rpc(start(randomUUID()));
    await rpc(start(randomUUID()));
    expect(starts.length).toBe(before + 2);
  });
});
