import type { Metadata } from "next";
import { headers } from "next/headers";
import Link from "next/link";
import { signOutAction } from "@/app/actions/auth";
import { setRootPasswordAction } from "@/app/actions/guest-access";
import { deleteSnapshotAction, restoreSnapshotAction, takeSnapshotAction } from "@/app/actions/snapshots";
import { setBootOnceAction, vmPowerAction } from "@/app/actions/vms";
import { PageShell } from "@/components/page-shell";
import { SnapshotsSection } from "@/components/snapshots/snapshots-section";
import { BootList } from "@/components/vms/boot-list";
import { BootOncePanel } from "@/components/vms/boot-once-panel";
import { GuestAccessPanel } from "@/components/vms/guest-access-panel";
import { NetworkPanel } from "@/components/vms/network-panel";
import { hostNameOf } from "@/components/vms/network-view";
import { VmPanel } from "@/components/vms/vm-panel";
import { historyText } from "@/components/vms/words";
import { can } from "@/server/web/auth/permissions";
import { requireUser } from "@/server/web/dal/get-session";
import { listTasksForVm, listVmAudit } from "@/server/web/dal/tasks";
import { ensureTaskPipeline } from "@/server/web/tasks/pipeline";
import { mayActOn } from "@/server/web/vms/access";
import { getVmBootOnce } from "@/server/web/vms/boot-once";
import { listVmBoots } from "@/server/web/vms/boots";
import { vmGuestAccess } from "@/server/web/vms/guest-access";
import { pageLive } from "@/server/web/vms/hub";
import { getVmNetwork } from "@/server/web/vms/network";
import { vmOr404 } from "./vm-or-404";

export const metadata: Metadata = { title: "VM" };

const timeFmt = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "medium",
  timeZone: "UTC",
});

export default async function VmPage({ params }: { params: Promise<{ name: string }> }) {
  const caller = await requireUser();
  const { name } = await params;
  const vm = await vmOr404(caller, name);
  await ensureTaskPipeline();
  const [live, tasks, audit, access, network, bootOnce, boots] = await Promise.all([
    pageLive(vm.name),
    listTasksForVm(caller, vm.id, 20),
    listVmAudit(caller, vm.id, 20),
    vmGuestAccess(caller, vm.name),
    getVmNetwork(caller, vm.name),
    getVmBootOnce(caller, vm.name),
    listVmBoots(caller, vm.name),
  ]);
  // The host as the member's browser reached the panel: where forwards on every address listen.
  const hostName = hostNameOf((await headers()).get("host"));
  return (
    <PageShell
      caller={caller}
      signOut={signOutAction}
      title={vm.name}
      description={vm.ownerId === caller.id ? "Your virtual machine." : `Owned by ${vm.ownerUsername}.`}
    >
      <p className="-mt-4 mb-4 text-sm">
        <Link href="/" className="text-teal-800 underline-offset-4 hover:underline dark:text-teal-300">
          ← Dashboard
        </Link>
        {can(caller.role, "vm.configure") ? (
          <>
            <span aria-hidden className="mx-2 text-stone-400">
              ·
            </span>
            <Link
              href={`/admin/vms/${vm.name}`}
              className="text-teal-800 underline-offset-4 hover:underline dark:text-teal-300"
            >
              Manage (memory, storage, owner, autostart, destroy)
            </Link>
          </>
        ) : null}
      </p>
      <VmPanel
        vm={{
          name: vm.name,
          owner: vm.ownerUsername,
          image: vm.image,
          memoryMiB: vm.memoryMiB,
          storageGiB: vm.storageGiB,
          swapMiB: vm.swapMiB,
        }}
        initialLive={live}
        initialTasks={tasks}
        // The VM access rule: vm.power on one's own VM, vm.power.any (admins) on a member's.
        canPower={mayActOn(caller, vm, "power")}
        powerAction={vmPowerAction}
        viewer={caller.username}
      >
        <SnapshotsSection
          caller={caller}
          vm={vm}
          actions={{ take: takeSnapshotAction, restore: restoreSnapshotAction, remove: deleteSnapshotAction }}
        />
      </VmPanel>
      {bootOnce ? (
        <BootOncePanel
          vm={vm.name}
          pending={bootOnce.pending}
          booted={bootOnce.booted}
          canSet={mayActOn(caller, vm, "power")}
          setBootOnce={setBootOnceAction}
        />
      ) : null}
      <NetworkPanel data={network} hostKeys={access?.hostKeys ?? null} hostName={hostName} />
      <GuestAccessPanel
        vm={vm.name}
        info={access}
        isOwner={vm.ownerId === caller.id}
        canSetPassword={mayActOn(caller, vm, "access")}
        setPassword={setRootPasswordAction}
      />
      {boots ? (
        <section aria-labelledby="boots-heading" className="mt-8">
          <div className="flex items-baseline justify-between gap-3">
            <h2 id="boots-heading" className="text-lg font-medium">
              Boots
            </h2>
            <Link
              href={`/vms/${vm.name}/boots`}
              className="text-sm text-teal-800 underline-offset-4 hover:underline dark:text-teal-300"
            >
              Every boot ({boots.boots.length}) and its console log
            </Link>
          </div>
          <BootList vm={vm.name} boots={boots.boots.slice(0, 3)} />
        </section>
      ) : null}
      <section aria-labelledby="history-heading" className="mt-8">
        <h2 id="history-heading" className="text-lg font-medium">
          History
        </h2>
        {audit.length === 0 ? (
          <p className="mt-3 text-sm text-stone-600 dark:text-stone-400">Nothing recorded yet.</p>
        ) : (
          <ol
            data-testid="vm-history"
            className="mt-3 divide-y divide-stone-200 rounded-xl border border-stone-200 bg-white text-sm dark:divide-stone-800 dark:border-stone-800 dark:bg-stone-900"
          >
            {audit.map((a) => (
              <li
                key={a.id}
                data-action={a.action}
                data-result={a.result}
                className="flex flex-wrap items-center gap-x-3 gap-y-1 px-4 py-2"
              >
                <span className={a.result === "success" ? "" : "text-red-700 dark:text-red-400"}>
                  {historyText(
                    {
                      action: a.action,
                      result: a.result,
                      actor: { label: a.actor, isAccount: a.actorIsAccount },
                      during: a.during,
                    },
                    caller.username,
                  )}
                </span>
                <time className="ml-auto text-xs text-stone-500">{timeFmt.format(new Date(a.at))} UTC</time>
              </li>
            ))}
          </ol>
        )}
      </section>
    </PageShell>
  );
}
