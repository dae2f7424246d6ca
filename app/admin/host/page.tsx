import type { Metadata } from "next";
import { signOutAction } from "@/app/actions/auth";
import { resumeVmAction, setBootLogRetentionAction, setDiskReserveAction } from "@/app/actions/host";
import {
  BootLogRetentionForm,
  DiskReserveForm,
  ResumeVmButton,
} from "@/components/admin/host-space-controls";
import { PageShell } from "@/components/page-shell";
import { Cell, stackedTable } from "@/components/stacked-table";
import { VmStateBadge } from "@/components/vms/vm-state-badge";
import { requireAdmin } from "@/server/web/dal/get-session";
import { listHosts } from "@/server/web/dal/hosts";
import { listWebInstances } from "@/server/web/dal/instances";
import { listVmsForCaller } from "@/server/web/dal/vms";
import { INSTANCE_TTL_MS, instanceId } from "@/server/web/instances";
import { getHostFigures } from "@/server/web/vms/host-figures";
import { getHostNetwork } from "@/server/web/vms/network";
import { gib, overcommitWarnings } from "@/server/web/vms/overcommit";

export const metadata: Metadata = { title: "Host" };

function Card({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <div className="rounded-xl border border-stone-200 bg-white p-4 dark:border-stone-800 dark:bg-stone-900">
      <h3 className="text-sm font-medium text-stone-500">{title}</h3>
      <div className="mt-2 space-y-1 text-sm">{children}</div>
    </div>
  );
}

function Row({ label, value, testId }: { label: string; value: React.ReactNode; testId?: string }) {
  return (
    <p className="flex justify-between gap-4">
      <span className="text-stone-600 dark:text-stone-400">{label}</span>
      <span className="tabular-nums font-medium" data-testid={testId}>
        {value}
      </span>
    </p>
  );
}

function mib(bytes: number): string {
  return `${Math.round(bytes / 1024 ** 2)} MiB`;
}

function reserveText(setting: { percent: number } | { bytes: number }, bytes: number): string {
  return "percent" in setting ? `${gib(bytes)} GiB (${setting.percent}% of the disk)` : `${gib(bytes)} GiB`;
}

function duration(s: number): string {
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h} h ${m} min` : `${m} min ${Math.floor(s % 60)} s`;
}

type LocalFigures = { version: string; ramMiB: number; swapMiB: number; diskFreeBytes: number } | null;

function HostList({
  hosts,
  current,
  localVms,
  local,
}: {
  hosts: Awaited<ReturnType<typeof listHosts>>;
  current: string;
  localVms: number;
  /** The panel's own host's figures when this page shows it (else its row links to them). */
  local: LocalFigures;
}) {
  const link = "text-teal-800 underline-offset-4 hover:underline dark:text-teal-300";
  return (
    <section aria-labelledby="hosts-heading" className="mb-8">
      <h2 id="hosts-heading" className="text-lg font-medium">
        Hosts
      </h2>
      <div className={`mt-3 ${stackedTable.wrapper}`}>
        <table className={`${stackedTable.table} md:min-w-[32rem]`} aria-label="Hosts">
          <thead
            className={`${stackedTable.thead} border-b border-stone-200 text-xs uppercase tracking-wide text-stone-500 dark:border-stone-800`}
          >
            <tr>
              {["Host", "Address", "State", "Agent", "RAM", "Swap", "Disk free", "VMs"].map((h) => (
                <th key={h} scope="col" className="px-4 py-2 font-medium">
                  {h}
                </th>
              ))}
            </tr>
          </thead>
          <tbody className={`${stackedTable.tbody} divide-y divide-stone-200 dark:divide-stone-800`}>
            <tr className={stackedTable.tr}>
              <Cell label="Host" className="font-mono">
                <a
                  href="/admin/host"
                  className={link}
                  aria-current={current === "local" ? "page" : undefined}
                >
                  local
                </a>
              </Cell>
              <Cell label="Address">this host (Unix socket)</Cell>
              <Cell label="State">{local ? "up" : current === "local" ? "unreachable" : "see its page"}</Cell>
              <Cell label="Agent">{local?.version ?? "—"}</Cell>
              <Cell label="RAM" className="tabular-nums">
                {local ? `${local.ramMiB} MiB` : "—"}
              </Cell>
              <Cell label="Swap" className="tabular-nums">
                {local ? `${local.swapMiB} MiB` : "—"}
              </Cell>
              <Cell label="Disk free" className="tabular-nums">
                {local ? `${gib(local.diskFreeBytes)} GiB` : "—"}
              </Cell>
              <Cell label="VMs" className="tabular-nums">
                {localVms}
              </Cell>
            </tr>
            {hosts.map((h) => (
              <tr key={h.name} className={stackedTable.tr} data-testid={`host-row-${h.name}`}>
                <Cell label="Host" className="font-mono">
                  <a
                    href={`/admin/host?host=${h.name}`}
                    className={link}
                    aria-current={current === h.name ? "page" : undefined}
                  >
                    {h.name}
                  </a>
                </Cell>
                <Cell label="Address" className="font-mono text-xs">
                  {h.address}:{h.port}
                </Cell>
                <Cell label="State">
                  <span data-testid={`host-state-${h.name}`}>
                    {h.state === "pending"
                      ? "waiting to join"
                      : h.reachability === "unreachable"
                        ? "unreachable"
                        : h.reachability === "incompatible"
                          ? `refused: protocol ${h.protocolVersion ?? "?"} not spoken here`
                          : h.reachability === "up"
                            ? "up"
                            : "not checked yet"}
                  </span>
                  {h.lastError && h.reachability !== "up" ? (
                    <span className="block text-xs text-stone-500">{h.lastError}</span>
                  ) : null}
                </Cell>
                <Cell label="Agent">{h.agentVersion ?? "—"}</Cell>
                <Cell label="RAM" className="tabular-nums">
                  {h.ramMiB === null ? "—" : `${h.ramMiB} MiB`}
                </Cell>
                <Cell label="Swap" className="tabular-nums">
                  {h.swapMiB === null ? "—" : `${h.swapMiB} MiB`}
                </Cell>
                <Cell label="Disk free" className="tabular-nums">
                  {h.diskFreeMiB === null ? "—" : `${gib(h.diskFreeMiB * 2 ** 20)} GiB`}
                </Cell>
                <Cell label="VMs" className="tabular-nums">
                  {h.vms}
                </Cell>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="mt-2 text-sm text-stone-600 dark:text-stone-400">
        Add a host with <code>zaphod host add NAME ADDRESS</code> on this host, then run the join it prints on
        the new one.
      </p>
    </section>
  );
}

export default async function HostPage({
  searchParams,
}: {
  searchParams: Promise<{ host?: string | string[] }>;
}) {
  const caller = await requireAdmin();
  const hosts = await listHosts(caller);
  const asked = (await searchParams).host;
  const current = typeof asked === "string" && hosts.some((h) => h.name === asked) ? asked : "local";
  const [figures, network, webInstances] = await Promise.all([
    getHostFigures(caller, current),
    getHostNetwork(caller, current),
    listWebInstances(caller, INSTANCE_TTL_MS),
  ]);
  const thisInstance = instanceId();
  const rows = await listVmsForCaller(caller, { all: true }); // every VM the caller may see: the owners
  const localVms = rows.length - hosts.reduce((n, h) => n + h.vms, 0);
  const ownerOf = new Map(rows.map((r) => [r.name, r.ownerUsername]));
  const { health, overcommit } = figures;
  const warnings = overcommit ? overcommitWarnings(overcommit) : null;
  const paused = figures.vms.filter((v) => v.state === "running" && v.pausedForSpace);
  const belowReserve = health ? health.host.dataDiskFreeBytes < health.host.dataDiskReserveBytes : false;
  return (
    <PageShell
      caller={caller}
      signOut={signOutAction}
      title={current === "local" ? "Host" : `Host ${current}`}
      description="The host's memory, disk and its free-space reserve, the agent; every VM on it and what it uses on the host."
    >
      {hosts.length > 0 ? (
        <HostList
          hosts={hosts}
          current={current}
          localVms={localVms}
          local={
            current === "local" && health && overcommit
              ? {
                  version: health.agentVersion,
                  ramMiB: overcommit.hostRamMiB,
                  swapMiB: overcommit.hostSwapMiB,
                  diskFreeBytes: overcommit.diskFreeBytes,
                }
              : null
          }
        />
      ) : null}
      {!figures.reachable || !health || !overcommit ? (
        <p
          role="alert"
          data-testid="host-unreachable"
          className="rounded-lg border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800 dark:border-red-900 dark:bg-red-950/60 dark:text-red-200"
        >
          {current === "local" ? "The host agent" : `The agent of host ${current}`} is not reachable. Its VMs
          keep running and show as unknown; the panel cannot act on them until it is back
          {hosts.length > 0 ? ", and the other hosts are unaffected" : ""}.
        </p>
      ) : (
        <>
          {paused.length || belowReserve ? (
            <div
              role="alert"
              data-testid="space-notice"
              className="mb-4 space-y-2 rounded-lg border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800 dark:border-red-900 dark:bg-red-950/60 dark:text-red-200"
            >
              <p className="font-medium">
                {belowReserve
                  ? `The data disk has ${gib(health.host.dataDiskFreeBytes)} GiB free, below its ${gib(health.host.dataDiskReserveBytes)} GiB reserve.`
                  : "The data disk is back above its reserve; paused VMs resume once it is above the reserve plus a margin."}{" "}
                {paused.length
                  ? `${paused.length} VM${paused.length === 1 ? " is" : "s are"} paused because ${paused.length === 1 ? "it was" : "they were"} writing. Free space on the host (nothing of the members' is deleted) or resume a VM; one that keeps writing below the reserve is paused again.`
                  : "No VM is paused: none was writing."}
              </p>
              <ul className="space-y-2">
                {paused.map((v) => (
                  <li key={v.name} className="flex flex-wrap items-center justify-between gap-2">
                    <span>
                      <span className="font-mono">{v.name}</span> ({ownerOf.get(v.name) ?? v.owner}):{" "}
                      {v.pausedForSpace?.reason}
                    </span>
                    <ResumeVmButton name={v.name} resume={resumeVmAction} />
                  </li>
                ))}
              </ul>
            </div>
          ) : null}
          {warnings?.memory || warnings?.disk ? (
            <div
              role="alert"
              className="mb-4 space-y-1 rounded-lg border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-900 dark:border-amber-800 dark:bg-amber-950/60 dark:text-amber-100"
            >
              {warnings.memory ? <p>{warnings.memory}</p> : null}
              {warnings.disk ? <p>{warnings.disk}</p> : null}
            </div>
          ) : null}
          {health.privileged ? null : (
            <div
              role="alert"
              data-testid="unprivileged-notice"
              className="mb-4 rounded-lg border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-900 dark:border-amber-800 dark:bg-amber-950/60 dark:text-amber-100"
            >
              The agent runs without root: every VM runs as the agent&apos;s own host user, unconfined (no
              host user per member, nothing between the VMs). Run <code>scripts/up.sh</code> as root or with
              sudo for the production shape.
            </div>
          )}
          <div className="grid grid-cols-1 gap-3 sm:grid-cols-2 lg:grid-cols-3">
            <Card title="Agent">
              <Row label="Status" value="reachable" testId="agent-status" />
              <Row label="Version" value={health.agentVersion} />
              <Row label="Uptime" value={duration(health.uptimeSeconds)} />
              <Row label="Mode" value={health.privileged ? "root (user per member)" : "unprivileged"} />
              <Row
                label="VM confinement"
                value={
                  health.confined
                    ? "sandbox, netns, cgroup"
                    : health.privileged
                      ? "off (ZAPHOD_CONFINE=off)"
                      : "none"
                }
                testId="vm-confinement"
              />
              <Row label="VMs running" value={`${health.vms.running} of ${health.vms.total}`} />
            </Card>
            <Card title="Memory">
              <Row label="RAM" value={`${overcommit.hostRamMiB} MiB`} testId="host-ram" />
              <Row label="Available" value={`${Math.round(health.host.memAvailableKiB / 1024)} MiB`} />
              <Row
                label="Swap"
                value={`${overcommit.hostSwapMiB} MiB (${Math.round(health.host.swapFreeKiB / 1024)} free)`}
              />
              <Row label="VMs' memory" value={`${overcommit.vmMemoryMiB} MiB`} testId="vm-memory-total" />
              <Row
                label="of RAM + swap"
                value={`${((overcommit.vmMemoryMiB / Math.max(1, overcommit.hostRamMiB + overcommit.hostSwapMiB)) * 100).toFixed(0)}%`}
              />
            </Card>
            <Card title="Disk (data directory)">
              <Row label="Size" value={`${gib(overcommit.diskTotalBytes)} GiB`} />
              <Row label="Free" value={`${gib(overcommit.diskFreeBytes)} GiB`} testId="disk-free" />
              <Row
                label="Reserve"
                value={reserveText(health.host.dataDiskReserve, health.host.dataDiskReserveBytes)}
                testId="disk-reserve"
              />
              <Row
                label="Free above the reserve"
                value={`${gib(Math.max(0, overcommit.diskFreeBytes - overcommit.diskReserveBytes))} GiB`}
                testId="disk-room"
              />
              <Row label="VM disks, provisioned" value={`${gib(overcommit.diskProvisionedBytes)} GiB`} />
              <Row label="VM disks, allocated" value={`${gib(overcommit.diskAllocatedBytes)} GiB`} />
              {current === "local" ? (
                <DiskReserveForm reserve={health.host.dataDiskReserve} save={setDiskReserveAction} />
              ) : null}
              <BootLogRetentionForm
                host={current}
                keep={health.bootLogsKept}
                save={setBootLogRetentionAction}
              />
            </Card>
            <Card title="Web instances">
              <ul aria-label="Web instances" className="space-y-1">
                {webInstances.map((w) => (
                  <li key={w.id} className="flex justify-between gap-4">
                    <span className="min-w-0 truncate font-mono text-xs">
                      {w.id}
                      {w.id === thisInstance ? " (this page)" : ""}
                    </span>
                    <span className="shrink-0 text-stone-600 dark:text-stone-400">
                      {w.following ? `follows ${w.following} task${w.following === 1 ? "" : "s"}` : "idle"}
                    </span>
                  </li>
                ))}
              </ul>
              {webInstances.length === 0 ? (
                <p className="text-stone-600 dark:text-stone-400">None has beaten yet.</p>
              ) : null}
            </Card>
            <Card title="Network">
              {network.state === "on" ? (
                <>
                  <Row label="Mode" value={network.info.settings.mode} />
                  <Row
                    label="Pool in use"
                    value={`${network.info.poolUsed} of ${network.info.poolSize}`}
                    testId="host-pool-use"
                  />
                  <Row label="Subnet" value={network.info.settings.ipv4Subnet} />
                  <Row label="Forwards" value={network.info.forwards.length} />
                </>
              ) : (
                <p className="text-stone-600 dark:text-stone-400" data-testid="host-pool-use">
                  {network.state === "off" ? "Off: VMs get no network device." : "The agent did not answer."}
                </p>
              )}
              {current === "local" ? (
                <p>
                  <a
                    href="/admin/network"
                    className="text-teal-800 underline-offset-4 hover:underline dark:text-teal-300"
                  >
                    Network settings
                  </a>
                </p>
              ) : (
                <p className="text-stone-600 dark:text-stone-400">
                  Set by this host&apos;s agent (its <span className="font-mono">ZAPHOD_NET_*</span>).
                </p>
              )}
            </Card>
          </div>
        </>
      )}
      <section aria-labelledby="host-vms-heading" className="mt-10">
        <h2 id="host-vms-heading" className="text-lg font-medium">
          VMs on the host
        </h2>
        <div className={`mt-3 ${stackedTable.wrapper}`}>
          <table className={`${stackedTable.table} md:min-w-[32rem]`}>
            <thead
              className={`${stackedTable.thead} border-b border-stone-200 text-xs uppercase tracking-wide text-stone-500 dark:border-stone-800`}
            >
              <tr>
                <th scope="col" className="px-4 py-2 font-medium">
                  VM
                </th>
                <th scope="col" className="px-4 py-2 font-medium">
                  Owner
                </th>
                <th scope="col" className="px-4 py-2 font-medium">
                  State
                </th>
                <th scope="col" className="px-4 py-2 text-right font-medium">
                  Memory
                </th>
                <th scope="col" className="px-4 py-2 text-right font-medium">
                  Disk used
                </th>
                <th scope="col" className="px-4 py-2 text-right font-medium">
                  <abbr title="What the VM's cgroup is charged on the host: the UML processes and the guest-RAM tmpfs, against its limit (confined VMs only)">
                    Host RAM incl. RAM tmpfs
                  </abbr>
                </th>
                <th scope="col" className="px-4 py-2 text-right font-medium">
                  Processes
                </th>
              </tr>
            </thead>
            <tbody className={`${stackedTable.tbody} divide-y divide-stone-200 dark:divide-stone-800`}>
              {figures.vms.map((v) => (
                <tr key={v.name} className={stackedTable.tr}>
                  <Cell label="VM" className="font-mono">
                    <a
                      href={`/vms/${v.name}`}
                      className="text-teal-800 underline-offset-4 hover:underline dark:text-teal-300"
                    >
                      {v.name}
                    </a>
                  </Cell>
                  <Cell label="Owner">
                    {ownerOf.get(v.name) ?? <span className="text-stone-500">not in the panel</span>}
                  </Cell>
                  <Cell label="State">
                    <VmStateBadge live={v} />
                  </Cell>
                  <Cell label="Memory" className="text-right tabular-nums">
                    {v.memoryMiB} MiB
                  </Cell>
                  <Cell label="Disk used" className="text-right tabular-nums">
                    {gib(v.disks.reduce((n, d) => n + d.allocatedBytes, 0))} /{" "}
                    {gib(v.disks.reduce((n, d) => n + d.apparentBytes, 0))} GiB
                  </Cell>
                  <Cell label="Host RAM incl. RAM tmpfs" className="text-right tabular-nums">
                    <span data-testid={`host-use-${v.name}`}>
                      {v.hostUse
                        ? `${mib(v.hostUse.memoryBytes)} / ${v.hostUse.memoryLimitBytes ? mib(v.hostUse.memoryLimitBytes) : "no limit"}`
                        : v.pid === null
                          ? "—"
                          : "not confined"}
                    </span>
                  </Cell>
                  <Cell label="Processes" className="text-right tabular-nums">
                    {v.hostUse ? `${v.hostUse.pids} / ${v.hostUse.pidsMax ?? "no limit"}` : "—"}
                  </Cell>
                </tr>
              ))}
              {figures.vms.length === 0 ? (
                <tr className="max-md:block">
                  <td colSpan={7} className="block px-4 py-6 text-center text-stone-500 md:table-cell">
                    No VM on the host.
                  </td>
                </tr>
              ) : null}
            </tbody>
          </table>
        </div>
      </section>
    </PageShell>
  );
}
