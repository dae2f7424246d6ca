import { describe, expect, it } from "vitest";
import type { AgentEvent, TaskInfo } from "../protocol/agent";
import { AgentFailure } from "./errors";
import { EventBus } from "./event-bus";
import { TaskRunner } from "./tasks";

function runner() {
  const events = new EventBus();
  const seen: AgentEvent[] = [];
  events.subscribe((event) => seen.push(event));
  const settled: string[] = [];
  const tasks = new TaskRunner(
    events,
    () => undefined,
    async (vm) => {
      settled.push(vm);
    },
  );
  const done = (id: string) =>
    new Promise<TaskInfo>((resolve) => {
      const off = events.subscribe((event) => {
        if (event.type === "task.done" && event.task.id === id) {
          off();
          resolve(event.task);
        }
      });
    });
  return { tasks, seen, settled, done };
}

describe("TaskRunner", () => {
  it("check 33: holds one operation per VM: a second lock is a conflict until the first is released", () => {
    const { tasks } = runner();
    const unlock = tasks.lock("alice", "vm.start");
    expect(() => tasks.lock("alice", "vm.reboot")).toThrow(/alice is busy with vm.start/);
    expect(tasks.isBusy("alice")).toBe("vm.start");
    unlock();
    expect(tasks.isBusy("alice")).toBeNull();
    tasks.lock("alice", "vm.reboot")();
  });

  it("answers with the running task, reports the reboot's stages as progress, settles the VM before task.done", async () => {
    const { tasks, seen, settled, done } = runner();
    const ended = done("t-1");
    const accepted = await tasks.task(
      "t-1",
      "vm.reboot",
      "alice",
      async () => 42,
      async (prepared, step, handle) => {
        expect(prepared).toBe(42);
        step("ctrl-alt-del");
        handle.setReboot(
          { stage: "countdown", graceEndsAt: "a", resetAt: "b", hardResetBy: null },
          "not back: counting down to a hard reset",
        );
        handle.log("not back after 1 s: hard reset in 1 s unless it comes up");
        expect(settled).toEqual([]);
        return null;
      },
    );
    expect(accepted).toMatchObject({ id: "t-1", op: "vm.reboot", state: "running" });
    const task = await ended;
    expect(settled).toEqual(["alice"]);
    expect(task).toMatchObject({ state: "succeeded", step: "done", error: null });
    expect(task.reboot).toEqual({ stage: "countdown", graceEndsAt: "a", resetAt: "b", hardResetBy: null });
    const progress = seen.flatMap((e) => (e.type === "task.progress" ? [e.task] : []));
    expect(progress.map((t) => t.step)).toEqual([
      "ctrl-alt-del",
      "not back: counting down to a hard reset",
      "not back: counting down to a hard reset",
    ]);
    expect(progress[0]?.reboot).toBeNull(); // each event is a copy of its moment
    expect(progress[1]?.reboot?.stage).toBe("countdown");
    expect(tasks.getTask("t-1").state).toBe("succeeded");
  });

  it("fails a task with the work's code, or internal for anything else; a failed prepare is the request's error", async () => {
    const { tasks, done } = runner();
    const refused = done("t-2");
    await tasks.task(
      "t-2",
      "vm.reset",
      "bob",
      async () => null,
      async () => {
        throw new AgentFailure("invalid-state", "bob stopped while booting");
      },
    );
    expect((await refused).error).toEqual({ code: "invalid-state", message: "bob stopped while booting" });
    const broken = done("t-3");
    await tasks.task(
      "t-3",
      "vm.reset",
      "bob",
      async () => null,
      async () => {
        throw new Error("ENOENT /some/host/path");
      },
    );
    expect((await broken).error).toEqual({ code: "internal", message: "internal error (see the agent log)" });
    await expect(
      tasks.task(
        "t-4",
        "vm.reset",
        "bob",
        async () => {
          throw new AgentFailure("conflict", "bob is busy with vm.start");
        },
        async () => null,
      ),
    ).rejects.toMatchObject({ code: "conflict" });
    expect(() => tasks.getTask("t-4")).toThrow(/no such task/);
  });
});
