/**
 * The handler map is typed from the protocol: `npx tsc --noEmit` fails unless each
 * `@ts-expect-error` below meets the error it announces, so a handler whose reply does not match its
 * verb's result type, one that answers `Promise<unknown>`, or a map missing a verb does not compile.
 */
import { describe, expect, it } from "vitest";
import { OPS } from "../protocol/agent";
import { type AgentHandlers, createHandlers, dispatch } from "./handlers";
import type { VmManager } from "./vm-manager";

describe("agent handler map", () => {
  it("does not compile a wrong reply or a missing verb (checked by npx tsc --noEmit)", () => {
    // Never called: only compiled.
    const wrongReplies = (real: AgentHandlers): AgentHandlers[] => {
      const { "vm.list": _left, ...withoutList } = real;
      return [
        {
          ...real,
          // @ts-expect-error vm.status answers a VmStatus: a task reply does not compile
          "vm.status": async () => ({
            task: await real["task.get"]({ id: "x" }, { id: "x", actor: undefined }),
          }),
        },
        {
          ...real,
          // @ts-expect-error a reply of unknown shape (the old dispatch's Promise<unknown>) does not compile
          "vm.list": async (): Promise<unknown> => ({ vms: [] }),
        },
        {
          ...real,
          // @ts-expect-error a task verb answers { task }, not the task itself
          "vm.start": (_args, { id }) => real["task.get"]({ id }, { id, actor: undefined }),
        },
        // @ts-expect-error every verb of the protocol needs its handler
        withoutList,
      ];
    };
    expect(wrongReplies).toBeTypeOf("function");
  });

  it("has exactly one handler per protocol verb", () => {
    const handlers = createHandlers({
      manager: {} as VmManager,
      snapshots: null,
      droppingInput: (_name, task) => task,
      trust: () => null,
    });
    expect(Object.keys(handlers).sort()).toEqual([...OPS].sort());
  });

  it("answers invalid-request for a snapshot verb when snapshots are not enabled", async () => {
    const handlers = createHandlers({
      manager: {} as VmManager,
      snapshots: null,
      droppingInput: (_name, task) => task,
      trust: () => null,
    });
    await expect(
      dispatch(handlers, "snapshot.usage", {}, { id: "x", actor: undefined }),
    ).rejects.toMatchObject({
      code: "invalid-request",
    });
  });
});
