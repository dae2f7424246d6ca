import type { TaskView } from "@/server/web/dal/tasks";

const timeFmt = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "medium",
  timeZone: "UTC",
});

const TONE: Record<string, string> = {
  running: "bg-sky-50 text-sky-800 ring-sky-600/20 dark:bg-sky-950 dark:text-sky-300 dark:ring-sky-400/20",
  queued: "bg-sky-50 text-sky-800 ring-sky-600/20 dark:bg-sky-950 dark:text-sky-300 dark:ring-sky-400/20",
  succeeded:
    "bg-teal-50 text-teal-800 ring-teal-600/20 dark:bg-teal-950 dark:text-teal-300 dark:ring-teal-400/20",
  failed: "bg-red-50 text-red-700 ring-red-600/20 dark:bg-red-950 dark:text-red-300 dark:ring-red-400/20",
  interrupted:
    "bg-amber-50 text-amber-800 ring-amber-600/20 dark:bg-amber-950 dark:text-amber-300 dark:ring-amber-400/20",
};

/** Tasks with their result and log lines, newest first. */
export function TaskList({ tasks, showVm }: { tasks: TaskView[]; showVm?: boolean }) {
  if (tasks.length === 0) {
    return (
      <p className="mt-3 rounded-xl border border-dashed border-stone-300 px-4 py-6 text-center text-sm text-stone-600 dark:border-stone-700 dark:text-stone-400">
        No tasks yet.
      </p>
    );
  }
  return (
    <ol className="mt-3 space-y-2" data-testid="task-list">
      {tasks.map((t) => (
        <li
          key={t.id}
          data-testid="task"
          data-kind={t.kind}
          data-status={t.status}
          className="rounded-lg border border-stone-200 bg-white px-4 py-3 text-sm dark:border-stone-800 dark:bg-stone-900"
        >
          <details>
            <summary className="flex cursor-pointer list-none flex-wrap items-center gap-x-3 gap-y-1">
              <span className="font-medium capitalize">{t.kind}</span>
              {showVm && t.vmName ? (
                <span className="font-mono text-stone-600 dark:text-stone-400">{t.vmName}</span>
              ) : null}
              <span
                className={`inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${TONE[t.status] ?? TONE.interrupted}`}
              >
                {t.status}
              </span>
              <span className="ml-auto text-xs text-stone-500">
                {timeFmt.format(new Date(t.createdAt))} UTC{t.actor ? ` · ${t.actor}` : ""}
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
      ))}
    </ol>
  );
}
