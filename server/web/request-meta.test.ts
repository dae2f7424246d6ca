import { expect, it } from "vitest";
import { clientIpOf, requestMetaFrom } from "./request-meta";

it("uses the socket address unless a proxy is trusted", () => {
  expect(clientIpOf("::ffff:10.0.0.5", "6.6.6.6", false)).toBe("10.0.0.5");
  expect(clientIpOf("127.0.0.1", undefined, true)).toBe("127.0.0.1");
  // Behind a trusted proxy: the entry the proxy appended (the last), not a client-chosen first one.
  expect(clientIpOf("127.0.0.1", "6.6.6.6, 203.0.113.7", true)).toBe("203.0.113.7");
  expect(clientIpOf("::1", undefined, false)).toBe("::1");
});

it("reads the address the server stamped, and bounds the user agent", () => {
  const h = new Headers({ "x-zaphod-client-ip": "192.0.2.1", "user-agent": "x".repeat(1000) });
  const m = requestMetaFrom(h);
  expect(m.ip).toBe("192.0.2.1");
  expect(m.userAgent).toHaveLength(300);
});
