import { describe, expect, it, vi } from "vitest";

/** A stand-in hub: the test publishes to the stream's subscriber by hand. */
const hub = vi.hoisted(() => {
  const subscribers = new Set<{
    send: (e: unknown) => void;
    accepts: (o: string, v: string | null) => boolean;
  }>();
  return {
    subscribers,
    publish(e: { type: string; ownerId: string; vm?: { name: string }; task?: { vmName: string } }) {
      for (const s of subscribers) if (s.accepts(e.ownerId, e.vm?.name ?? e.task?.vmName ?? null)) s.send(e);
    },
  };
});
vi.mock("./hub", () => ({
  getHub: () => ({
    subscribe: (sub: typeof hub.subscribers extends Set<infer S> ? S : never) => {
      hub.subscribers.add(sub);
      return () => hub.subscribers.delete(sub);
    },
  }),
}));
vi.mock("../tasks/pipeline", () => ({ ensureTaskPipeline: async () => undefined }));
const db = vi.hoisted(() => ({ user: { status: "active", sessionVersion: 1 }, revoked: new Set<string>() }));
vi.mock("../db/client", () => ({
  getDb: () => ({
    user: { findUnique: async () => db.user },
    revokedSession: {
      findUnique: async ({ where }: { where: { id: string } }) => (db.revoked.has(where.id) ? where : null),
    },
  }),
}));

const { eventStreamResponse, STREAMS_PER_USER } = await import("./sse");
const { announceSessionsEnded } = await import("../session-events");

type Caller = Parameters<typeof eventStreamResponse>[0]["caller"];
const caller = { id: "u1", username: "u1", role: "member", status: "active" } as Caller;

/** Reads SSE messages (event name and parsed data) until `count` arrived. */
async function readMessages(res: Response, count: number) {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = "";
  const messages: { event: string; data: unknown }[] = [];
  while (messages.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
    let end = text.indexOf("\n\n");
    while (end >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const event = /^event: (.+)$/m.exec(block)?.[1];
      const data = /^data: (.+)$/m.exec(block)?.[1];
      if (event && data) messages.push({ event, data: JSON.parse(data) });
      end = text.indexOf("\n\n");
    }
  }
  await reader.cancel();
  return messages;
}

const task = (status: string) => ({ id: "t1", vmName: "web", kind: "reboot", status });

describe("eventStreamResponse", () => {
  it("sends the snapshot first; events published while it is read follow it, in order", async () => {
    let finishSnapshot: (v: unknown) => void = () => {};
    const controller = new AbortController();
    const res = eventStreamResponse({
      caller,
      signal: controller.signal,
      accepts: (_o, vmName) => vmName === "web",
      snapshot: () =>
        new Promise((resolve) => {
          finishSnapshot = resolve;
        }),
    });
    const reading = readMessages(res, 3);
    await vi.waitFor(() => expect(hub.subscribers.size).toBe(1));
    // The task ends while the snapshot is being read: held, not lost, and sent after it.
    hub.publish({ type: "task", ownerId: "u1", task: task("succeeded") });
    hub.publish({ type: "task", ownerId: "u1", task: { ...task("running"), vmName: "other" } });
    finishSnapshot({ vm: { name: "web", state: "running" }, tasks: [task("running")] });
    const messages = await reading;
    expect(messages.map((m) => m.event)).toEqual(["snapshot", "task", "ready"]);
    expect(messages[0]?.data).toEqual({ vm: { name: "web", state: "running" }, tasks: [task("running")] });
    expect(messages[1]?.data).toEqual(task("succeeded"));
    controller.abort();
  });

  it("lets through only what the VM access rule allows: a member's own VMs, an admin's every VM", async () => {
    const watch = async (who: Caller, count: number) => {
      const controller = new AbortController();
      const res = eventStreamResponse({
        caller: who,
        signal: controller.signal,
        accepts: () => true, // the route asks for everything; the rule still decides
        snapshot: async () => ({ vms: [] }),
      });
      return { controller, reading: readMessages(res, count) };
    };
    const member = await watch(caller, 3); // snapshot, ready, one event
    const admin = await watch({ ...caller, id: "a1", username: "root", role: "admin" }, 4);
    await vi.waitFor(() => expect(hub.subscribers.size).toBe(2));
    hub.publish({ type: "vm", ownerId: "u2", vm: { name: "bobs" } });
    hub.publish({ type: "vm", ownerId: "u1", vm: { name: "web" } });
    const names = (ms: { event: string; data: unknown }[]) =>
      ms.filter((m) => m.event === "vm").map((m) => (m.data as { name: string }).name);
    expect(names(await member.reading)).toEqual(["web"]);
    expect(names(await admin.reading)).toEqual(["bobs", "web"]);
    member.controller.abort();
    admin.controller.abort();
  });

  it("ends the stream (the browser reconnects) when the snapshot cannot be read", async () => {
    const res = eventStreamResponse({
      caller,
      signal: new AbortController().signal,
      accepts: () => true,
      snapshot: async () => {
        throw new Error("database away");
      },
    });
    const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const messages = await readMessages(res, 1);
    expect(messages).toEqual([]);
    expect(error).toHaveBeenCalled();
    error.mockRestore();
  });

  it("check 7: a suspended member's event streams close at once, not at the next re-check", async () => {
    const controller = new AbortController();
    const res = eventStreamResponse({
      caller,
      signal: controller.signal,
      accepts: () => true,
      snapshot: async () => ({ vms: [] }),
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await vi.waitFor(() => expect(hub.subscribers.size).toBe(1));
    const started = Date.now();
    announceSessionsEnded("someone-else");
    expect(hub.subscribers.size).toBe(1);
    announceSessionsEnded("u1");
    for (;;) if ((await reader.read()).done) break;
    expect(Date.now() - started).toBeLessThan(500);
    expect(hub.subscribers.size).toBe(0);
  });

  it("check 20: one user holds at most 20 event streams; the next is refused with a clear message", async () => {
    const open = () => {
      const controller = new AbortController();
      eventStreamResponse({
        caller: { ...caller, id: "greedy" },
        signal: controller.signal,
        accepts: () => true,
        snapshot: async () => ({ vms: [] }),
      });
      return controller;
    };
    const streams = Array.from({ length: STREAMS_PER_USER }, open);
    expect(STREAMS_PER_USER).toBe(20);
    expect(open).toThrow(/Too many open live views \(at most 20\)/);
    try {
      open();
    } catch (e) {
      expect((e as { code?: string }).code).toBe("rate-limited");
    }
    // Another user is not affected; closing one stream frees its slot.
    const other = eventStreamResponse({
      caller,
      signal: new AbortController().signal,
      accepts: () => true,
      snapshot: async () => ({ vms: [] }),
    });
    expect(other).toBeInstanceOf(Response);
    streams[0]?.abort();
    const again = open();
    expect(open).toThrow(/Too many/);
    for (const c of [...streams, again]) c.abort();
    await vi.waitFor(() => expect(hub.subscribers.size).toBeLessThanOrEqual(1));
    const fresh = Array.from({ length: STREAMS_PER_USER }, open);
    for (const c of fresh) c.abort();
  });

  it("check 7: a stream ends at its re-check once its session was signed out or its password changed", async () => {
    vi.useFakeTimers();
    try {
      for (const end of [
        () => db.revoked.add("sid-1"),
        () => Object.assign(db.user, { sessionVersion: 2 }),
      ]) {
        db.revoked.clear();
        db.user.sessionVersion = 1;
        const res = eventStreamResponse({
          caller: { ...caller, id: "recheck" },
          session: { sv: 1, sid: "sid-1" },
          signal: new AbortController().signal,
          accepts: () => true,
          snapshot: async () => ({ vms: [] }),
        });
        const reader = (res.body as ReadableStream<Uint8Array>).getReader();
        await vi.advanceTimersByTimeAsync(5_000);
        expect(hub.subscribers.size).toBeGreaterThan(0); // still valid: still open
        const before = hub.subscribers.size;
        end();
        await vi.advanceTimersByTimeAsync(5_000);
        expect(hub.subscribers.size).toBe(before - 1);
        await reader.cancel();
      }
    } finally {
      vi.useRealTimers();
      db.revoked.clear();
      db.user.sessionVersion = 1;
    }
  });
});
