import { describe, expect, it } from "vitest";
import { applyCtrl, arrowKey, ON_SCREEN_KEYS } from "./keys";

describe("on-screen keys", () => {
  it("sends Esc, Tab and Ctrl-C bytes", () => {
    expect(ON_SCREEN_KEYS).toEqual({ escape: "\x1b", tab: "\t", ctrlC: "\x03" });
  });

  it("follows the cursor-key mode for arrows", () => {
    expect(arrowKey("up", false)).toBe("\x1b[A");
    expect(arrowKey("left", true)).toBe("\x1bOD");
  });

  it("combines the sticky Ctrl with the next character", () => {
    expect(applyCtrl("c")).toBe("\x03");
    expect(applyCtrl("C")).toBe("\x03");
    expect(applyCtrl("d")).toBe("\x04");
    expect(applyCtrl("[")).toBe("\x1b");
    expect(applyCtrl("@")).toBe("\x00");
    expect(applyCtrl(" ")).toBe("\x00");
    expect(applyCtrl("?")).toBe("\x7f");
    expect(applyCtrl("1")).toBeNull();
    expect(applyCtrl("é")).toBeNull();
    expect(applyCtrl("ab")).toBeNull();
  });
});
