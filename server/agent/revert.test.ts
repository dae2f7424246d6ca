import { describe, expect, it } from "vitest";
import { Revert } from "./revert";

describe("Revert", () => {
  it("undoes steps in reverse order on failure, even when one undo step fails", async () => {
    const done: string[] = [];
    const revert = new Revert();
    revert.add(() => done.push("user"));
    revert.add(() => {
      throw new Error("boom");
    });
    revert.add(async () => done.push("dir"));
    await revert.fail();
    expect(done).toEqual(["dir", "user"]);
  });
  it("forgets the steps on success", async () => {
    const done: string[] = [];
    const revert = new Revert();
    revert.add(() => done.push("x"));
    revert.success();
    await revert.fail();
    expect(done).toEqual([]);
  });
});
