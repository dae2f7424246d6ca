/** A test console client: collects output (ACKing it), waits for text, types, resizes. */
import type { WebSocket } from "ws";
import { type ConsoleControl, decodeConsoleFrame, encodeConsoleFrame } from "../../protocol/console";
import { plainText } from "../boot-stage";

export class TestConsole {
  raw = "";
  controls: ConsoleControl[] = [];
  replayText: string | null = null;
  private processed = 0;
  /** A paused client does not acknowledge: it simulates a browser that fell behind. */
  paused = false;
  /** DATA bytes received and not acknowledged while paused. */
  owed = 0;
  private waiters = new Set<() => void>();

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data: Buffer) => {
      const frame = decodeConsoleFrame(new Uint8Array(data));
      if (frame.kind === "data") {
        this.raw += Buffer.from(frame.bytes).toString("latin1");
        this.processed += frame.bytes.length;
        if (this.paused) this.owed += frame.bytes.length;
        else this.ws.send(encodeConsoleFrame({ kind: "ack", bytes: frame.bytes.length }));
      } else if (frame.kind === "control") {
        this.controls.push(frame.message);
        if (frame.message.type === "replay-end") this.replayText = this.text;
      }
      for (const wake of this.waiters) wake();
    });
  }

  static async open(ws: WebSocket): Promise<TestConsole> {
    const c = new TestConsole(ws);
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    return c;
  }

  /** Opens the console and gets a root shell prompt (logging in when the guest asks). */
  static async shell(ws: WebSocket): Promise<TestConsole> {
    const c = await TestConsole.open(ws);
    await c.replayed();
    const mark = c.text.length;
    c.type("\r");
    const seen = await c.waitFor(/(login: $|# $)/m, 60_000, mark);
    if (seen[0].startsWith("login")) {
      const m2 = c.text.length;
      c.type("root\r");
      await c.waitFor(/# $/m, 30_000, m2);
    }
    return c;
  }

  get text(): string {
    return plainText(this.raw);
  }

  /** Waits until the text after `from` (a length of `text`) matches. */
  async waitFor(pattern: RegExp, timeoutMs = 60_000, from = 0): Promise<RegExpMatchArray> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const match = this.text.slice(from).match(pattern);
      if (match) return match;
      if (Date.now() > until)
        throw new Error(`console: no ${pattern} within ${timeoutMs} ms; tail:\n${this.text.slice(-600)}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          resolve();
        };
        this.waiters.add(wake);
        setTimeout(wake, 250);
      });
    }
  }

  resume(): void {
    this.paused = false;
    if (this.owed > 0) this.ws.send(encodeConsoleFrame({ kind: "ack", bytes: this.owed }));
    this.owed = 0;
  }

  /** Resolves once the server said `replay-end`. */
  async replayed(timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.replayText === null) {
      if (Date.now() > until) throw new Error("console: no replay-end");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  type(text: string): void {
    this.ws.send(encodeConsoleFrame({ kind: "data", bytes: new TextEncoder().encode(text) }));
  }

  resize(cols: number, rows: number): void {
    this.ws.send(encodeConsoleFrame({ kind: "resize", cols, rows }));
  }

  close(): void {
    this.ws.close();
  }
}
