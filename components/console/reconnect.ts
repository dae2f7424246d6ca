import { ConsoleCloseCode } from "../../server/protocol/console";

export type ConnectionState = "idle" | "connecting" | "replaying" | "live" | "reconnecting" | "closed";

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  /** Fraction of each delay that is randomised away, so clients do not reconnect in step. */
  jitter?: number;
  random?: () => number;
}

export type ReconnectStep = { type: "connect" } | { type: "wait"; ms: number } | { type: "none" };

/** Close codes after which retrying cannot help or must be the user's choice. */
const finalCodes = new Set<number>([
  ConsoleCloseCode.revoked,
  ConsoleCloseCode.idle,
  ConsoleCloseCode.policy,
  ConsoleCloseCode.unsupportedData,
  ConsoleCloseCode.tooBig,
]);

/**
 * After these the user cannot reconnect either: a new ticket would be refused (suspended, access
 * removed), so the page offers no "Reconnect now".
 */
const refusedCodes = new Set<number>([ConsoleCloseCode.revoked]);

/**
 * The console's connection state machine, pure: each event returns what to do next (connect now,
 * wait, nothing) and the caller performs it. Every connect attempt fetches a fresh single-use
 * ticket, so reconnecting after a network drop or a web-tier restart needs nothing else.
 */
export class ReconnectMachine {
  #state: ConnectionState = "idle";
  #attempt = 0;
  #reason: string | undefined;
  #canReconnect = true;
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #factor: number;
  readonly #jitter: number;
  readonly #random: () => number;

  constructor(options: BackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? 500;
    this.#maxMs = options.maxMs ?? 15_000;
    this.#factor = options.factor ?? 2;
    this.#jitter = options.jitter ?? 0.2;
    this.#random = options.random ?? Math.random;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** Failed attempts since the console was last live. */
  get attempt(): number {
    return this.#attempt;
  }

  /** False once access was revoked or a ticket refused: reconnecting cannot help. */
  get canReconnect(): boolean {
    return this.#canReconnect;
  }

  /** Why the console is closed or reconnecting, for the status line. */
  get reason(): string | undefined {
    return this.#reason;
  }

  /** The delay before retry number `attempt` (0-based): exponential, capped, jittered down. */
  delay(attempt: number): number {
    const base = Math.min(this.#maxMs, this.#initialMs * this.#factor ** attempt);
    return Math.round(base * (1 - this.#jitter * this.#random()));
  }

  start(): ReconnectStep {
    if (this.#state !== "idle") return { type: "none" };
    this.#state = "connecting";
    return { type: "connect" };
  }

  /** The socket opened: the server replays the console's history next. */
  opened(): void {
    if (this.#state === "connecting") this.#state = "replaying";
  }

  replayEnded(): void {
    if (this.#state !== "replaying") return;
    this.#state = "live";
    this.#attempt = 0;
    this.#reason = undefined;
  }

  /** The socket closed (or never opened). `reason` is the server's `closing` text, if any. */
  dropped(code: number, reason?: string): ReconnectStep {
    if (this.#state === "closed" || this.#state === "idle" || this.#state === "reconnecting")
      return { type: "none" };
    this.#reason = reason;
    if (finalCodes.has(code)) {
      this.#state = "closed";
      this.#canReconnect = !refusedCodes.has(code);
      return { type: "none" };
    }
    return this.#retryLater();
  }

  /** Fetching a ticket failed: `final` when the server refused (no access), else a network error. */
  ticketFailed(final: boolean, reason?: string): ReconnectStep {
    if (this.#state !== "connecting") return { type: "none" };
    this.#reason = reason;
    if (final) {
      this.#state = "closed";
      this.#canReconnect = false;
      return { type: "none" };
    }
    return this.#retryLater();
  }

  /** The backoff timer fired. */
  timerFired(): ReconnectStep {
    if (this.#state !== "reconnecting") return { type: "none" };
    this.#state = "connecting";
    return { type: "connect" };
  }

  /** The user asked to reconnect now (after a final close, or to skip the wait). */
  retryNow(): ReconnectStep {
    if (this.#state !== "reconnecting" && this.#state !== "closed") return { type: "none" };
    if (!this.#canReconnect) return { type: "none" };
    this.#state = "connecting";
    this.#attempt = 0;
    return { type: "connect" };
  }

  /** Starts over on a fresh socket, whatever the state (the VM booted anew); not after a refusal. */
  restart(): ReconnectStep {
    if (this.#state === "idle" || !this.#canReconnect) return { type: "none" };
    this.#state = "connecting";
    this.#attempt = 0;
    this.#reason = undefined;
    return { type: "connect" };
  }

  /** The page is going away. */
  stop(): void {
    this.#state = "closed";
    this.#reason = undefined;
  }

  #retryLater(): ReconnectStep {
    this.#state = "reconnecting";
    const ms = this.delay(this.#attempt);
    this.#attempt++;
    return { type: "wait", ms };
  }
}
