// The host's end of bench/net's TCP transfers, run with node inside `ip netns exec` (no shell).
// The host always connects (the guest listens with busybox `nc -l`), so the host's end works
// behind the agent's packet rules, which let the bridge reach the host only with replies.
//   send HOST PORT BYTES  writes BYTES zero bytes, half-closes, waits until the guest closes
//   recv HOST PORT        reads until the guest closes
// Connecting is retried while refused (the guest's listener may not be up yet), for 10 s.
// Prints one JSON line: {"bytes":N,"seconds":S}, S from connected to closed; or {"error":"…"}.
import { connect } from "node:net";

const [mode, host, portText, bytesText] = process.argv.slice(2);
const port = Number(portText);
const total = Number(bytesText ?? 0);
const deadline = Date.now() + 10_000;
const chunk = Buffer.alloc(64 * 1024);

function finish(result, code) {
  console.log(JSON.stringify(result));
  process.exit(code);
}

function attempt() {
  const sock = connect({ host, port, allowHalfOpen: true });
  let t0 = 0;
  let bytes = 0;
  let sent = 0;
  const pump = () => {
    while (sent < total) {
      const n = Math.min(chunk.length, total - sent);
      sent += n;
      if (!sock.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        sock.once("drain", pump);
        return;
      }
    }
    sock.end();
  };
  sock.once("connect", () => {
    t0 = performance.now();
    if (mode === "send") pump();
  });
  sock.on("data", (d) => {
    bytes += d.length;
  });
  sock.on("end", () => {
    if (mode === "recv") sock.end();
  });
  sock.on("error", (error) => {
    if (!t0 && error.code === "ECONNREFUSED" && Date.now() < deadline) {
      sock.destroy();
      setTimeout(attempt, 100);
      return;
    }
    finish({ error: error.message }, 1);
  });
  sock.on("close", (hadError) => {
    if (!t0 || hadError) return;
    finish({ bytes: mode === "send" ? sent : bytes, seconds: (performance.now() - t0) / 1000 }, 0);
  });
}

if (mode !== "send" && mode !== "recv") finish({ error: `unknown mode ${mode}` }, 2);
else attempt();
