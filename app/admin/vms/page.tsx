import type { Metadata } from "next";
import Link from "next/link";
import { signOutAction } from "@/app/actions/auth";
import { provisionVmAction, setMemberVmQuotaAction, setVmQuotaDefaultsAction } from "@/app/actions/vms";
import { MemberVmQuotaForm, VmQuotaDefaultsForm } from "@/components/admin/vm-quota-controls";
import { PageShell } from "@/components/page-shell";
import { LiveVmList } from "@/components/vms/live-vm-list";
import { ProvisionForm } from "@/components/vms/provision-form";
import { TaskList } from "@/components/vms/task-list";
import { vmQuotaText } from "@/components/vms/vm-quota-text";
import { requireAdmin } from "@/server/web/dal/get-session";
import { listHosts } from "@/server/web/dal/hosts";
import { listAllTasks } from "@/server/web/dal/tasks";
import { listProvisionableOwners, listVmsForCaller } from "@/server/web/dal/vms";
import { ensureTaskPipeline } from "@/server/web/tasks/pipeline";
import { getHostFigures } from "@/server/web/vms/host-figures";
import { getHub } from "@/server/web/vms/hub";
import { getVmQuotaAdminView } from "@/server/web/vms/quota";
import { liveFromStatus, unknownLive } from "@/server/web/vms/views";

export const metadata: Metadata = { title: "VMs" };

export default async function AdminVmsPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const caller = await requireAdmin();
  await ensureTaskPipeline();
  const sp = await searchParams;
  const [owners, vms, figures, tasks, hosts, quotas] = await Promise.all([
    listProvisionableOwners(caller),
    listVmsForCaller(caller, { all: true }),
    getHostFigures(caller),
    listAllTasks(caller, 30),
    listHosts(caller),
    getVmQuotaAdminView(caller),
  ]);
  const statusByName = new Map(figures.vms.map((s) => [s.name, s]));
  // A VM on another host is not in this host's list: its own host's agent says (or "unknown").
  const cards = await Promise.all(
    vms.map(async (vm) => {
      const s = statusByName.get(vm.name);
      return {
        name: vm.name,
        owner: vm.ownerUsername,
        image: vm.image,
        memoryMiB: vm.memoryMiB,
        live: s
          ? liveFromStatus(s)
          : await getHub()
              .live(vm.name)
              .catch(() => unknownLive(vm.name)),
      };
    }),
  );
  return (
    <PageShell
      caller={caller}
      signOut={signOutAction}
      title="VMs"
      description="Provision VMs for members; every VM on the host."
    >
      <section aria-labelledby="provision-heading">
        <h2 id="provision-heading" className="text-lg font-medium">
          Provision a VM
        </h2>
        <div className="mt-3">
          <ProvisionForm
            provision={provisionVmAction}
            owners={owners}
            images={figures.images.map((i) => ({ name: i.name, sizeBytes: i.sizeBytes }))}
            overcommit={figures.overcommit}
            defaultOwnerId={typeof sp.owner === "string" ? sp.owner : undefined}
            hosts={hosts.filter((h) => h.state === "joined").map((h) => h.name)}
          />
        </div>
        <p className="mt-2 text-xs text-stone-500">
          Host figures on the{" "}
          <Link href="/admin/host" className="underline underline-offset-4">
            host page
          </Link>
          .
        </p>
      </section>
      <section aria-labelledby="all-vms-heading" className="mt-10">
        <h2 id="all-vms-heading" className="text-lg font-medium">
          Every VM <span className="text-stone-500">({cards.length})</span>
        </h2>
        <LiveVmList
          vms={cards}
          showOwner
          empty={
            <p className="mt-3 rounded-xl border border-dashed border-stone-300 px-4 py-6 text-center text-sm text-stone-600 dark:border-stone-700 dark:text-stone-400">
              No VM yet.
            </p>
          }
        />
      </section>
      {vms.length ? (
        <section aria-labelledby="manage-heading" className="mt-10">
          <h2 id="manage-heading" className="text-lg font-medium">
            Settings
          </h2>
          <p className="mt-1 text-sm text-stone-600 dark:text-stone-400">
            Memory, storage, owner, autostart and destroy, per VM.
          </p>
          <ul className="mt-3 divide-y divide-stone-100 rounded-xl border border-stone-200 bg-white dark:divide-stone-800 dark:border-stone-800 dark:bg-stone-900">
            {vms.map((vm) => (
              <li
                key={vm.name}
                aria-label={`Settings of ${vm.name}`}
                className="flex flex-wrap items-center gap-x-4 gap-y-1 px-4 py-3 text-sm"
              >
                <span className="min-w-[8rem] font-mono font-medium">{vm.name}</span>
                <span className="text-stone-600 dark:text-stone-400">{vm.ownerUsername}</span>
                <span className="tabular-nums text-stone-600 dark:text-stone-400">
                  {vm.memoryMiB} MiB · {vm.storageGiB} GiB
                </span>
                <span className="text-stone-600 dark:text-stone-400">
                  {vm.autostart ? "autostart" : "manual start"}
                </span>
                <Link
                  href={`/admin/vms/${vm.name}`}
                  aria-label={`Manage ${vm.name}`}
                  className="ml-auto inline-flex min-h-10 items-center rounded-lg border border-stone-300 px-4 font-medium text-stone-800 hover:bg-stone-100 dark:border-stone-700 dark:text-stone-100 dark:hover:bg-stone-800"
                >
                  Manage
                </Link>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      <section aria-labelledby="vm-quotas-heading" className="mt-10 space-y-3">
        <h2 id="vm-quotas-heading" className="text-lg font-medium">
          Members&apos; VM limits
        </h2>
        <VmQuotaDefaultsForm defaults={quotas.defaults} save={setVmQuotaDefaultsAction} />
        <ul className="divide-y divide-stone-200 rounded-xl border border-stone-200 bg-white text-sm dark:divide-stone-800 dark:border-stone-800 dark:bg-stone-900">
          {quotas.members.map((m) => (
            <li
              key={m.id}
              data-testid="member-vm-quota"
              data-username={m.username}
              className="flex flex-col gap-2 px-4 py-3 lg:flex-row lg:items-center lg:justify-between"
            >
              <div>
                <p className="font-medium">{m.username}</p>
                <p className="text-xs tabular-nums text-stone-600 dark:text-stone-400">
                  {vmQuotaText(m.quota, { marks: true })}
                </p>
              </div>
              <MemberVmQuotaForm
                userId={m.id}
                username={m.username}
                own={m.own}
                save={setMemberVmQuotaAction}
              />
            </li>
          ))}
        </ul>
      </section>
      <section aria-labelledby="all-tasks-heading" className="mt-10">
        <h2 id="all-tasks-heading" className="text-lg font-medium">
          Recent tasks
        </h2>
        <TaskList tasks={tasks} showVm />
      </section>
    </PageShell>
  );
}
