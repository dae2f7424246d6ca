/**
 * Console wire format, used on both hops: browser ⇄ web (`/ws/console`) and web ⇄ agent
 * (`/v1/vms/:name/console`). Every WebSocket message is binary; its first byte says what it is.
 * Data frames carry bytes only; resize, flow control and everything else are separate typed
 * frames, so no byte the guest prints can ever be mistaken for a control message.
 *
 *   0x00 DATA     both ways   payload = raw terminal bytes (client → server: keyboard input)
 *   0x01 RESIZE   to server   payload = uint16 BE cols, uint16 BE rows (1..MAX_COLS / 1..MAX_ROWS)
 *   0x02 ACK      to server   payload = uint32 BE count of DATA payload bytes the client has processed
 *                             since its previous ACK (a delta, so it never wraps)
 *   0x03 CONTROL  both ways   payload = UTF-8 JSON, one of the ConsoleControl messages below
 */
import { z } from "zod";

export const ConsoleFrameKind = { data: 0x00, resize: 0x01, ack: 0x02, control: 0x03 } as const;

export const CONSOLE_LIMITS = {
  /** Largest WebSocket message either side accepts (ws `maxPayload`). */
  maxFrameBytes: 64 * 1024,
  /** Largest keyboard/paste DATA frame a client may send. */
  maxInputBytes: 16 * 1024,
  maxControlBytes: 4 * 1024,
  maxCols: 500,
  maxRows: 200,
  /** Output the server may have in flight without an ACK before it stops sending. */
  flowHighWaterBytes: 64 * 1024,
  /** Clients acknowledge at least every this many processed bytes. */
  ackEveryBytes: 16 * 1024,
  /**
   * Keyboard input the agent holds per VM console (waiting, or given to tmux and not yet taken);
   * a DATA frame that does not fit is dropped and its sender gets a `notice` saying so.
   */
  maxQueuedInputBytes: 64 * 1024,
  /** Of that, input given to tmux before tmux has answered the commands carrying it. */
  maxInputInFlightBytes: 16 * 1024,
} as const;

/**
 * Browser hop only: the single-use ticket travels in `Sec-WebSocket-Protocol`, never in the URL
 * (URLs end up in access logs, proxies and browser history). The browser offers
 * `[CONSOLE_SUBPROTOCOL, CONSOLE_TICKET_PREFIX + token]`; the server checks the ticket before the
 * upgrade and answers with `CONSOLE_SUBPROTOCOL` alone, so the token is never echoed back.
 */
export const CONSOLE_SUBPROTOCOL = "zaphod.console";
export const CONSOLE_TICKET_PREFIX = "ticket.";

/** The ticket among the offered subprotocols, when `CONSOLE_SUBPROTOCOL` is offered too. */
export function ticketFromProtocols(header: string | undefined): string | null {
  if (!header || header.length > 512) return null;
  const offered = header.split(",").map((p) => p.trim());
  if (!offered.includes(CONSOLE_SUBPROTOCOL)) return null;
  const tickets = offered.filter((p) => p.startsWith(CONSOLE_TICKET_PREFIX));
  if (tickets.length !== 1) return null;
  return tickets[0]!.slice(CONSOLE_TICKET_PREFIX.length) || null;
}

/**
 * WebSocket close codes with a meaning for the client's reconnect logic. 1003 (malformed frame),
 * 1008 (policy) and 1009 (too big) are the standard ones; the 4xxx codes tell a client not to
 * reconnect on its own.
 */
export const ConsoleCloseCode = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  policy: 1008,
  tooBig: 1009,
  /** The server side of the console failed (agent unreachable, VM gone); retrying may help. */
  unavailable: 1011,
  /** Access was revoked (user suspended, permission removed): do not reconnect. */
  revoked: 4001,
  /** Closed after a long time without input: reconnect only when the user asks. */
  idle: 4002,
} as const;

const viewer = z.object({ user: z.string().max(64), role: z.enum(["admin", "member"]), since: z.string() });

/** JSON control messages (kind 0x03). */
export const ConsoleControl = z.discriminatedUnion("type", [
  // server → client
  z.object({ type: z.literal("hello"), vm: z.string(), bootId: z.string().optional() }),
  z.object({ type: z.literal("replay-end") }),
  z.object({ type: z.literal("viewers"), viewers: z.array(viewer).max(64) }),
  z.object({ type: z.literal("skipped"), bytes: z.number().int().nonnegative() }),
  z.object({ type: z.literal("notice"), text: z.string().max(500) }),
  z.object({ type: z.literal("closing"), reason: z.string().max(200) }),
  // client → server
  z.object({ type: z.literal("ctrl-alt-del") }),
  z.object({ type: z.literal("ping"), t: z.number() }),
  z.object({ type: z.literal("pong"), t: z.number() }),
]);
export type ConsoleControl = z.infer<typeof ConsoleControl>;

export type ConsoleFrame =
  | { kind: "data"; bytes: Uint8Array }
  | { kind: "resize"; cols: number; rows: number }
  | { kind: "ack"; bytes: number }
  | { kind: "control"; message: ConsoleControl };

export class ConsoleFrameError extends Error {
  override name = "ConsoleFrameError";
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function encodeConsoleFrame(frame: ConsoleFrame): Uint8Array {
  switch (frame.kind) {
    case "data": {
      const out = new Uint8Array(1 + frame.bytes.length);
      out[0] = ConsoleFrameKind.data;
      out.set(frame.bytes, 1);
      return out;
    }
    case "resize": {
      const out = new Uint8Array(5);
      const view = new DataView(out.buffer);
      out[0] = ConsoleFrameKind.resize;
      view.setUint16(1, frame.cols);
      view.setUint16(3, frame.rows);
      return out;
    }
    case "ack": {
      const out = new Uint8Array(5);
      out[0] = ConsoleFrameKind.ack;
      new DataView(out.buffer).setUint32(1, frame.bytes);
      return out;
    }
    case "control": {
      const json = encoder.encode(JSON.stringify(frame.message));
      const out = new Uint8Array(1 + json.length);
      out[0] = ConsoleFrameKind.control;
      out.set(json, 1);
      return out;
    }
  }
}

/** Decodes and validates one frame; throws ConsoleFrameError on anything malformed. */
export function decodeConsoleFrame(message: Uint8Array): ConsoleFrame {
  if (message.length === 0) throw new ConsoleFrameError("empty frame");
  if (message.length > CONSOLE_LIMITS.maxFrameBytes) throw new ConsoleFrameError("frame too large");
  const payload = message.subarray(1);
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  switch (message[0]) {
    case ConsoleFrameKind.data:
      return { kind: "data", bytes: payload };
    case ConsoleFrameKind.resize: {
      if (message.length !== 5) throw new ConsoleFrameError("resize frame must be 5 bytes");
      const cols = view.getUint16(1);
      const rows = view.getUint16(3);
      if (cols < 1 || cols > CONSOLE_LIMITS.maxCols || rows < 1 || rows > CONSOLE_LIMITS.maxRows) {
        throw new ConsoleFrameError(`resize out of range: ${cols}x${rows}`);
      }
      return { kind: "resize", cols, rows };
    }
    case ConsoleFrameKind.ack: {
      if (message.length !== 5) throw new ConsoleFrameError("ack frame must be 5 bytes");
      return { kind: "ack", bytes: view.getUint32(1) };
    }
    case ConsoleFrameKind.control: {
      if (payload.length > CONSOLE_LIMITS.maxControlBytes)
        throw new ConsoleFrameError("control frame too large");
      let parsed: unknown;
      try {
        parsed = JSON.parse(decoder.decode(payload));
      } catch {
        throw new ConsoleFrameError("control frame is not UTF-8 JSON");
      }
      const result = ConsoleControl.safeParse(parsed);
      if (!result.success) throw new ConsoleFrameError("unknown control message");
      return { kind: "control", message: result.data };
    }
    default:
      throw new ConsoleFrameError(`unknown frame kind ${message[0]}`);
  }
}

/** Terminal queries that must not be replayed: a live terminal would answer them into the shell. */
const TERMINAL_QUERIES =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching escape sequences is the point
  /\x1b\[[0-9;?>]*[cn]|\x1b\[>[0-9;]*q|\x1b\][0-9]+;\?(?:\x07|\x1b\\)|\x1bP\$q[^\x1b]*\x1b\\/g;

/** Removes device-status/attribute/colour queries (e.g. `ESC[6n`) from replayed scrollback. */
export function stripTerminalQueries(text: string): string {
  return text.replace(TERMINAL_QUERIES, "");
}
