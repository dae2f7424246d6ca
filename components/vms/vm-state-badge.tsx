"use client";

import { useEffect, useState } from "react";
import type { TaskView } from "@/server/web/dal/tasks";
import type { VmLive } from "@/server/web/vms/views";
import { taskStateText } from "./words";

const TONE: Record<string, string> = {
  running:
    "bg-teal-50 text-teal-800 ring-teal-600/20 dark:bg-teal-950 dark:text-teal-300 dark:ring-teal-400/20",
  starting: "bg-sky-50 text-sky-800 ring-sky-600/20 dark:bg-sky-950 dark:text-sky-300 dark:ring-sky-400/20",
  stopping: "bg-sky-50 text-sky-800 ring-sky-600/20 dark:bg-sky-950 dark:text-sky-300 dark:ring-sky-400/20",
  stopped:
    "bg-stone-100 text-stone-600 ring-stone-500/20 dark:bg-stone-800 dark:text-stone-300 dark:ring-stone-400/20",
  crashed: "bg-red-50 text-red-700 ring-red-600/20 dark:bg-red-950 dark:text-red-300 dark:ring-red-400/20",
  destroying: "bg-red-50 text-red-700 ring-red-600/20 dark:bg-red-950 dark:text-red-300 dark:ring-red-400/20",
  unknown:
    "bg-amber-50 text-amber-800 ring-amber-600/20 dark:bg-amber-950 dark:text-amber-300 dark:ring-amber-400/20",
  waiting:
    "bg-amber-50 text-amber-800 ring-amber-600/20 dark:bg-amber-950 dark:text-amber-300 dark:ring-amber-400/20",
};

/** "running · up", "running · booting", "waiting at console", "paused: host disk full", "stopped", … */
export function stateText(
  live: Pick<VmLive, "state" | "stage"> & Partial<Pick<VmLive, "pausedForSpace">>,
): string {
  if (live.state === "running" && live.pausedForSpace) return "paused: host disk full";
  if (live.state === "running" && live.stage === "waiting-at-console") return "waiting at console";
  if (live.state === "running" && live.stage === "booting") return "booting";
  if (live.state === "unknown") return "unknown";
  // A destroy that began and did not finish (issue 11 point 1): the admin can finish it.
  if (live.state === "destroying")
    return (live as { busy?: string | null }).busy === "vm.destroy" ? "destroying" : "destroy incomplete";
  return live.state;
}

/** The browser's clock once a second while `active`. */
function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [active]);
  return now;
}

/**
 * The VM's state, or what the task in progress is doing to it ("rebooting — waiting for the
 * guest, hard reset offered in 1:12"): during a reboot the guest is "booting" for the whole grace,
 * which says nothing about what happens next.
 */
export function VmStateBadge({
  live,
  task = null,
}: {
  live: Pick<VmLive, "state" | "stage"> & Partial<Pick<VmLive, "pausedForSpace">>;
  task?: Pick<TaskView, "kind" | "status" | "step" | "resetAt" | "graceEndsAt" | "hardReset"> | null;
}) {
  const now = useNow(task !== null);
  const byTask = live.state === "unknown" ? null : taskStateText(task, now);
  const text = byTask?.state ?? stateText(live);
  const tone = byTask
    ? "starting"
    : text === "waiting at console" || text === "paused: host disk full"
      ? "waiting"
      : text === "booting"
        ? "starting"
        : live.state;
  return (
    <span className="inline-flex flex-wrap items-center gap-x-2 gap-y-1">
      <span
        data-testid="vm-state"
        className={`inline-flex items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${TONE[tone] ?? TONE.unknown}`}
      >
        <span aria-hidden className="size-1.5 rounded-full bg-current opacity-70" />
        {text}
      </span>
      {byTask?.detail ? (
        <span data-testid="vm-state-detail" className="text-xs text-stone-600 dark:text-stone-400">
          {byTask.detail}
        </span>
      ) : null}
    </span>
  );
}
