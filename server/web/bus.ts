/**
 * What one web instance tells the others, through PostgreSQL's LISTEN/NOTIFY (no other server):
 *
 *   getBus().start();                                  // at web start: listen (PostgreSQL only)
 *   getBus().publish({ t: "vm", name });               // to the OTHER instances; the caller acts locally
 *   const off = getBus().on((m) => …);                 // messages from others, and { t: "resync", since }
 *
 * Messages carry ids only (far under NOTIFY's 8000-byte payload limit; a larger one is a bug and
 * throws); a receiver re-reads what the id names. `resync` is local: the listening connection
 * dropped and came back, so whatever was said meanwhile is lost — receivers re-read what they show.
 * On SQLite there is one instance: publish does nothing, nothing arrives.
 *
 * The listening connection is a plain `pg` client of its own (a pooled connection cannot hold a
 * LISTEN); NOTIFY goes through the process's Prisma client, so a publish works while the listener
 * reconnects. Kept on globalThis: the custom server and Next's bundle load separate copies.
 */
import { EventEmitter } from "node:events";
import pg from "pg";
import { getDb } from "./db/client";
import { getEnv } from "./env";
import { instanceId } from "./instances";

export type BusMessage =
  /** A VM's row changed (owner, settings) or it was created or destroyed: forget caches, re-read. */
  | { t: "vm"; name: string }
  /** A task row changed (progress, log, end): re-read its view and push it to browsers. */
  | { t: "task"; id: string; ownerId: string }
  /** A user's sessions ended (suspended, rejected): close their streams and consoles. */
  | { t: "ended"; userId: string }
  /** Who watches a VM's console changed on the sender: re-read the VM's presence rows. */
  | { t: "presence"; vmId: string }
  /** An admin opened a member's console on the sender: the member's viewers here are told. */
  | { t: "admin-opened"; vmId: string; userId: string };

/** `since`: when the listening connection dropped. */
export type BusEvent = BusMessage | { t: "resync"; since: Date };

export const BUS_CHANNEL = "zaphod_events";
/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
export const MAX_PAYLOAD_BYTES = 7_999;
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 10_000;

export interface Bus {
  /** True when other instances can hear this one (PostgreSQL); false on SQLite's one instance. */
  readonly shared: boolean;
  start(): void;
  publish(message: BusMessage): void;
  on(listener: (event: BusEvent) => void): () => void;
  /** True while the listening connection is up (always true on SQLite). */
  listening(): boolean;
  /** Resolves once every published message has gone out (a CLI run before it exits). */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

export function encodeMessage(message: BusMessage, from: string): string {
  const payload = JSON.stringify({ ...message, i: from });
  if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES)
    throw new Error(`bus message of ${Buffer.byteLength(payload)} bytes: messages carry ids only`);
  return payload;
}

/** The message of a NOTIFY payload, or null for one from `self` or one this code does not know. */
export function decodeMessage(payload: string | undefined, self: string): BusMessage | null {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(payload ?? "");
  } catch {
    return null;
  }
  if (!m || typeof m !== "object" || m.i === self) return null;
  const str = (v: unknown) => typeof v === "string" && v.length > 0 && v.length < 200;
  if (m.t === "vm" && str(m.name)) return { t: "vm", name: m.name as string };
  if (m.t === "task" && str(m.id) && str(m.ownerId))
    return { t: "task", id: m.id as string, ownerId: m.ownerId as string };
  if (m.t === "ended" && str(m.userId)) return { t: "ended", userId: m.userId as string };
  if (m.t === "presence" && str(m.vmId)) return { t: "presence", vmId: m.vmId as string };
  if (m.t === "admin-opened" && str(m.vmId) && str(m.userId))
    return { t: "admin-opened", vmId: m.vmId as string, userId: m.userId as string };
  return null;
}

class SingleInstanceBus implements Bus {
  readonly shared = false;
  start() {}
  publish(message: BusMessage) {
    encodeMessage(message, instanceId()); // the same limit everywhere
  }
  on() {
    return () => {};
  }
  listening() {
    return true;
  }
  async flush() {}
  async stop() {}
}

export class PgBus implements Bus {
  readonly shared = true;
  readonly #events = new EventEmitter();
  #client: pg.Client | null = null;
  #up = false;
  #started = false;
  #stopped = false;
  #delay = RECONNECT_MIN_MS;
  #downSince: Date | null = null;
  #retry: NodeJS.Timeout | null = null;
  readonly #pending = new Set<Promise<unknown>>();

  constructor(
    private readonly connectionString: string,
    private readonly self: () => string = instanceId,
    private readonly notify: (payload: string) => Promise<unknown> = (payload) =>
      getDb().$executeRaw`SELECT pg_notify(${BUS_CHANNEL}, ${payload})`,
  ) {
    this.#events.setMaxListeners(0);
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#connect();
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    const client = new pg.Client({
      connectionString: this.connectionString,
      keepAlive: true,
      application_name: `zaphod-bus ${this.self()}`.slice(0, 63),
    });
    this.#client = client;
    let dropped = false;
    const drop = (why: string) => {
      if (dropped) return;
      dropped = true;
      this.#up = false;
      this.#downSince ??= new Date();
      client.removeAllListeners("notification");
      client.end().catch(() => undefined);
      if (this.#stopped) return;
      console.warn(`[web] event bus: listening connection lost (${why}); reconnecting`);
      this.#retry = setTimeout(() => void this.#connect(), this.#delay);
      this.#retry.unref();
      this.#delay = Math.min(this.#delay * 2, RECONNECT_MAX_MS);
    };
    client.on("error", (e) => drop(e.message));
    client.on("end", () => drop("closed"));
    client.on("notification", (n) => {
      if (n.channel !== BUS_CHANNEL) return;
      const message = decodeMessage(n.payload, this.self());
      if (message) this.#emit(message);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${BUS_CHANNEL}`);
    } catch (e) {
      drop((e as Error).message);
      return;
    }
    if (dropped || this.#stopped) return;
    this.#up = true;
    this.#delay = RECONNECT_MIN_MS;
    // Whatever was said while nobody listened is lost: receivers re-read what they show.
    const since = this.#downSince;
    this.#downSince = null;
    if (since) this.#emit({ t: "resync", since });
  }

  #emit(event: BusEvent): void {
    for (const listener of this.#events.listeners("event")) {
      try {
        (listener as (e: BusEvent) => void)(event);
      } catch (e) {
        console.error("[web] event bus listener failed:", e);
      }
    }
  }

  publish(message: BusMessage): void {
    const payload = encodeMessage(message, this.self());
    const sent = this.notify(payload)
      .catch((e) =>
        console.warn(
          `[web] event bus: could not notify the other instances (${message.t}):`,
          (e as Error).message,
        ),
      )
      .finally(() => this.#pending.delete(sent));
    this.#pending.add(sent);
  }

  async flush(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
  }

  on(listener: (event: BusEvent) => void): () => void {
    this.#events.on("event", listener);
    return () => this.#events.off("event", listener);
  }

  listening(): boolean {
    return this.#up;
  }

  async stop(): Promise<void> {
    await this.flush();
    this.#stopped = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#up = false;
    await this.#client?.end().catch(() => undefined);
  }
}

const key = Symbol.for("zaphod.bus");
type WithBus = typeof globalThis & { [key]?: Bus };

export function getBus(): Bus {
  const scope = globalThis as WithBus;
  if (!scope[key]) {
    const url = getEnv().databaseUrl;
    scope[key] = url.startsWith("file:") ? new SingleInstanceBus() : new PgBus(url);
  }
  return scope[key];
}

/** The bus if this process made one (nothing to flush otherwise). */
export function peekBus(): Bus | undefined {
  return (globalThis as WithBus)[key];
}

/** Tests swap in a bus (or reset with undefined). */
export function setBusForTests(bus: Bus | undefined): void {
  (globalThis as WithBus)[key] = bus;
}
