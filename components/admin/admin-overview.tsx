import Link from "next/link";
import { formatBytes } from "@/components/snapshots/snapshot-status-badge";
import { taskTitle } from "@/components/vms/words";
import type { AdminOverviewData } from "@/server/web/vms/admin-overview";

const timeFmt = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "UTC",
});

/** Below these shares of free host memory / data disk, the overview flags the host. */
const LOW_MEMORY = 0.15;
const LOW_DISK = 0.1;

const linkClass = "font-medium text-teal-800 underline-offset-4 hover:underline dark:text-teal-300";

/** The admin's landing page: what needs attention first, then the host's headroom. */
export function AdminOverview({ data }: { data: AdminOverviewData }) {
  const { pending, waiting, crashed, pausedForSpace, failedTasks, host } = data;
  const memLow = host ? host.memAvailableMiB < host.memTotalMiB * LOW_MEMORY : false;
  const diskLow = host ? host.diskFreeBytes < host.diskTotalBytes * LOW_DISK : false;
  const items = pending.length + waiting.length + crashed.length + pausedForSpace.length + failedTasks.length;
  return (
    <div className="space-y-8">
      <section aria-labelledby="attention-heading">
        <h2 id="attention-heading" className="text-lg font-medium">
          Needs attention{" "}
          <span className="text-stone-500">({items + (memLow ? 1 : 0) + (diskLow ? 1 : 0)})</span>
        </h2>
        {items === 0 && !memLow && !diskLow && host?.reachable !== false ? (
          <p className="mt-3 rounded-xl border border-dashed border-stone-300 px-4 py-6 text-center text-sm text-stone-600 dark:border-stone-700 dark:text-stone-400">
            Nothing waits for you: no requests, no VM at a console prompt, no failed task in the last day.
          </p>
        ) : (
          <ul className="mt-3 space-y-3">
            {host && !host.reachable ? (
              <Item tone="error" title="The host agent does not answer">
                VM states and host figures are unknown. See the{" "}
                <Link href="/admin/host" className={linkClass}>
                  host page
                </Link>
                .
              </Item>
            ) : null}
            {pending.length ? (
              <Item
                tone="warn"
                title={`${pending.length} account request${pending.length === 1 ? "" : "s"} waiting`}
              >
                {pending
                  .slice(0, 5)
                  .map((p) => p.username)
                  .join(", ")}
                {pending.length > 5 ? ", …" : ""} ·{" "}
                <Link href="/admin/accounts" className={linkClass}>
                  Review requests
                </Link>
              </Item>
            ) : null}
            {waiting.map((vm) => (
              <Item key={`w-${vm.name}`} tone="warn" title={`${vm.name} is waiting at its console`}>
                {vm.detail ? `${vm.detail} · ` : ""}owner {vm.owner} ·{" "}
                <Link href={`/vms/${vm.name}/console`} className={linkClass}>
                  Open the console
                </Link>
              </Item>
            ))}
            {pausedForSpace.map((vm) => (
              <Item
                key={`p-${vm.name}`}
                tone="error"
                title={`${vm.name} is paused: the host's disk is nearly full`}
              >
                {vm.reason} · owner {vm.owner} ·{" "}
                <Link href="/admin/host" className={linkClass}>
                  Free space or resume it on the host page
                </Link>
              </Item>
            ))}
            {crashed.map((vm) => (
              <Item key={`c-${vm.name}`} tone="error" title={`${vm.name} crashed`}>
                owner {vm.owner} ·{" "}
                <Link href={`/vms/${vm.name}`} className={linkClass}>
                  Open the VM
                </Link>
              </Item>
            ))}
            {failedTasks.map((t) => (
              <Item
                key={t.id}
                tone="error"
                title={`${taskTitle(t.kind)}${t.vmName ? ` of ${t.vmName}` : ""} failed`}
              >
                {timeFmt.format(new Date(t.createdAt))} UTC{t.error ? ` · ${t.error}` : ""}
                {t.vmName ? (
                  <>
                    {" · "}
                    <Link href={`/vms/${t.vmName}`} className={linkClass}>
                      Open the VM
                    </Link>
                  </>
                ) : null}
              </Item>
            ))}
            {memLow && host ? (
              <Item tone="warn" title="Host memory is low">
                {host.memAvailableMiB} MiB available of {host.memTotalMiB} MiB
              </Item>
            ) : null}
            {diskLow && host ? (
              <Item tone="warn" title="The data disk is nearly full">
                {formatBytes(host.diskFreeBytes)} free of {formatBytes(host.diskTotalBytes)}
              </Item>
            ) : null}
          </ul>
        )}
      </section>
      {host?.reachable ? (
        <section aria-labelledby="headroom-heading">
          <h2 id="headroom-heading" className="text-lg font-medium">
            Host headroom
          </h2>
          <dl className="mt-3 grid grid-cols-1 gap-3 sm:grid-cols-3">
            <Figure
              label="Memory available"
              value={`${host.memAvailableMiB} MiB`}
              note={`of ${host.memTotalMiB} MiB; VMs are configured for ${host.vmMemoryMiB} MiB`}
              low={memLow}
            />
            <Figure
              label="Data disk free"
              value={formatBytes(host.diskFreeBytes)}
              note={`of ${formatBytes(host.diskTotalBytes)}`}
              low={diskLow}
            />
            <Figure
              label="VMs running"
              value={`${host.vmsRunning} of ${host.vmsTotal}`}
              note={
                <Link href="/admin/vms" className={linkClass}>
                  Every VM
                </Link>
              }
            />
          </dl>
        </section>
      ) : null}
    </div>
  );
}

function Item({
  tone,
  title,
  children,
}: {
  tone: "warn" | "error";
  title: string;
  children: React.ReactNode;
}) {
  const bar =
    tone === "error"
      ? "border-l-red-500 dark:border-l-red-500"
      : "border-l-amber-500 dark:border-l-amber-500";
  return (
    <li
      className={`rounded-xl border border-l-4 border-stone-200 bg-white px-4 py-3 dark:border-stone-800 dark:bg-stone-900 ${bar}`}
    >
      <p className="font-medium">{title}</p>
      <p className="mt-0.5 break-words text-sm text-stone-600 dark:text-stone-400">{children}</p>
    </li>
  );
}

function Figure({
  label,
  value,
  note,
  low,
}: {
  label: string;
  value: string;
  note: React.ReactNode;
  low?: boolean;
}) {
  return (
    <div className="rounded-xl border border-stone-200 bg-white p-4 dark:border-stone-800 dark:bg-stone-900">
      <dt className="text-xs text-stone-500">{label}</dt>
      <dd
        className={`mt-1 text-xl font-semibold tabular-nums ${low ? "text-red-700 dark:text-red-400" : ""}`}
      >
        {value}
      </dd>
      <dd className="mt-0.5 text-sm text-stone-600 dark:text-stone-400">{note}</dd>
    </div>
  );
}
