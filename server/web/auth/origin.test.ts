import { expect, it } from "vitest";
import { isAllowedOrigin } from "./origin";

const allowed = ["http://127.0.0.1:3000", "https://panel.example.org"];

it("accepts exactly the configured origins", () => {
  expect(isAllowedOrigin("http://127.0.0.1:3000", allowed)).toBe(true);
  expect(isAllowedOrigin("https://panel.example.org", allowed)).toBe(true);
});

it.each([
  [null],
  [undefined],
  [""],
  ["null"],
  ["http://panel.example.org"], // scheme downgrade
  ["https://panel.example.org.evil.example"], // suffix confusion
  ["https://evil-panel.example.org"],
  ["http://127.0.0.1:3001"],
  ["http://localhost:3000"], // not configured here
  ["https://panel.example.org/"],
])("refuses %s", (origin) => {
  expect(isAllowedOrigin(origin, allowed)).toBe(false);
});
