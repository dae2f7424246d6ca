import { describe, expect, it } from "vitest";
import { bootLogText } from "./boot-text";

describe("a console log as text", () => {
  it("drops colours, titles, charset selections and keypad modes; keeps the words", () => {
    expect(bootLogText("\x1b[1;32mOK\x1b[0m mounted\r\n\x1b]0;demo: ~\x07# \x1b(Bls\x1b=\r\n")).toBe(
      "OK mounted\n# ls\n",
    );
  });

  it("a line rewritten with carriage returns shows its last state", () => {
    expect(bootLogText("fsck 10%\rfsck 55%\rfsck done\r\nnext\n")).toBe("fsck done\nnext\n");
  });

  it("other control characters go; tabs stay", () => {
    expect(bootLogText("a\tb\x00\x07\x08c\x7f\n")).toBe("a\tbc\n");
  });
});
