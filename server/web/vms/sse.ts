import "server-only";
/**
 * Server-Sent Events for the browser: first `event: snapshot` (what the page shows: the VMs' state
 * and, for one VM, its tasks), then the hub's events that pass the subscriber's filter, a
 * heartbeat. The filter is the VM access rule (./access.ts, the read capability: one's own VMs,
 * every VM with `vm.read.any`) and then the route's own narrowing (one VM's stream). A suspended
 * member's streams end at once (server/web/session-events.ts; the re-check
 * every 5 s covers a suspension from another process, e.g. the CLI). One user holds at most
 * STREAMS_PER_USER streams in a process; the next is refused with 429.
 * EventSource reconnects by itself and every connection starts with a fresh snapshot, which the
 * page takes in place of its view: whatever ended while the stream was away is not lost.
 * Events published while the snapshot is read are held and sent after it, so the snapshot never
 * overwrites something newer.
 */
import type { Caller } from "../dal/caller";
import { getDb } from "../db/client";
import { ActionFailure } from "../errors";
import { onSessionsEnded } from "../session-events";
import { ensureTaskPipeline } from "../tasks/pipeline";
import { mayActOn } from "./access";
import { getHub, type HubEvent } from "./hub";

const HEARTBEAT_MS = 15_000;
const RECHECK_MS = 5_000;
export const STREAMS_PER_USER = 20;

const key = Symbol.for("zaphod.eventStreamsOpen");
type WithCounts = typeof globalThis & { [key]?: Map<string, number> };
/** Open streams per user in this process (kept on globalThis like the hub). */
function openCounts(): Map<string, number> {
  const scope = globalThis as WithCounts;
  scope[key] ??= new Map();
  return scope[key];
}

/** Takes one of the user's stream slots, or refuses with 429; the returned release is idempotent. */
function takeSlot(userId: string): () => void {
  const counts = openCounts();
  const n = counts.get(userId) ?? 0;
  if (n >= STREAMS_PER_USER)
    throw new ActionFailure(
      "rate-limited",
      `Too many open live views (at most ${STREAMS_PER_USER}); close some tabs or windows of the panel and reload.`,
    );
  counts.set(userId, n + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (counts.get(userId) ?? 1) - 1;
    if (left > 0) counts.set(userId, left);
    else counts.delete(userId);
  };
}

/** The user is still active and, when known, this session still counts (version, not signed out). */
async function stillValid(userId: string, session: { sv: number; sid: string } | null): Promise<boolean> {
  try {
    const db = getDb();
    const row = await db.user.findUnique({
      where: { id: userId },
      select: { status: true, sessionVersion: true },
    });
    if (row?.status !== "active") return false;
    if (!session) return true;
    if (row.sessionVersion !== session.sv) return false;
    const revoked = await db.revokedSession.findUnique({ where: { id: session.sid }, select: { id: true } });
    return !revoked;
  } catch {
    return false; // EventSource reconnects; the next connection is checked afresh
  }
}

export function eventStreamResponse(opts: {
  caller: Caller;
  signal: AbortSignal;
  /** Narrows what the access rule lets through (e.g. one VM); it cannot widen it. */
  accepts: (ownerId: string, vmName: string | null) => boolean;
  /** The first message's data (JSON); read after subscribing, so no event falls in between. */
  snapshot: () => Promise<unknown>;
  /** The session the stream was opened with: a password change (version) or sign-out ends it too. */
  session?: { sv: number; sid: string } | null;
}): Response {
  const release = takeSlot(opts.caller.id);
  const encoder = new TextEncoder();
  let closedEarly = false;
  let cleanup: () => void = () => {
    closedEarly = true;
    release();
  };
  const endOnAbort = () => cleanup();
  opts.signal.addEventListener("abort", endOnAbort);
  const offEnded = onSessionsEnded(opts.caller.id, () => cleanup());
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
      await ensureTaskPipeline();
      if (closedEarly || opts.signal.aborted) {
        release();
        offEnded();
        opts.signal.removeEventListener("abort", endOnAbort);
        try {
          controller.close();
        } catch {}
        return;
      }
      const off = getHub().subscribe({
        accepts: (ownerId, vmName) =>
          mayActOn(opts.caller, { ownerId }, "read") && opts.accepts(ownerId, vmName),
        send,
      });
      const heartbeat = setInterval(() => write(": hb\n\n"), HEARTBEAT_MS);
      const recheck = setInterval(async () => {
        if (!(await stillValid(opts.caller.id, opts.session ?? null))) cleanup();
      }, RECHECK_MS);
      cleanup = () => {
        if (closed) return;
        closed = true;
        release();
        offEnded();
        opts.signal.removeEventListener("abort", endOnAbort);
        off();
        clearInterval(heartbeat);
        clearInterval(recheck);
        try {
          controller.close();
        } catch {}
      };
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
