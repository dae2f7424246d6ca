import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { unreachableDatabase } from "./reachable";

const root = mkdtempSync(path.join(tmpdir(), "zaphod-reach-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("a database out of the user's reach", () => {
  it("is fine in a directory the user can write", () => {
    mkdirSync(path.join(root, "open"));
    expect(unreachableDatabase(`file:${path.join(root, "open", "z.db")}`)).toBeNull();
    expect(unreachableDatabase("postgresql://u@h/db")).toBeNull();
  });
});
