import { CONSOLE_LIMITS } from "../../server/protocol/console";

/**
 * Client side of the console's ACK flow control, for one connection. Bytes count once xterm has
 * parsed them (the write callback), not when they arrive: a browser drains its socket into an
 * unbounded queue, so only processed bytes say the client keeps up. ACKs are deltas.
 */
export class AckCounter {
  readonly ackEveryBytes: number;
  #received = 0;
  #processed = 0;
  #unacked = 0;

  constructor(ackEveryBytes: number = CONSOLE_LIMITS.ackEveryBytes) {
    if (!(ackEveryBytes > 0 && ackEveryBytes <= CONSOLE_LIMITS.flowHighWaterBytes)) {
      throw new RangeError("ackEveryBytes must be within the server's window");
    }
    this.ackEveryBytes = ackEveryBytes;
  }

  /** A DATA frame of `bytes` arrived and was handed to the terminal. */
  received(bytes: number): void {
    this.#received += bytes;
  }

  /** The terminal finished parsing `bytes`; returns how many bytes to acknowledge now (0: none). */
  processed(bytes: number): number {
    this.#processed += bytes;
    this.#unacked += bytes;
    if (this.#unacked < this.ackEveryBytes) return 0;
    const ack = this.#unacked;
    this.#unacked = 0;
    return ack;
  }

  /** Bytes received but not yet parsed by the terminal. */
  get backlog(): number {
    return this.#received - this.#processed;
  }

  get totalReceived(): number {
    return this.#received;
  }
}
