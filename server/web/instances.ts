/**
 * This process as one of several that follow tasks: its id, its heartbeat, its schedules' leases.
 *
 *   setInstance("web", webInstanceId(port));   // the web server, before its pipeline starts
 *   startHeartbeat();                          // every 3 s; a stale heartbeat (10 s) lets others adopt
 *   await holdsLease("housekeeping", 5 * 60_000)
 *
 * A web instance's id is `web@<host>:<port>` (or ZAPHOD_INSTANCE_ID): a web process restarted on
 * the same port is the same instance, so it takes its own tasks back at once instead of waiting for
 * its old heartbeat to go stale. Any other process (the host CLI, tests) is `cli@<host>:<pid>`.
 * Kept on globalThis: the custom server and Next's bundle load separate copies of this module.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { unsafeAcquireLease, unsafeBeat, unsafeReleaseLease, unsafeRemoveInstance } from "./dal/instances";

export const HEARTBEAT_MS = 3_000;
/** A follower whose heartbeat is older than this is gone: its tasks are adopted. */
export const INSTANCE_TTL_MS = 10_000;

type State = {
  id: string;
  kind: "web" | "cli";
  timer: NodeJS.Timeout | null;
  leases: Set<string>;
  onBeat: Set<() => void>;
};

const key = Symbol.for("zaphod.instance");
type WithInstance = typeof globalThis & { [key]?: State };

function state(): State {
  const scope = globalThis as WithInstance;
  scope[key] ??= {
    id: `cli@${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`,
    kind: "cli",
    timer: null,
    leases: new Set(),
    onBeat: new Set(),
  };
  return scope[key];
}

export function webInstanceId(port: number): string {
  return process.env.ZAPHOD_INSTANCE_ID?.trim() || `web@${hostname()}:${port}`;
}

/** Names this process (before anything follows a task). */
export function setInstance(kind: "web" | "cli", id: string): void {
  const s = state();
  s.kind = kind;
  s.id = id;
}

export function instanceId(): string {
  return state().id;
}

export function isWebInstance(): boolean {
  return state().kind === "web";
}

/** Starts the heartbeat (idempotent); `onBeat` listeners run after each beat (adoption scans). */
export function startHeartbeat(): void {
  const s = state();
  if (s.timer) return;
  let beating = false;
  const beat = async () => {
    if (beating) return;
    beating = true;
    try {
      await unsafeBeat(s.id, s.kind);
      for (const listener of s.onBeat) listener();
    } catch (e) {
      console.warn(`[web] heartbeat of ${s.id} failed (next one retries):`, (e as Error).message);
    } finally {
      beating = false;
    }
  };
  void beat();
  s.timer = setInterval(beat, HEARTBEAT_MS);
  s.timer.unref();
}

export function onHeartbeat(listener: () => void): () => void {
  state().onBeat.add(listener);
  return () => state().onBeat.delete(listener);
}

/** Holds (takes or renews) a schedule's lease: true when this instance is the one to run it. */
export async function holdsLease(name: string, ttlMs: number): Promise<boolean> {
  const s = state();
  const held = await unsafeAcquireLease(name, s.id, ttlMs);
  if (held) s.leases.add(name);
  else s.leases.delete(name);
  return held;
}

/** A graceful stop: heartbeat row and leases go, so the other instances take over at once. */
export async function leaveInstances(): Promise<void> {
  const s = state();
  if (!s.timer && s.leases.size === 0) return; // never beat: no row to remove
  if (s.timer) clearInterval(s.timer);
  s.timer = null;
  await Promise.allSettled([...s.leases].map((name) => unsafeReleaseLease(name, s.id)));
  await unsafeRemoveInstance(s.id).catch(() => undefined);
}
