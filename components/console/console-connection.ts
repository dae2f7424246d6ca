import {
  CONSOLE_LIMITS,
  CONSOLE_SUBPROTOCOL,
  CONSOLE_TICKET_PREFIX,
  type ConsoleControl,
  decodeConsoleFrame,
  encodeConsoleFrame,
} from "../../server/protocol/console";
import { AckCounter } from "./flow-control";
import { type BackoffOptions, type ConnectionState, ReconnectMachine, type ReconnectStep } from "./reconnect";
import { TicketRefusedError } from "./ticket-refused-error";

/** Where output goes: the xterm.js terminal in the browser, a recorder in tests. */
export interface TerminalSink {
  /** Clears screen and scrollback before a replay, so a reconnect does not duplicate history. */
  reset(): void;
  /** Parses `bytes`; calls `done` once they are processed (xterm's write callback). */
  write(bytes: Uint8Array, done: () => void): void;
  size(): { cols: number; rows: number };
}

/** The subset of the browser's WebSocket used here (ws's client implements it too). */
export interface BrowserSocket {
  binaryType: string;
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** Bytes queued in the socket (the browser's WebSocket and ws have it). */
  readonly bufferedAmount?: number;
}

/**
 * Keyboard input the page lets queue in its socket: beyond it, input is dropped with a notice
 * rather than held (the agent holds at most `maxQueuedInputBytes` per VM and drops the rest too).
 * Ctrl-C always goes.
 */
export const MAX_BUFFERED_INPUT_BYTES = 4 * CONSOLE_LIMITS.maxQueuedInputBytes;

/** Where to connect and the single-use ticket to present there. */
export interface ConsoleTicket {
  url: string;
  token: string;
}

/** The subprotocols a console socket offers: the ticket travels here, not in the URL. */
export function consoleProtocols(token: string): string[] {
  return [CONSOLE_SUBPROTOCOL, `${CONSOLE_TICKET_PREFIX}${token}`];
}

export type Viewer = Extract<ConsoleControl, { type: "viewers" }>["viewers"][number];

export interface ConnectionStatus {
  state: ConnectionState;
  attempt: number;
  /** When reconnecting: the wait before the next attempt. */
  retryInMs?: number;
  reason?: string;
  /** False after a revocation or a refused ticket: the page offers no "Reconnect now". */
  canReconnect: boolean;
}

export interface ConsoleConnectionOptions {
  /**
   * Asks the server (an authorized action) for a fresh single-use ticket for this console, and
   * the socket's URL (`wss://host/ws/console?vm=<name>`, no secret in it).
   */
  getTicket: () => Promise<ConsoleTicket>;
  sink: TerminalSink;
  /** Opens the socket; `protocols` carries the ticket (`Sec-WebSocket-Protocol`). */
  createSocket?: (url: string, protocols: string[]) => BrowserSocket;
  backoff?: BackoffOptions;
  ackEveryBytes?: number;
  onStatus?: (status: ConnectionStatus) => void;
  onViewers?: (viewers: Viewer[]) => void;
  onNotice?: (text: string) => void;
}

const OPEN = 1;

/**
 * The console's socket side, without any DOM: ticket → socket → replay → live, ACK flow control,
 * and reconnecting with backoff. Output is written as it arrives; no timer sits on that path.
 */
export class ConsoleConnection {
  readonly #options: ConsoleConnectionOptions;
  readonly #machine: ReconnectMachine;
  readonly #createSocket: (url: string, protocols: string[]) => BrowserSocket;
  #socket: BrowserSocket | undefined;
  /** Bumped per attempt, so late events of an old socket or ticket request are ignored. */
  #generation = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #retryInMs: number | undefined;

  constructor(options: ConsoleConnectionOptions) {
    this.#options = options;
    this.#machine = new ReconnectMachine(options.backoff);
    this.#createSocket =
      options.createSocket ?? ((url, protocols) => new WebSocket(url, protocols) as unknown as BrowserSocket);
  }

  get state(): ConnectionState {
    return this.#machine.state;
  }

  start(): void {
    this.#perform(this.#machine.start());
  }

  /** Reconnects now: after a final close (idle, revoked) or to skip a backoff wait. */
  reconnectNow(): void {
    this.#perform(this.#machine.retryNow());
  }

  /** Drops the socket and connects again at once (the VM booted anew: replay its new boot). */
  restart(): void {
    const step = this.#machine.restart();
    if (step.type === "none") return;
    this.#generation++;
    clearTimeout(this.#timer);
    this.#socket?.close(1000, "restarting");
    this.#socket = undefined;
    this.#perform(step);
  }

  stop(): void {
    this.#machine.stop();
    this.#generation++;
    clearTimeout(this.#timer);
    this.#socket?.close(1000, "closed by user");
    this.#socket = undefined;
    this.#emitStatus();
  }

  /** Keyboard input or paste, split into frames the server accepts. */
  sendInput(data: string | Uint8Array): void {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const buffered = this.#socket?.bufferedAmount ?? 0;
    if (buffered + bytes.length > MAX_BUFFERED_INPUT_BYTES && !bytes.includes(0x03)) {
      this.#options.onNotice?.(
        `Input dropped (${bytes.length} bytes): the VM does not read that fast. Paste less at a time.`,
      );
      return;
    }
    for (let at = 0; at < bytes.length; at += CONSOLE_LIMITS.maxInputBytes) {
      this.#send(
        encodeConsoleFrame({ kind: "data", bytes: bytes.subarray(at, at + CONSOLE_LIMITS.maxInputBytes) }),
      );
    }
  }

  sendResize(cols: number, rows: number): void {
    const c = Math.min(Math.max(1, Math.floor(cols)), CONSOLE_LIMITS.maxCols);
    const r = Math.min(Math.max(1, Math.floor(rows)), CONSOLE_LIMITS.maxRows);
    this.#send(encodeConsoleFrame({ kind: "resize", cols: c, rows: r }));
  }

  sendCtrlAltDel(): void {
    this.#send(encodeConsoleFrame({ kind: "control", message: { type: "ctrl-alt-del" } }));
  }

  #send(frame: Uint8Array): boolean {
    if (this.#socket?.readyState !== OPEN) return false;
    this.#socket.send(frame);
    return true;
  }

  #perform(step: ReconnectStep): void {
    this.#retryInMs = undefined;
    if (step.type === "connect") void this.#connect();
    else if (step.type === "wait") {
      this.#retryInMs = step.ms;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.#perform(this.#machine.timerFired()), step.ms);
    }
    this.#emitStatus();
  }

  async #connect(): Promise<void> {
    const generation = ++this.#generation;
    let ticket: ConsoleTicket;
    try {
      ticket = await this.#options.getTicket();
    } catch (error) {
      if (generation !== this.#generation) return;
      const final = error instanceof TicketRefusedError;
      this.#perform(this.#machine.ticketFailed(final, final ? error.message : "Cannot reach the server."));
      return;
    }
    if (generation !== this.#generation || this.#machine.state !== "connecting") return;

    const socket = this.#createSocket(ticket.url, consoleProtocols(ticket.token));
    socket.binaryType = "arraybuffer";
    this.#socket = socket;
    const flow = new AckCounter(this.#options.ackEveryBytes);
    const sink = this.#options.sink;
    let closingReason: string | undefined;
    const current = () => generation === this.#generation;

    socket.onopen = () => {
      if (!current()) return;
      this.#machine.opened();
      sink.reset();
      const { cols, rows } = sink.size();
      this.sendResize(cols, rows);
      this.#emitStatus();
    };
    socket.onmessage = (event) => {
      if (!current() || !(event.data instanceof ArrayBuffer)) return;
      let frame: ReturnType<typeof decodeConsoleFrame>;
      try {
        frame = decodeConsoleFrame(new Uint8Array(event.data));
      } catch {
        return;
      }
      if (frame.kind === "data") {
        const length = frame.bytes.length;
        flow.received(length);
        sink.write(frame.bytes, () => {
          const ack = flow.processed(length);
          if (ack > 0 && current() && socket.readyState === OPEN)
            socket.send(encodeConsoleFrame({ kind: "ack", bytes: ack }));
        });
      } else if (frame.kind === "control") {
        const message = frame.message;
        if (message.type === "replay-end") {
          this.#machine.replayEnded();
          this.#emitStatus();
        } else if (message.type === "viewers") this.#options.onViewers?.(message.viewers);
        else if (message.type === "notice") this.#options.onNotice?.(message.text);
        else if (message.type === "skipped")
          this.#options.onNotice?.(`Skipped ${message.bytes} bytes of output to catch up.`);
        else if (message.type === "closing") closingReason = message.reason;
      }
    };
    socket.onerror = () => {};
    socket.onclose = (event) => {
      if (!current()) return;
      this.#socket = undefined;
      this.#options.onViewers?.([]);
      this.#perform(this.#machine.dropped(event.code, closingReason ?? "Connection lost."));
    };
  }

  #emitStatus(): void {
    this.#options.onStatus?.({
      state: this.#machine.state,
      attempt: this.#machine.attempt,
      retryInMs: this.#retryInMs,
      reason: this.#machine.reason,
      canReconnect: this.#machine.canReconnect,
    });
  }
}
