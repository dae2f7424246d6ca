import type { TaskView } from "@/server/web/dal/tasks";
import { actorText, type TaskOutcomeTone, taskOutcome, taskTitle } from "./words";

/** Times on the VM page: the same text on the server and in any browser (no hydration mismatch). */
export const timeFmt = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "medium",
  timeZone: "UTC",
});

const TONE: Record<TaskOutcomeTone, string> = {
  running: "bg-sky-50 text-sky-800 ring-sky-600/20 dark:bg-sky-950 dark:text-sky-300 dark:ring-sky-400/20",
  escalated:
    "bg-amber-50 text-amber-800 ring-amber-600/20 dark:bg-amber-950 dark:text-amber-300 dark:ring-amber-400/20",
  succeeded:
    "bg-teal-50 text-teal-800 ring-teal-600/20 dark:bg-teal-950 dark:text-teal-300 dark:ring-teal-400/20",
  failed: "bg-red-50 text-red-700 ring-red-600/20 dark:bg-red-950 dark:text-red-300 dark:ring-red-400/20",
  interrupted:
    "bg-amber-50 text-amber-800 ring-amber-600/20 dark:bg-amber-950 dark:text-amber-300 dark:ring-amber-400/20",
};

/** Who started a task: a person, or (no account) the host admin at the command line. */
function startedBy(task: TaskView, viewer?: string): string {
  return actorText(
    task.actor ? { label: task.actor, isAccount: true } : { label: "cli", isAccount: false },
    viewer,
  );
}

/** Tasks with their result and log lines, newest first; `viewer` reads as "you". */
export function TaskList({
  tasks,
  showVm,
  viewer,
}: {
  tasks: TaskView[];
  showVm?: boolean;
  viewer?: string;
}) {
  if (tasks.length === 0) {
    return (
      <p className="mt-3 rounded-xl border border-dashed border-stone-300 px-4 py-6 text-center text-sm text-stone-600 dark:border-stone-700 dark:text-stone-400">
        No tasks yet.
      </p>
    );
  }
  return (
    <ol className="mt-3 space-y-2" data-testid="task-list">
      {tasks.map((t) => {
        const outcome = taskOutcome(t);
        return (
          <li
            key={t.id}
            data-testid="task"
            data-kind={t.kind}
            data-status={t.status}
            data-escalated={outcome.tone === "escalated" ? "true" : undefined}
            className="rounded-lg border border-stone-200 bg-white px-4 py-3 text-sm dark:border-stone-800 dark:bg-stone-900"
          >
            <details>
              <summary className="flex cursor-pointer list-none flex-wrap items-center gap-x-3 gap-y-1">
                <span className="font-medium">{taskTitle(t.kind)}</span>
                {showVm && t.vmName ? (
                  <span className="font-mono text-stone-600 dark:text-stone-400">{t.vmName}</span>
                ) : null}
                <span
                  data-testid="task-outcome"
                  className={`inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${TONE[outcome.tone]}`}
                >
                  {outcome.text}
                </span>
                <span className="ml-auto text-xs text-stone-500">
                  {timeFmt.format(new Date(t.createdAt))} UTC · by {startedBy(t, viewer)}
                </span>
              </summary>
              {t.error ? <p className="mt-2 text-red-700 dark:text-red-400">{t.error}</p> : null}
              {t.logs.length ? (
                <ul className="mt-2 space-y-0.5 border-l-2 border-stone-200 pl-3 text-xs text-stone-600 dark:border-stone-700 dark:text-stone-400">
                  {t.logs.map((l) => (
                    <li
                      key={`${l.at}-${l.message}`}
                      className={
                        l.level === "error"
                          ? "text-red-700 dark:text-red-400"
                          : l.level === "warn"
                            ? "text-amber-700 dark:text-amber-300"
                            : ""
                      }
                    >
                      <time className="tabular-nums">{l.at.slice(11, 19)}</time> {l.message}
                    </li>
                  ))}
                </ul>
              ) : null}
            </details>
          </li>
        );
      })}
    </ol>
  );
}
