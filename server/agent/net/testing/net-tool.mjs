// A tiny client/server for nft.itest.ts, run with node inside `ip netns exec` (no shell).
// udp-listen PORT ADDR FILE: appends "source-address message" lines to FILE.
// tcp-listen PORT ADDR: answers each connection with the peer's address and closes it.
// udp-send HOST PORT MESSAGE: sends the datagram three times, 250 ms apart.
// tcp-connect HOST PORT MS: prints the server's answer ("ok" when it sent none), or "fail".
import { createSocket } from "node:dgram";
import { appendFileSync } from "node:fs";
import { connect, createServer } from "node:net";

const [mode, a, b, c] = process.argv.slice(2);
if (mode === "udp-listen") {
  const s = createSocket(b.includes(":") ? "udp6" : "udp4");
  s.on("message", (msg, rinfo) => appendFileSync(c, `${rinfo.address} ${msg.toString()}\n`));
  s.bind(Number(a), b, () => console.log("listening"));
} else if (mode === "tcp-listen") {
  createServer((sock) => sock.end(`${sock.remoteAddress}\n`)).listen(Number(a), b, () =>
    console.log("listening"),
  );
} else if (mode === "udp-send") {
  // Three copies 250 ms apart: a link that has only just come up (a test changed its address)
  // may drop the first. A listener that sees none of them saw nothing.
  const s = createSocket(a.includes(":") ? "udp6" : "udp4");
  const send = (n) =>
    s.send(c, Number(b), a, () =>
      n < 3 ? setTimeout(() => send(n + 1), 250) : setTimeout(() => s.close(), 100),
    );
  send(1);
} else if (mode === "tcp-connect") {
  let answer = "";
  const sock = connect({ host: a, port: Number(b) });
  const timer = setTimeout(() => {
    console.log("fail");
    process.exit(0);
  }, Number(c));
  sock.on("data", (d) => {
    answer += d.toString();
  });
  sock.on("error", () => {
    console.log("fail");
    process.exit(0);
  });
  sock.on("close", () => {
    clearTimeout(timer);
    console.log(answer.trim() || "ok");
  });
}
