"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useState, useTransition } from "react";
import { Button } from "@/components/ui/button";
import type { TaskView } from "@/server/web/dal/tasks";
import type { PowerAction } from "@/server/web/vms/service";
import type { VmSnapshot } from "@/server/web/vms/stream-events";
import type { VmLive } from "@/server/web/vms/views";
import { MemoryFigure } from "./memory-figure";
import { TaskList, timeFmt } from "./task-list";
import { formatUptime, useUptime, useVmEvents } from "./use-vm-events";
import { VmStateBadge } from "./vm-state-badge";
import { applyVmEvent, currentTask, type VmView } from "./vm-view";
import { WaitingAtConsole } from "./waiting-at-console";
import { busyText, formatCountdown, taskTitle } from "./words";

/** The wrapped power action (app/actions/vms.ts vmPowerAction), passed down by the page. */
export type PowerActionFn = (input: {
  name: string;
  action: PowerAction;
}) => Promise<{ ok: true } | { ok: false; error: { message: string } }>;

export type VmInfo = {
  name: string;
  owner: string;
  image: string;
  memoryMiB: number;
  storageGiB: number;
  swapMiB: number;
};

const LABEL: Record<PowerAction, string> = {
  start: "Start",
  reboot: "Reboot",
  shutdown: "Shut down",
  reset: "Hard reset",
  poweroff: "Force off",
};

/** Which buttons the state allows. */
function actionsFor(live: VmLive): PowerAction[] {
  switch (live.state) {
    case "stopped":
    case "crashed":
      return ["start"];
    case "running":
      return live.stage === "booting" ? ["reset", "poweroff"] : ["reboot", "shutdown", "reset", "poweroff"];
    case "starting":
      return ["reset", "poweroff"];
    case "stopping":
      return ["poweroff"];
    default:
      return [];
  }
}

/** Needs a second click: they lose what the guest did not write to disk. */
const CONFIRM: Partial<Record<PowerAction, string>> = {
  reset: "Hard reset without shutting down? Unsaved data in the VM is lost.",
  poweroff: "Force the VM off without shutting down? Unsaved data in the VM is lost.",
};

export function VmPanel({
  vm,
  initialLive,
  initialTasks,
  canPower,
  powerAction,
  viewer,
  children,
}: {
  vm: VmInfo;
  initialLive: VmLive;
  initialTasks: TaskView[];
  canPower: boolean;
  powerAction: PowerActionFn;
  /** The viewer's username: their own tasks read "by you". */
  viewer?: string;
  children?: React.ReactNode;
}) {
  const router = useRouter();
  const [view, setView] = useState<VmView>({ live: initialLive, tasks: initialTasks });
  const { live, tasks } = view;
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<PowerAction | null>(null);
  const [pending, startTransition] = useTransition();
  const uptime = useUptime(live);

  useVmEvents<VmSnapshot>(`/api/vms/${vm.name}/events`, {
    // Every (re)connection: what ended or started while the stream was away is taken as it is now.
    onSnapshot: (snapshot) => {
      const known = new Map(view.tasks.map((t) => [t.id, t.status]));
      setView((prev) => applyVmEvent(prev, { type: "snapshot", snapshot }));
      // A task began or ended meanwhile: the history below has grown too.
      if (snapshot.tasks.some((t) => known.get(t.id) !== t.status)) router.refresh();
    },
    onVm: (vmLive) => setView((prev) => applyVmEvent(prev, { type: "vm", vm: vmLive })),
    onTask: (task) => {
      setView((prev) => applyVmEvent(prev, { type: "task", task }));
      if (task.status !== "running") router.refresh(); // the history below
    },
  });

  const current = currentTask(tasks);
  const rebooting = current?.kind === "reboot" ? current : null;

  function act(action: PowerAction) {
    setConfirming(null);
    startTransition(async () => {
      const res = await powerAction({ name: vm.name, action });
      setError(res.ok ? null : res.error.message);
    });
  }

  const allowed = canPower ? actionsFor(live) : [];
  const waiting = live.state === "running" && live.stage === "waiting-at-console";

  return (
    <div className="space-y-8">
      <section aria-labelledby="status-heading" className="space-y-4">
        <h2 id="status-heading" className="sr-only">
          Status
        </h2>
        {waiting ? <WaitingAtConsole vmName={vm.name} detail={live.stageDetail} rescueHint /> : null}
        {live.pausedForSpace && live.state === "running" ? (
          <div
            role="alert"
            data-testid="paused-for-space"
            className="rounded-lg border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-900 dark:border-amber-800 dark:bg-amber-950/60 dark:text-amber-100"
          >
            <p className="font-medium">Paused: the host&apos;s disk is nearly full.</p>
            <p className="mt-1">
              This VM was writing to its disks when the host&apos;s free space fell below its reserve, so the
              host paused it (since {timeFmt.format(new Date(live.pausedForSpace.since))} UTC). Nothing was
              deleted and nothing is lost: it carries on by itself once space is freed on the host, or when an
              admin resumes it. The admins have been told.
            </p>
          </div>
        ) : null}
        {live.state === "unknown" ? (
          <p
            role="status"
            className="rounded-lg border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-900 dark:border-amber-800 dark:bg-amber-950/60 dark:text-amber-100"
          >
            The host agent does not answer right now; the state shown may be stale.
          </p>
        ) : null}
        <div className="rounded-xl border border-stone-200 bg-white p-4 dark:border-stone-800 dark:bg-stone-900">
          <div className="flex flex-wrap items-center justify-between gap-3">
            <div className="flex items-center gap-3">
              <VmStateBadge live={live} task={current} />
            </div>
            <Link
              href={`/vms/${vm.name}/console`}
              className="inline-flex min-h-10 items-center justify-center rounded-lg border border-stone-300 bg-white px-4 text-sm font-medium text-stone-800 hover:bg-stone-100 dark:border-stone-700 dark:bg-stone-900 dark:text-stone-100 dark:hover:bg-stone-800"
            >
              Open console
            </Link>
          </div>
          {live.busy && !current ? (
            <p data-testid="vm-busy" className="mt-2 text-xs text-stone-600 dark:text-stone-400">
              {busyText(live.busy)}
            </p>
          ) : null}
          <dl className="mt-4 grid grid-cols-2 gap-3 text-sm sm:grid-cols-4">
            <Figure label="Uptime" testId="vm-uptime">
              {live.state === "running" ? formatUptime(uptime) : "—"}
            </Figure>
            <Figure label="Memory" testId="vm-memory">
              <MemoryFigure configuredMiB={vm.memoryMiB} live={live} />
            </Figure>
            <Figure label="Storage">{vm.storageGiB} GiB</Figure>
            <Figure label="Swap">{vm.swapMiB} MiB</Figure>
          </dl>
          <p className="mt-3 text-xs text-stone-500">
            Image {vm.image} · owner {vm.owner}
          </p>
        </div>

        {rebooting ? (
          <RebootProgress task={rebooting} onHardReset={() => act("reset")} pending={pending} />
        ) : null}
        {current && !rebooting ? <TaskProgress task={current} /> : null}

        {allowed.length ? (
          <div className="space-y-2">
            <div className="flex flex-wrap gap-2">
              {allowed.map((a) => (
                <Button
                  key={a}
                  variant={
                    a === "start" ? "primary" : a === "reset" || a === "poweroff" ? "danger" : "secondary"
                  }
                  pending={pending}
                  disabled={Boolean(current) && !(a === "reset" && rebooting)}
                  onClick={() => (CONFIRM[a] ? setConfirming(a) : act(a))}
                >
                  {LABEL[a]}
                </Button>
              ))}
            </div>
            {confirming ? (
              <div
                role="alertdialog"
                aria-label={`Confirm ${LABEL[confirming]}`}
                className="flex flex-col gap-2 rounded-lg border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-900 sm:flex-row sm:items-center sm:justify-between dark:border-red-900 dark:bg-red-950/60 dark:text-red-100"
              >
                <p>{CONFIRM[confirming]}</p>
                <div className="flex gap-2">
                  <Button variant="danger" onClick={() => act(confirming)}>
                    Yes, {LABEL[confirming].toLowerCase()}
                  </Button>
                  <Button variant="quiet" onClick={() => setConfirming(null)}>
                    Cancel
                  </Button>
                </div>
              </div>
            ) : null}
          </div>
        ) : null}
        {error ? (
          <p role="alert" className="text-sm text-red-700 dark:text-red-400">
            {error}
          </p>
        ) : null}
      </section>

      {children}

      <section aria-labelledby="tasks-heading">
        <h2 id="tasks-heading" className="text-lg font-medium">
          Tasks
        </h2>
        <TaskList tasks={tasks} viewer={viewer} />
      </section>
    </div>
  );
}

function Figure({ label, testId, children }: { label: string; testId?: string; children: React.ReactNode }) {
  return (
    <div>
      <dt className="text-xs text-stone-500">{label}</dt>
      <dd data-testid={testId} className="tabular-nums">
        {children}
      </dd>
    </div>
  );
}

function ProgressBar({ value }: { value: number }) {
  return (
    <div
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={value}
      className="h-1.5 overflow-hidden rounded-full bg-stone-200 dark:bg-stone-800"
    >
      <div
        className="h-full rounded-full bg-teal-600 transition-all dark:bg-teal-400"
        style={{ width: `${value}%` }}
      />
    </div>
  );
}

function TaskProgress({ task }: { task: TaskView }) {
  return (
    <div
      data-testid="current-task"
      className="space-y-2 rounded-lg border border-stone-200 bg-white px-4 py-3 text-sm dark:border-stone-800 dark:bg-stone-900"
    >
      <p>
        <span className="font-medium">{taskTitle(task.kind)}</span>
        <span className="text-stone-600 dark:text-stone-400"> — {task.step || "working"}…</span>
      </p>
      <ProgressBar value={task.progress} />
    </div>
  );
}

function useSecondsLeft(until: string | null): number | null {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!until) return;
    const t = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(t);
  }, [until]);
  if (!until) return null;
  return Math.max(0, Math.ceil((Date.parse(until) - now) / 1000));
}

/** The reboot that explains itself: graceful first, then a visible countdown to a hard reset. */
function RebootProgress({
  task,
  onHardReset,
  pending,
}: {
  task: TaskView;
  onHardReset: () => void;
  pending: boolean;
}) {
  const left = useSecondsLeft(task.resetAt);
  const counting = left !== null;
  return (
    <div
      data-testid="current-task"
      className={`space-y-2 rounded-lg border px-4 py-3 text-sm ${
        counting
          ? "border-amber-300 bg-amber-50 text-amber-950 dark:border-amber-800 dark:bg-amber-950/60 dark:text-amber-100"
          : "border-stone-200 bg-white dark:border-stone-800 dark:bg-stone-900"
      }`}
    >
      {counting ? (
        <div className="flex flex-col gap-2 sm:flex-row sm:items-center sm:justify-between">
          <p role="status">
            The VM did not come back from the graceful reboot.{" "}
            <span className="font-semibold" data-testid="reset-countdown">
              Hard reset in {formatCountdown(left)}
            </span>
            .
          </p>
          <Button variant="danger" pending={pending} onClick={onHardReset}>
            Hard reset now
          </Button>
        </div>
      ) : (
        <p>
          <span className="font-medium">Reboot</span>
          <span className="text-stone-600 dark:text-stone-400"> — {task.step || "working"}…</span>
        </p>
      )}
      <ProgressBar value={task.progress} />
    </div>
  );
}
