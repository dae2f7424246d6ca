// A stand-in upstream DNS server for dns.itest.ts, run with node inside `ip netns exec` (no shell).
// dns-stub ADDR PORT NAME IPV4: answers A queries for NAME with IPV4, an empty NOERROR for its other
// types and NXDOMAIN for any other name; prints "listening", then "query NAME TYPE" per question.
import { createSocket } from "node:dgram";

const [address, port, name, ipv4] = process.argv.slice(2);

/** The question's name (labels joined by dots, lower case) and where its type starts. */
function question(msg) {
  const labels = [];
  let i = 12;
  while (i < msg.length && msg[i] !== 0) {
    labels.push(msg.subarray(i + 1, i + 1 + msg[i]).toString("latin1"));
    i += 1 + msg[i];
  }
  return { qname: labels.join(".").toLowerCase(), end: i + 1 };
}

const s = createSocket(address.includes(":") ? "udp6" : "udp4");
s.on("message", (msg, rinfo) => {
  if (msg.length < 17) return;
  const { qname, end } = question(msg);
  const qtype = msg.readUInt16BE(end);
  console.log(`query ${qname} ${qtype}`);
  const known = qname === name.toLowerCase();
  const answer = known && qtype === 1;
  const header = Buffer.alloc(12);
  msg.copy(header, 0, 0, 2); // the id
  header.writeUInt16BE(0x8180 | (known ? 0 : 3), 2); // response, RD, RA; rcode 0 or NXDOMAIN
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answer ? 1 : 0, 6);
  const parts = [header, msg.subarray(12, end + 4)];
  if (answer) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // the question's name
    rr.writeUInt16BE(1, 2); // A
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(60, 6);
    rr.writeUInt16BE(4, 10);
    ipv4.split(".").forEach((b, k) => {
      rr[12 + k] = Number(b);
    });
    parts.push(rr);
  }
  s.send(Buffer.concat(parts), rinfo.port, rinfo.address);
});
s.bind(Number(port), address, () => console.log("listening"));
