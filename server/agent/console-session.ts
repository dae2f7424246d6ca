/**
 * One attached console client: replays the current boot's log (bounded, terminal queries
 * stripped), sends `replay-end`, then follows the log live. Flow control: never more than
 * `flowHighWaterBytes` of DATA unacknowledged; a client more than `consoleSkipBytes` behind skips
 * ahead to the end and gets a fresh rendering of the screen instead (sooner right after a Ctrl-C).
 */
import type { FileHandle } from "node:fs/promises";
import { basename } from "node:path";
import { AGENT_LIMITS } from "../protocol/agent";
import { CONSOLE_LIMITS, type ConsoleControl, type ConsoleFrame } from "../protocol/console";
import { openRegularNoFollow } from "./safe-fs";
import { QueryStripper } from "./terminal-queries";
import { parseBootLogName } from "./vm-paths";

export interface LogSource {
  /** The current boot log (highest number), or null. */
  current(): Promise<{ n: number; file: string } | null>;
  /** Fresh rendering of the screen (ANSI), used after skipping. */
  screen(): Promise<Uint8Array>;
}

export interface SessionSink {
  send(frame: ConsoleFrame): void;
  /** Bytes queued in the socket, as a second safety net. */
  buffered(): number;
}

const CHUNK = 32 * 1024;
/** Largest screen rendering sent after a skip (counted in the window like any DATA). */
const SCREEN_MAX = 64 * 1024;
const U32 = 2 ** 32;
/**
 * After the client types Ctrl-C it wants the prompt, not the backlog of a flood: for this long, a
 * client more than INTERRUPT_SKIP_BYTES behind skips ahead at once (instead of consoleSkipBytes),
 * so the prompt shows as soon as it has drained its window (bench B3, issue 5).
 */
const INTERRUPT_SKIP_MS = 3_000;
const INTERRUPT_SKIP_BYTES = 16 * 1024;

export class ConsoleSession {
  private handle: FileHandle | null = null;
  private file: string | null = null;
  private offset = 0;
  private replayEnd = 0;
  private replaying = true;
  private sent = 0; // DATA payload bytes sent, mod 2^32
  private acked = 0; // DATA payload bytes acknowledged, mod 2^32
  private running: Promise<void> | null = null;
  private again = false;
  private closed = false;
  private stripper = new QueryStripper();
  private skipEagerlyUntil = 0;

  constructor(
    private source: LogSource,
    private sink: SessionSink,
    private limits = {
      replayBytes: AGENT_LIMITS.consoleReplayBytes,
      skipBytes: AGENT_LIMITS.consoleSkipBytes,
      highWater: CONSOLE_LIMITS.flowHighWaterBytes,
    },
  ) {}

  get inFlight(): number {
    return (this.sent - this.acked + U32) % U32;
  }

  async start(): Promise<void> {
    try {
      const current = await this.source.current();
      if (current) {
        await this.open(current.file);
        const size = (await this.handle?.stat())?.size ?? 0;
        this.offset = Math.max(0, size - this.limits.replayBytes);
        this.replayEnd = size;
      }
    } catch (error) {
      // e.g. ELOOP: the VM's user replaced its log with a symlink; it is never followed.
      this.control({
        type: "notice",
        text: `console log unreadable: ${(error as NodeJS.ErrnoException).code ?? "error"}`,
      });
      this.endReplay();
      return;
    }
    await this.pump();
  }

  /** The client processed `bytes` more DATA payload bytes since its previous ACK (a delta, clamped). */
  ack(bytes: number): void {
    this.acked = (this.acked + Math.min(bytes, this.inFlight)) % U32;
    void this.pump();
  }

  /** The client typed Ctrl-C: skip a backlog eagerly for a moment (see INTERRUPT_SKIP_MS). */
  interrupted(): void {
    this.skipEagerlyUntil = Date.now() + INTERRUPT_SKIP_MS;
    void this.pump();
  }

  /** Something changed in the console directory. */
  wake(): void {
    void this.pump();
  }

  private async open(file: string): Promise<void> {
    await this.handle?.close().catch(() => undefined);
    this.handle = await openRegularNoFollow(file);
    this.file = file;
    this.offset = 0;
  }

  private sendData(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.sent = (this.sent + bytes.length) % U32;
    this.sink.send({ kind: "data", bytes });
  }

  private control(message: ConsoleControl): void {
    this.sink.send({ kind: "control", message });
  }

  /** Sends what the client may have now; concurrent calls join the running pump (which loops again). */
  pump(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.pumpOnce();
        } while (this.again && !this.closed);
      } catch (error) {
        this.control({
          type: "notice",
          text: `console read failed: ${(error as Error).message}`.slice(0, 200),
        });
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  private async pumpOnce(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      if (!this.handle) {
        const current = await this.source.current();
        if (!current) return this.endReplay();
        await this.open(current.file);
      }
      const handle = this.handle as FileHandle;
      const { size } = await handle.stat();
      if (size < this.offset) this.offset = 0; // truncated (log cap): start again at its beginning
      if (this.inFlight >= this.limits.highWater || this.sink.buffered() > this.limits.highWater * 2) return;
      // Only once the client has room again: the skip and the fresh screen respect the window too.
      const skipBytes = Date.now() < this.skipEagerlyUntil ? INTERRUPT_SKIP_BYTES : this.limits.skipBytes;
      if (!this.replaying && size - this.offset > skipBytes) {
        if (this.limits.highWater - this.inFlight < Math.min(SCREEN_MAX, this.limits.highWater)) return;
        const skipped = size - this.offset;
        this.offset = size;
        this.stripper = new QueryStripper();
        this.control({ type: "skipped", bytes: skipped });
        this.sendData((await this.source.screen()).subarray(0, SCREEN_MAX));
        continue;
      }
      if (this.offset >= size) {
        if (this.replaying && this.offset >= this.replayEnd) this.endReplay();
        // At the end of this boot's log: follow a newer boot log if one exists.
        const current = await this.source.current();
        const mine = this.file ? parseBootLogName(basename(this.file)) : null;
        if (current && mine !== null && current.n > mine) {
          const { size: finalSize } = await handle.stat();
          if (finalSize > this.offset) continue;
          this.sendData(this.stripper.flush());
          await this.open(current.file);
          continue;
        }
        return;
      }
      // The stripper may prepend a held-back escape prefix (< 32 bytes): keep room for it.
      const room = this.limits.highWater - this.inFlight - 32;
      if (room <= 0) return;
      const length = Math.min(CHUNK, size - this.offset, room);
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, this.offset);
      if (bytesRead === 0) return;
      this.offset += bytesRead;
      this.sendData(this.stripper.push(buffer.subarray(0, bytesRead)));
      if (this.replaying && this.offset >= this.replayEnd) this.endReplay();
    }
  }

  private endReplay(): void {
    if (!this.replaying) return;
    this.replaying = false;
    this.sendData(this.stripper.flush());
    this.control({ type: "replay-end" });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.handle?.close().catch(() => undefined);
    this.handle = null;
  }
}
