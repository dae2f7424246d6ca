/**
 * What a VM page shows, as a pure reducer over the event stream (server/web/vms/stream-events.ts):
 * a snapshot replaces the view (it closes any gap while the stream was away), `vm` and `task`
 * events update it. Events can arrive out of order around a reconnect, so an older VM reading
 * never replaces a newer one, and a task that has ended never goes back to running.
 */
import type { TaskView } from "@/server/web/dal/tasks";
import type { VmSnapshot, VmsSnapshot } from "@/server/web/vms/stream-events";
import type { VmLive } from "@/server/web/vms/views";

export type VmView = { live: VmLive; tasks: TaskView[] };

export type VmStreamEvent =
  | { type: "snapshot"; snapshot: VmSnapshot }
  | { type: "vm"; vm: VmLive }
  | { type: "task"; task: TaskView };

/** How many tasks the page lists. */
export const TASKS_SHOWN = 20;

const isOpen = (t: Pick<TaskView, "status">) => t.status === "running" || t.status === "queued";

function newer(a: VmLive, b: VmLive): VmLive {
  return Date.parse(b.at) >= Date.parse(a.at) ? b : a;
}

/** The task to keep when two copies of the same task meet. */
function laterCopy(known: TaskView, incoming: TaskView): TaskView {
  return !isOpen(known) && isOpen(incoming) ? known : incoming;
}

function sortTasks(tasks: TaskView[]): TaskView[] {
  return [...tasks].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, TASKS_SHOWN);
}

export function applyVmEvent(view: VmView, event: VmStreamEvent): VmView {
  switch (event.type) {
    case "snapshot": {
      // The snapshot is the truth as of now; a task known here but not in it scrolled off.
      const byId = new Map(view.tasks.map((t) => [t.id, t]));
      const tasks = event.snapshot.tasks.map((t) => {
        const known = byId.get(t.id);
        return known ? laterCopy(known, t) : t;
      });
      return { live: newer(view.live, event.snapshot.vm), tasks: sortTasks(tasks) };
    }
    case "vm":
      return event.vm.name === view.live.name ? { ...view, live: newer(view.live, event.vm) } : view;
    case "task": {
      const known = view.tasks.find((t) => t.id === event.task.id);
      const task = known ? laterCopy(known, event.task) : event.task;
      return { ...view, tasks: sortTasks([task, ...view.tasks.filter((t) => t.id !== task.id)]) };
    }
  }
}

/** The task the page shows as in progress (at most one runs per VM through the panel). */
export function currentTask(tasks: TaskView[]): TaskView | null {
  return tasks.find(isOpen) ?? null;
}

/** The dashboard's VMs by name: a snapshot replaces them all, a `vm` event one (never older). */
export function applyVmsEvent(
  lives: Record<string, VmLive>,
  event: { type: "snapshot"; snapshot: VmsSnapshot } | { type: "vm"; vm: VmLive },
): Record<string, VmLive> {
  if (event.type === "vm") {
    const known = lives[event.vm.name];
    return { ...lives, [event.vm.name]: known ? newer(known, event.vm) : event.vm };
  }
  const next: Record<string, VmLive> = {};
  for (const vm of event.snapshot.vms) {
    const known = lives[vm.name];
    next[vm.name] = known ? newer(known, vm) : vm;
  }
  return next;
}
