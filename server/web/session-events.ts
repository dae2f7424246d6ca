/**
 * "This user's sessions have ended" (suspended, rejected): said once by the DAL, heard by whatever
 * holds something open for that user in this process (the event streams, server/web/vms/sse.ts;
 * the console hub, ./console/console-hub-instance.ts), so they close at once rather than at their
 * next re-check. The arrow points down: the DAL knows nothing of streams or consoles. Kept on
 * globalThis: the custom server and Next's bundle load separate copies of this module in one
 * process. Said on one web instance, it is heard on all of them (../bus.ts): a member suspended
 * through one loses the consoles they hold on another.
 */
import { EventEmitter } from "node:events";
import { getBus } from "./bus";

const key = Symbol.for("zaphod.sessionEvents");
type WithEmitter = typeof globalThis & { [key]?: EventEmitter };

function emitter(): EventEmitter {
  const scope = globalThis as WithEmitter;
  if (!scope[key]) {
    scope[key] = new EventEmitter();
    scope[key].setMaxListeners(0); // one per open stream
    const local = scope[key];
    getBus().on((m) => m.t === "ended" && local.emit("ended", m.userId));
  }
  return scope[key];
}

export function announceSessionsEnded(userId: string): void {
  emitter().emit("ended", userId);
  getBus().publish({ t: "ended", userId });
}

/** Calls `listener` when `userId`'s sessions end. Returns an unsubscribe. */
export function onSessionsEnded(userId: string, listener: () => void): () => void {
  const l = (id: string) => id === userId && listener();
  emitter().on("ended", l);
  return () => emitter().off("ended", l);
}

/** Calls `listener` with the user's id whenever any user's sessions end. Returns an unsubscribe. */
export function onAnySessionsEnded(listener: (userId: string) => void): () => void {
  emitter().on("ended", listener);
  return () => emitter().off("ended", listener);
}
