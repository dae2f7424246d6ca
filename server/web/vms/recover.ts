import "server-only";
/**
 * At the first use of the VM service in a web process: tasks a previous process left `running`
 * are settled. The agent remembers its tasks: an ended one is finished from its record; one still
 * running is followed again. A reboot's countdown lived in the old process, so a reboot (and
 * anything the agent does not know) ends as `interrupted`, saying so in its log.
 */
import type { TaskInfo, TaskOp } from "../../protocol/agent";
import { getAgent } from "../agent/instance";
import { unsafeAppendTaskLog, unsafeListUnfinishedTasks, unsafeUpdateTask } from "../dal/tasks";
import { getDb } from "../db/client";

type Deps = {
  finishFromAgent: (webTaskId: string, ownerId: string, task: TaskInfo, successText: string) => Promise<void>;
  follow: (
    agentTaskId: string,
    webTaskId: string,
    ownerId: string,
    op: TaskOp,
    vmName: string,
  ) => Promise<TaskInfo>;
};

export async function recoverUnfinishedTasks(deps: Deps): Promise<void> {
  const tasks = await unsafeListUnfinishedTasks();
  for (const t of tasks) {
    const row = await getDb().task.findUnique({
      where: { id: t.id },
      select: { ownerId: true, vm: { select: { name: true } } },
    });
    const agentTask = await getAgent()
      .call("task.get", { id: t.id })
      .catch(() => null);
    const simple = t.kind !== "reboot" && t.kind !== "provision";
    if (row && agentTask && simple) {
      if (agentTask.state === "running") {
        const ownerId = row.ownerId;
        void deps
          .follow(t.id, t.id, ownerId, agentTask.op, agentTask.vm)
          .then((done) =>
            deps.finishFromAgent(t.id, ownerId, done, "Done (followed again after a panel restart)."),
          );
      } else {
        await deps.finishFromAgent(
          t.id,
          row.ownerId,
          agentTask,
          "Done (finished while the panel restarted).",
        );
      }
      continue;
    }
    await unsafeUpdateTask(t.id, {
      status: "interrupted",
      progress: 100,
      error: "The panel restarted while this task ran; the VM's current state is shown on its page.",
      detail: { step: "interrupted", resetAt: null },
    });
    await unsafeAppendTaskLog(t.id, "Interrupted: the panel restarted while this task ran.", "warn");
  }
}
