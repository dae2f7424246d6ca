import { describe, expect, it } from "vitest";
import { safeLinkUrl } from "./terminal-guards";

describe("safeLinkUrl", () => {
  it("check 21: opens http(s) links only", () => {
    expect(safeLinkUrl("https://example.org/a?b")).toBe("https://example.org/a?b");
    expect(safeLinkUrl("http://10.0.0.2:8080/")).toBe("http://10.0.0.2:8080/");
    for (const bad of [
      "javascript:alert(1)",
      "JAVASCRIPT:alert(1)",
      " javascript:alert(1)",
      "data:text/html,x",
      "file:///etc/passwd",
      "vbscript:x",
      "not a url",
      "",
    ]) {
      expect(safeLinkUrl(bad)).toBeNull();
    }
  });
});
