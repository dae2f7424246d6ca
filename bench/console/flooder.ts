/**
 * Member A of the fairness bench (fairness-bench.ts), in its own process so that its traffic does
 * not share an event loop with member B's measurements: one console of A's VM through the panel
 * (browser protocol, ACKing output as fast as it arrives), `yes` in the VM for the output flood,
 * and keyboard input in 16 KiB DATA frames (the largest a client may send) as fast as the socket
 * takes them: a frame goes whenever less than 256 KiB wait in the socket (the console page's own
 * input bound), otherwise the next one waits for the previous write to finish (TCP backpressure).
 *
 * stdin: one JSON line {url, token, origin, seconds}. stdout: `flooding` when the flood starts,
 * then one JSON line of figures when it has ended (Ctrl-C sent, A's shell answering again, or
 * 60 s passed). Exits on its own after `seconds` + 90 s at the latest.
 */
import { createInterface } from "node:readline";
import { CONSOLE_LIMITS, encodeConsoleFrame } from "../../server/protocol/console";
import { sleep, ZaphodClient } from "./clients";

const SOCKET_BOUND = 256 * 1024;

const line = await new Promise<string>((resolve) =>
  createInterface({ input: process.stdin }).once("line", resolve),
);
const { url, token, origin, seconds } = JSON.parse(line) as {
  url: string;
  token: string;
  origin: string;
  seconds: number;
};
const hardStop = setTimeout(() => process.exit(3), (seconds + 90) * 1000);

const client = new ZaphodClient({ url, token }, origin);
let notices = 0;
client.ws.on("message", (data) => {
  // control frames (0x03) carry the agent's "Input dropped" notices
  if ((data as Buffer)[0] === 0x03 && (data as Buffer).includes("Input dropped")) notices++;
});
await client.opened();
await client.ready();
client.send("yes\r");
// Printable bytes only (no Ctrl-C, no newline): they are typed into the guest's tty behind `yes`.
const frame = encodeConsoleFrame({
  kind: "data",
  bytes: new Uint8Array(CONSOLE_LIMITS.maxInputBytes).fill(0x78),
});
const received0 = client.received;
process.stdout.write("flooding\n");
const t0 = performance.now();
const end = t0 + seconds * 1000;
let sentBytes = 0;
let frames = 0;
let lastWritten: Promise<unknown> = Promise.resolve();
while (performance.now() < end && client.ws.readyState === client.ws.OPEN) {
  if (client.ws.bufferedAmount + frame.length <= SOCKET_BOUND) {
    lastWritten = new Promise((resolve) => client.ws.send(frame, resolve));
    sentBytes += CONSOLE_LIMITS.maxInputBytes;
    frames++;
    // let output, ACKs and the socket's writes run between frames
    if (frames % 4 === 0) await new Promise((resolve) => setImmediate(resolve));
  } else {
    // the socket is full: the last frame's write callback says the kernel took it
    await Promise.race([lastWritten, sleep(50)]);
  }
}
const floodMs = performance.now() - t0;
const outputBytes = client.received - received0;
// Stop `yes`. Keys of the flood still on their way (queued in tmux for the guest's tty) come
// before the Ctrl-C and may land on the shell's command line after it: every 5 s another Ctrl-C
// and the shell asked to answer, for at most 60 s. `ctrlCBackMs`: first Ctrl-C → the shell answers.
let ctrlCBackMs: number | null = null;
const c0 = performance.now();
while (ctrlCBackMs === null && performance.now() - c0 < 60_000) {
  client.send("\x03");
  await sleep(500);
  if (
    await client.ready(5_000).then(
      () => true,
      () => false,
    )
  )
    ctrlCBackMs = performance.now() - c0;
}
client.close();
clearTimeout(hardStop);
process.stdout.write(
  `${JSON.stringify({ floodMs, sentBytes, frames, outputBytes, droppedNotices: notices, ctrlCBackMs })}\n`,
);
process.exit(0);
