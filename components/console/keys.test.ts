import { describe, expect, it } from "vitest";
import { applyCtrl, arrowKey, isLeaveKey, ON_SCREEN_KEYS } from "./keys";

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

describe("the key that leaves the terminal", () => {
  const key = (over: Partial<KeyboardEvent>) =>
    ({
      ctrlKey: false,
      altKey: false,
      metaKey: false,
      shiftKey: false,
      key: "",
      code: "",
      ...over,
    }) as KeyboardEvent;

  it("is Ctrl+], by character or by physical key; Tab and plain ] stay with the guest", () => {
    expect(isLeaveKey(key({ ctrlKey: true, key: "]", code: "BracketRight" }))).toBe(true);
    expect(isLeaveKey(key({ ctrlKey: true, key: "+", code: "BracketRight" }))).toBe(true); // German layout
    expect(isLeaveKey(key({ key: "]", code: "BracketRight" }))).toBe(false);
    expect(isLeaveKey(key({ key: "Tab", code: "Tab" }))).toBe(false);
    expect(isLeaveKey(key({ ctrlKey: true, key: "c", code: "KeyC" }))).toBe(false);
    expect(isLeaveKey(key({ ctrlKey: true, shiftKey: true, key: "}", code: "BracketRight" }))).toBe(false);
  });
});
