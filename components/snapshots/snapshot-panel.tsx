"use client";

import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";
import { Button } from "@/components/ui/button";
import { useVmEvents } from "@/components/vms/use-vm-events";
import type { ActionResult } from "@/server/web/auth/wrappers";
import type { TaskView } from "@/server/web/dal/tasks";
import type { SnapshotView } from "@/server/web/snapshots/service";
import { formatBytes, SnapshotStatusBadge } from "./snapshot-status-badge";

export type QuotaView = {
  maxCount: number;
  maxBytes: number;
  usedCount: number;
  usedBytes: number;
  policy: "immediate" | "approval";
};

const timeFmt = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "UTC",
});

function Meter({ label, used, max, text }: { label: string; used: number; max: number; text: string }) {
  const percent = max > 0 ? Math.min(100, Math.round((used / max) * 100)) : 100;
  const full = used >= max;
  return (
    <div className="min-w-0 flex-1">
      <div className="flex items-baseline justify-between gap-2 text-xs">
        <span className="text-stone-600 dark:text-stone-400">{label}</span>
        <span className={`tabular-nums ${full ? "font-medium text-red-700 dark:text-red-400" : ""}`}>
          {text}
        </span>
      </div>
      {/* The figures are in the text above; the bar only shows them. */}
      <div
        aria-hidden="true"
        className="mt-1 h-1.5 overflow-hidden rounded-full bg-stone-200 dark:bg-stone-800"
      >
        <div
          className={`h-full rounded-full ${full ? "bg-red-600 dark:bg-red-500" : "bg-teal-600 dark:bg-teal-400"}`}
          style={{ width: `${percent}%` }}
        />
      </div>
    </div>
  );
}

function ProgressBar({ task }: { task: TaskView }) {
  const last = task.logs.at(-1)?.message;
  return (
    <div
      data-testid="snapshot-progress"
      className="rounded-lg border border-sky-200 bg-sky-50 px-4 py-3 text-sm dark:border-sky-900 dark:bg-sky-950/50"
    >
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <span className="font-medium">{task.kind === "restore" ? "Restoring" : "Taking a snapshot"}</span>
        <span className="text-xs text-stone-600 dark:text-stone-300">{task.step}</span>
      </div>
      <div
        role="progressbar"
        aria-label={task.kind === "restore" ? "Restore progress" : "Snapshot progress"}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={task.progress}
        className="mt-2 h-2 overflow-hidden rounded-full bg-sky-100 dark:bg-sky-900"
      >
        <div
          className="h-full rounded-full bg-sky-600 transition-all dark:bg-sky-400"
          style={{ width: `${Math.max(4, task.progress)}%` }}
        />
      </div>
      {last ? <p className="mt-2 truncate text-xs text-stone-600 dark:text-stone-300">{last}</p> : null}
    </div>
  );
}

/** The wrapped snapshot actions of a VM, passed down by the page (arrows point down). */
export type SnapshotActions = {
  take: (input: {
    name: string;
    label: string;
    includeStorage: boolean;
  }) => Promise<ActionResult<{ status: string }>>;
  restore: (input: { name: string; snapshotId: string; confirm: string }) => Promise<ActionResult<unknown>>;
  remove: (input: { name: string; snapshotId: string }) => Promise<ActionResult<unknown>>;
};

export function SnapshotPanel({
  vmName,
  initialSnapshots,
  initialTask,
  quota,
  canSnapshot,
  actions,
}: {
  actions: SnapshotActions;
  vmName: string;
  initialSnapshots: SnapshotView[];
  initialTask: TaskView | null;
  quota: QuotaView;
  canSnapshot: boolean;
}) {
  const router = useRouter();
  const [task, setTask] = useState<TaskView | null>(initialTask);
  const [label, setLabel] = useState("");
  const [includeStorage, setIncludeStorage] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<{ id: string; action: "restore" | "delete" } | null>(null);
  const [pending, startTransition] = useTransition();
  const snapshots = initialSnapshots;

  useVmEvents(`/api/vms/${vmName}/events`, {
    onTask: (t) => {
      if (t.kind !== "snapshot" && t.kind !== "restore") return;
      setTask(t.status === "running" ? t : null);
      if (t.status !== "running") {
        if (t.status !== "succeeded" && t.error) setError(t.error);
        router.refresh();
      }
    },
  });

  const busy = Boolean(task) || snapshots.some((s) => s.status === "running" || s.status === "restoring");

  function take() {
    setError(null);
    setNotice(null);
    startTransition(async () => {
      const res = await actions.take({ name: vmName, label, includeStorage });
      if (!res.ok) return setError(res.error.message);
      setLabel("");
      if (res.data.status === "requested")
        setNotice("Requested: the snapshot is taken once the admin approves it.");
      router.refresh();
    });
  }

  function confirm() {
    if (!confirming) return;
    const { id, action } = confirming;
    setConfirming(null);
    setError(null);
    setNotice(null);
    startTransition(async () => {
      const res =
        action === "restore"
          ? await actions.restore({ name: vmName, snapshotId: id, confirm: id })
          : await actions.remove({ name: vmName, snapshotId: id });
      if (!res.ok) setError(res.error.message);
      router.refresh();
    });
  }

  return (
    <section aria-labelledby="snapshots-heading" data-testid="snapshots" className="space-y-4">
      <h2 id="snapshots-heading" className="text-lg font-medium">
        Snapshots
      </h2>
      <div className="rounded-xl border border-stone-200 bg-white p-4 dark:border-stone-800 dark:bg-stone-900">
        <div className="flex flex-col gap-3 sm:flex-row sm:gap-6" data-testid="snapshot-quota">
          <Meter
            label="Snapshots"
            used={quota.usedCount}
            max={quota.maxCount}
            text={`${quota.usedCount} of ${quota.maxCount}`}
          />
          <Meter
            label="Space on the host"
            used={quota.usedBytes}
            max={quota.maxBytes}
            text={`${formatBytes(quota.usedBytes)} of ${formatBytes(quota.maxBytes)}`}
          />
        </div>
        <p className="mt-2 text-xs text-stone-500">
          Your limits across all your VMs; a restore always keeps a safety snapshot of the state it replaces
          (counted, never refused).
          {quota.policy === "approval" ? " Snapshots wait for the admin's approval." : ""}
        </p>

        {canSnapshot ? (
          <form
            className="mt-4 flex flex-col gap-3 sm:flex-row sm:items-end"
            onSubmit={(e) => {
              e.preventDefault();
              take();
            }}
          >
            <label className="flex min-w-0 flex-1 flex-col gap-1 text-sm">
              <span className="font-medium">Label (optional)</span>
              <input
                name="label"
                value={label}
                maxLength={80}
                onChange={(e) => setLabel(e.target.value)}
                placeholder="before the upgrade"
                className="min-h-10 rounded-lg border border-stone-300 bg-white px-3 text-sm outline-none focus-visible:ring-4 focus-visible:ring-teal-600/30 dark:border-stone-700 dark:bg-stone-950"
              />
            </label>
            <label className="flex min-h-10 items-center gap-2 text-sm">
              <input
                type="checkbox"
                name="includeStorage"
                checked={includeStorage}
                onChange={(e) => setIncludeStorage(e.target.checked)}
                className="size-4 accent-teal-700"
              />
              Include storage disk
            </label>
            <Button type="submit" pending={pending} disabled={busy}>
              Take snapshot
            </Button>
          </form>
        ) : null}
        {task ? (
          <div className="mt-4">
            <ProgressBar task={task} />
          </div>
        ) : null}
        {error ? (
          <p role="alert" className="mt-3 text-sm text-red-700 dark:text-red-400">
            {error}
          </p>
        ) : null}
        {notice ? (
          <p role="status" className="mt-3 text-sm text-amber-800 dark:text-amber-300">
            {notice}
          </p>
        ) : null}
      </div>

      {snapshots.length === 0 ? (
        <p className="rounded-xl border border-dashed border-stone-300 px-4 py-6 text-center text-sm text-stone-600 dark:border-stone-700 dark:text-stone-400">
          No snapshots yet.
        </p>
      ) : (
        <ul
          data-testid="snapshot-list"
          className="divide-y divide-stone-200 rounded-xl border border-stone-200 bg-white text-sm dark:divide-stone-800 dark:border-stone-800 dark:bg-stone-900"
        >
          {snapshots.map((s) => (
            <li key={s.id} data-testid="snapshot" data-id={s.id} data-status={s.status} className="px-4 py-3">
              <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
                <span className="min-w-0 break-words font-medium">{s.label}</span>
                <SnapshotStatusBadge status={s.status} />
                {s.kind === "safety" ? (
                  <span className="rounded-full bg-stone-100 px-2 py-0.5 text-xs text-stone-700 dark:bg-stone-800 dark:text-stone-300">
                    safety
                  </span>
                ) : null}
              </div>
              <dl className="mt-1 flex flex-wrap gap-x-4 gap-y-0.5 text-xs text-stone-600 dark:text-stone-400">
                <div>
                  <dt className="sr-only">Taken</dt>
                  <dd>
                    <time dateTime={s.createdAt}>{timeFmt.format(new Date(s.createdAt))} UTC</time>
                  </dd>
                </div>
                <div>
                  <dt className="sr-only">Size on disk</dt>
                  <dd data-testid="snapshot-size">
                    {s.status === "ready" ? `${formatBytes(s.sizeBytes)} on disk` : "—"}
                  </dd>
                </div>
                <div>
                  <dt className="sr-only">Contents</dt>
                  <dd>{s.includesStorage ? "root + storage disks" : "root disk"}</dd>
                </div>
                {s.live !== null ? (
                  <div>
                    <dt className="sr-only">How</dt>
                    <dd>
                      {s.live ? `live, paused ${((s.pauseMs ?? 0) / 1000).toFixed(2)} s` : "VM was stopped"}
                    </dd>
                  </div>
                ) : null}
              </dl>
              {canSnapshot ? (
                <div className="mt-2 flex flex-wrap gap-2">
                  {s.status === "ready" ? (
                    <Button
                      variant="secondary"
                      className="min-h-9 px-3"
                      disabled={busy || pending}
                      onClick={() => setConfirming({ id: s.id, action: "restore" })}
                    >
                      Restore
                    </Button>
                  ) : null}
                  {s.status !== "running" && s.status !== "restoring" && s.status !== "approved" ? (
                    <Button
                      variant="danger"
                      className="min-h-9 px-3"
                      disabled={pending}
                      onClick={() => setConfirming({ id: s.id, action: "delete" })}
                    >
                      Delete
                    </Button>
                  ) : null}
                </div>
              ) : null}
              {confirming?.id === s.id ? (
                <div
                  role="alertdialog"
                  aria-label={confirming.action === "restore" ? "Confirm restore" : "Confirm delete"}
                  className="mt-3 flex flex-col gap-2 rounded-lg border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-900 sm:flex-row sm:items-center sm:justify-between dark:border-red-900 dark:bg-red-950/60 dark:text-red-100"
                >
                  <p>
                    {confirming.action === "restore"
                      ? "Restore this snapshot? The VM shuts down, a safety snapshot of its current disks is kept, the files are put back and the VM starts again. Changes since the snapshot are replaced."
                      : "Delete this snapshot? Its files are removed from the host."}
                  </p>
                  <div className="flex shrink-0 gap-2">
                    <Button variant="danger" onClick={confirm}>
                      {confirming.action === "restore" ? "Yes, restore" : "Yes, delete"}
                    </Button>
                    <Button variant="quiet" onClick={() => setConfirming(null)}>
                      Cancel
                    </Button>
                  </div>
                </div>
              ) : null}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
