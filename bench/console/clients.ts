/**
 * Console clients shared by the console benches (console-bench.ts, fairness-bench.ts): a client
 * that behaves as a browser does (drains its socket at once, parses at a given rate, ACKs only
 * what it parsed) and the browser protocol of /ws/console on top of it.
 */
import { WebSocket } from "ws";
import { consoleProtocols } from "../../components/console/console-connection";
import { AckCounter } from "../../components/console/flow-control";
import { decodeConsoleFrame, encodeConsoleFrame } from "../../server/protocol/console";

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;

/**
 * A console client as a browser is one: it drains its socket at once and queues; `bytesPerSecond`
 * simulates xterm parsing, and only parsed bytes are acknowledged (`ack`). The transport is the
 * subclass's.
 */
export abstract class QueueClient {
  #queue: Uint8Array[] = [];
  #queued = 0;
  #busy = false;
  #tail = "";
  #waiters: { markers: string[]; resolve: (marker: string) => void }[] = [];
  #last: Uint8Array = new Uint8Array(0);
  #onData: (() => void) | undefined;
  received = 0;
  maxQueue = 0;

  constructor(readonly bytesPerSecond = Number.POSITIVE_INFINITY) {}

  abstract opened(): Promise<void>;
  abstract send(text: string): void;
  abstract close(): void;
  /** Called with the count of bytes just parsed. */
  protected abstract ack(bytes: number): void;

  /** Resolves when the processed output contains `marker` (searched from now on). */
  async waitFor(marker: string, timeoutMs = 60_000): Promise<void> {
    await this.waitForAny([marker], timeoutMs);
  }

  /**
   * Resolves with the first of `markers` the processed output contains (searched from now on);
   * on a timeout the error quotes the end of what was processed, so a stuck console says where.
   */
  waitForAny(markers: string[], timeoutMs = 60_000): Promise<string> {
    this.#tail = "";
    return new Promise((resolve, reject) => {
      const waiter = {
        markers,
        resolve: (marker: string) => {
          clearTimeout(timer);
          resolve(marker);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(
          new Error(
            `timed out waiting for ${markers.map((m) => JSON.stringify(m)).join(" or ")}; ` +
              `the console showed last: ${JSON.stringify(this.recent.slice(-160))}`,
          ),
        );
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Resolves at the next output. */
  nextData(): Promise<void> {
    return new Promise((resolve) => {
      this.#onData = resolve;
    });
  }

  /** Waits until the shell answers (past any replayed history): output only, not the echo. */
  async ready(timeoutMs = 30_000): Promise<void> {
    const done = this.waitFor("__RDY2__", timeoutMs);
    this.send("echo __RDY$((1+1))__\r");
    await done;
  }

  protected output(bytes: Uint8Array): void {
    this.received += bytes.length;
    const onData = this.#onData;
    this.#onData = undefined;
    onData?.();
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    this.maxQueue = Math.max(this.maxQueue, this.#queued);
    this.#pump();
  }

  #pump(): void {
    if (this.#busy) return;
    const chunk = this.#queue.shift();
    if (!chunk) return;
    this.#busy = true;
    const done = () => {
      this.#busy = false;
      this.#queued -= chunk.length;
      this.#processed(chunk);
      this.#pump();
    };
    if (this.bytesPerSecond === Number.POSITIVE_INFINITY) done();
    else setTimeout(done, (chunk.length / this.bytesPerSecond) * 1000);
  }

  /** The end of the last processed chunk (for error messages). */
  get recent(): string {
    return Buffer.from(this.#last).toString("latin1");
  }

  #processed(chunk: Uint8Array): void {
    this.ack(chunk.length);
    this.#last = chunk.subarray(Math.max(0, chunk.length - 512));
    if (this.#waiters.length === 0) return;
    const text = this.#tail + Buffer.from(chunk).toString("latin1");
    for (const waiter of [...this.#waiters]) {
      const found = waiter.markers.find((m) => text.includes(m));
      if (found !== undefined) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(found);
      }
    }
    this.#tail = text.slice(-64);
  }
}

/** The browser protocol of /ws/console. */
export class ZaphodClient extends QueueClient {
  readonly ws: WebSocket;
  readonly #flow = new AckCounter();

  constructor(ticket: { url: string; token: string }, origin: string, bytesPerSecond?: number) {
    super(bytesPerSecond);
    this.ws = new WebSocket(ticket.url, consoleProtocols(ticket.token), { origin });
    this.ws.on("message", (data) => {
      const frame = decodeConsoleFrame(new Uint8Array(data as Buffer));
      if (frame.kind === "data") this.output(frame.bytes);
    });
  }

  async opened(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
      this.ws.once("unexpected-response", (_req, res) => reject(new Error(`refused: ${res.statusCode}`)));
    });
  }

  send(text: string): void {
    this.ws.send(encodeConsoleFrame({ kind: "data", bytes: new TextEncoder().encode(text) }));
  }

  close(): void {
    this.ws.terminate();
  }

  protected ack(bytes: number): void {
    const ack = this.#flow.processed(bytes);
    if (ack > 0 && this.ws.readyState === WebSocket.OPEN)
      this.ws.send(encodeConsoleFrame({ kind: "ack", bytes: ack }));
  }
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * B1's echo: alternating `a` and DEL, one at a time, 3 ms apart; send → first output byte, after
 * `warmup` keys. Stops early at `deadline` (performance.now() time): fewer samples, never a hang.
 */
export async function echoLatencies(
  client: QueueClient,
  keys: number,
  options: { warmup?: number; deadline?: number } = {},
): Promise<number[]> {
  const warmup = options.warmup ?? 50;
  const deadline = options.deadline ?? Number.POSITIVE_INFINITY;
  const latencies: number[] = [];
  for (let i = 0; i < keys + warmup && performance.now() < deadline; i++) {
    const next = client.nextData();
    const t0 = performance.now();
    client.send(i % 2 === 0 ? "a" : "\x7f");
    await Promise.race([next, sleep(5_000)]);
    if (i >= warmup) latencies.push(performance.now() - t0);
    await sleep(3);
  }
  return latencies.sort((a, b) => a - b);
}

/**
 * Brings a busybox VM's console to a root shell with `prompt` as PS1, from wherever it is: getty's
 * `login:` (root has no password in the bench image) or a shell. Each try presses Enter and waits
 * for a prompt, so keys typed while the guest was still booting (and flushed by getty) do not
 * leave it waiting; bounded (the replay, 20 tries of 5 s, then the shell's own answer).
 */
export async function toBenchShell(client: QueueClient, prompt: string): Promise<void> {
  // Past the replay of the boot log first (its text may contain a "# " of its own).
  for (const until = performance.now() + 10_000; performance.now() < until; ) {
    const more = await Promise.race([client.nextData().then(() => true), sleep(300).then(() => false)]);
    if (!more) break;
  }
  for (let attempt = 0; attempt < 20; attempt++) {
    const seen = client.waitForAny(["login: ", "# ", prompt], 5_000).catch(() => null);
    client.send("\r");
    const got = await seen;
    if (got === "login: ") {
      const shell = client.waitFor("# ", 20_000);
      client.send("root\r");
      await shell;
    }
    if (got) break;
  }
  client.send(`export PS1='${prompt}'; stty -echoctl 2>/dev/null; clear\r`);
  await client.ready();
}
