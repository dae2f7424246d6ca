import "server-only";
/**
 * What every web-side service does with an agent task: push the Task row to browsers, mark a
 * task the agent refused up front, and follow an accepted one to its end (events first, a
 * `task.get` every 3 s for an end that came before the subscription or during a reconnect, and a
 * bound on the wait). The task pipeline (./pipeline.ts) goes through here.
 */
import type { TaskInfo, TaskOp } from "../../protocol/agent";
import { getAgent } from "../agent/instance";
import { getBus } from "../bus";
import { unsafeAppendTaskLog, unsafeGetTaskView, unsafeUpdateTask } from "../dal/tasks";
import type { ActionFailure } from "../errors";
import { getHub } from "../vms/hub";

/** Pushes the Task row to this instance's browsers, and tells the other instances to. */
export async function publishTask(taskId: string, ownerId: string): Promise<void> {
  const task = await unsafeGetTaskView(taskId);
  if (task) getHub().publish({ type: "task", ownerId, task });
  getBus().publish({ t: "task", id: taskId, ownerId });
}

/** The agent refused the request before starting: the Task ends failed with the user-facing message. */
export async function failRefusedTask(
  taskId: string,
  ownerId: string,
  failure: ActionFailure,
): Promise<void> {
  await unsafeUpdateTask(taskId, {
    status: "failed",
    progress: 100,
    error: failure.message,
    detail: { step: "refused" },
  });
  await unsafeAppendTaskLog(taskId, failure.message, "error");
  await publishTask(taskId, ownerId);
}

/**
 * Resolves with the agent task's final TaskInfo (or a synthetic `timeout` failure after `waitMs`);
 * `onUpdate` sees every progress event before that.
 */
export function followAgentTask(options: {
  agentTaskId: string;
  op: TaskOp;
  vmName: string;
  waitMs: number;
  onUpdate: (task: TaskInfo) => void;
}): Promise<TaskInfo> {
  const { agentTaskId, op, vmName, waitMs, onUpdate } = options;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (task: TaskInfo) => {
      if (settled) return;
      settled = true;
      off();
      clearInterval(poll);
      clearTimeout(timeout);
      resolve(task);
    };
    const off = getHub().watchTask(agentTaskId, (task, done) => (done ? finish(task) : onUpdate(task)));
    const poll = setInterval(() => {
      getAgent()
        .call("task.get", { id: agentTaskId })
        .then((task) => task.state !== "running" && finish(task))
        .catch(() => undefined);
    }, 3_000);
    poll.unref?.();
    const timeout = setTimeout(() => {
      const now = new Date().toISOString();
      finish({
        id: agentTaskId,
        op,
        vm: vmName,
        state: "failed",
        step: "",
        startedAt: now,
        endedAt: now,
        error: { code: "timeout", message: "the panel stopped waiting" },
        result: null,
      });
    }, waitMs);
    timeout.unref?.();
  });
}
