import "server-only";
/**
 * Server-Sent Events for the browser: first `event: snapshot` (what the page shows: the VMs' state
 * and, for one VM, its tasks), then the hub's events that pass the subscriber's filter, a
 * heartbeat, and the caller re-checked every 30 s (a suspended member's stream ends).
 * EventSource reconnects by itself and every connection starts with a fresh snapshot, which the
 * page takes in place of its view: whatever ended while the stream was away is not lost.
 * Events published while the snapshot is read are held and sent after it, so the snapshot never
 * overwrites something newer.
 */
import type { Caller } from "../dal/caller";
import { getDb } from "../db/client";
import { getHub, type HubEvent } from "./hub";
import { ensureVmService } from "./service";

const HEARTBEAT_MS = 15_000;
const RECHECK_MS = 30_000;

export function eventStreamResponse(opts: {
  caller: Caller;
  signal: AbortSignal;
  accepts: (ownerId: string, vmName: string | null) => boolean;
  /** The first message's data (JSON); read after subscribing, so no event falls in between. */
  snapshot: () => Promise<unknown>;
}): Response {
  const encoder = new TextEncoder();
  let cleanup: () => void = () => {};
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      let closed = false;
      const write = (text: string) => {
        if (closed) return;
        try {
          controller.enqueue(encoder.encode(text));
        } catch {
          cleanup();
        }
      };
      const sendNow = (e: HubEvent) => {
        const data = e.type === "vm" ? e.vm : e.task;
        write(`event: ${e.type}\ndata: ${JSON.stringify(data)}\n\n`);
      };
      let held: HubEvent[] | null = [];
      const send = (e: HubEvent) => (held ? held.push(e) : sendNow(e));
      await ensureVmService();
      const off = getHub().subscribe({ accepts: opts.accepts, send });
      const heartbeat = setInterval(() => write(": hb\n\n"), HEARTBEAT_MS);
      const recheck = setInterval(async () => {
        const row = await getDb()
          .user.findUnique({ where: { id: opts.caller.id }, select: { status: true } })
          .catch(() => null);
        if (row?.status !== "active") cleanup();
      }, RECHECK_MS);
      cleanup = () => {
        if (closed) return;
        closed = true;
        off();
        clearInterval(heartbeat);
        clearInterval(recheck);
        try {
          controller.close();
        } catch {}
      };
      opts.signal.addEventListener("abort", () => cleanup());
      write("retry: 2000\n\n");
      let snapshot: unknown;
      try {
        snapshot = await opts.snapshot();
      } catch (error) {
        console.error("[events] snapshot failed:", error);
        cleanup(); // EventSource retries; the next connection brings a snapshot
        return;
      }
      write(`event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`);
      const later = held;
      held = null;
      for (const e of later) sendNow(e);
      write("event: ready\ndata: {}\n\n");
    },
    cancel() {
      cleanup();
    },
  });
  return new Response(stream, {
    headers: {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store, no-transform",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    },
  });
}
