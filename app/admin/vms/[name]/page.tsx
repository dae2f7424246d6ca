import type { Metadata } from "next";
import Link from "next/link";
import { notFound } from "next/navigation";
import { signOutAction } from "@/app/actions/auth";
import { setVmNetworkAction } from "@/app/actions/network";
import {
  changeVmOwnerAction,
  destroyVmAction,
  growVmStorageAction,
  moveVmAction,
  setVmAutostartAction,
  setVmMemoryAction,
} from "@/app/actions/vms";
import { VmNetworkForm } from "@/components/admin/network-controls";
import { VmManage } from "@/components/admin/vm-manage";
import { PageShell } from "@/components/page-shell";
import { addressChangeNotice } from "@/components/vms/network-view";
import { countVmSnapshots } from "@/server/web/dal/count-vm-snapshots";
import { requireAdmin } from "@/server/web/dal/get-session";
import { listHosts } from "@/server/web/dal/hosts";
import { getVmForCaller, listProvisionableOwners, type VmRow } from "@/server/web/dal/vms";
import { ActionFailure } from "@/server/web/errors";
import { ensureTaskPipeline } from "@/server/web/tasks/pipeline";
import { pageLive } from "@/server/web/vms/hub";
import { getVmNetwork } from "@/server/web/vms/network";

export async function generateMetadata({ params }: { params: Promise<{ name: string }> }): Promise<Metadata> {
  const { name } = await params;
  return { title: `Manage ${name}` };
}

export default async function ManageVmPage({ params }: { params: Promise<{ name: string }> }) {
  const caller = await requireAdmin();
  const { name } = await params;
  let vm: VmRow;
  try {
    vm = await getVmForCaller(caller, name);
  } catch (e) {
    if (e instanceof ActionFailure && e.code === "not-found") notFound();
    throw e;
  }
  await ensureTaskPipeline();
  const [live, owners, snapshotCount, network, hosts] = await Promise.all([
    pageLive(vm.name),
    listProvisionableOwners(caller),
    countVmSnapshots(caller, vm.name),
    getVmNetwork(caller, vm.name),
    listHosts(caller),
  ]);
  return (
    <PageShell
      caller={caller}
      signOut={signOutAction}
      title={`Manage ${vm.name}`}
      description={`${vm.image} · ${vm.memoryMiB} MiB memory · ${vm.storageGiB} GiB storage · ${vm.swapMiB} MiB swap`}
    >
      <p className="-mt-3 mb-5 text-sm">
        <Link
          href="/admin/vms"
          className="text-teal-800 underline-offset-4 hover:underline dark:text-teal-300"
        >
          ← Every VM
        </Link>
      </p>
      <VmManage
        vm={{
          name: vm.name,
          ownerId: vm.ownerId,
          ownerUsername: vm.ownerUsername,
          memoryMiB: vm.memoryMiB,
          storageGiB: vm.storageGiB,
          autostart: vm.autostart,
          snapshotCount,
          host: vm.host,
        }}
        hosts={["local", ...hosts.filter((h) => h.state === "joined").map((h) => h.name)]}
        live={live}
        owners={owners.map(({ id, username, name }) => ({ id, username, name }))}
        actions={{
          setMemory: setVmMemoryAction,
          setAutostart: setVmAutostartAction,
          growStorage: growVmStorageAction,
          changeOwner: changeVmOwnerAction,
          move: moveVmAction,
          destroy: destroyVmAction,
        }}
      />
      <section aria-labelledby="vm-network-heading" className="mt-10">
        <h2 id="vm-network-heading" className="text-lg font-medium">
          Network
        </h2>
        {network.state === "on" ? (
          <div className="mt-3 rounded-xl border border-stone-200 bg-white p-4 dark:border-stone-800 dark:bg-stone-900">
            <VmNetworkForm
              name={vm.name}
              ipv4={network.vm.ipv4}
              rateLimitKbit={network.vm.rateLimitKbit}
              pool={`${network.pool.first}–${network.pool.last}`}
              save={setVmNetworkAction}
            />
            {network.vm.appliesAtNextBoot ? (
              <p className="mt-3 text-sm text-stone-600 dark:text-stone-400" data-testid="vm-address-pending">
                {addressChangeNotice(network.vm)}
              </p>
            ) : null}
          </div>
        ) : (
          <p className="mt-3 text-sm text-stone-600 dark:text-stone-400" data-testid="vm-network-off">
            {network.state === "off"
              ? "Networking is off on this host: the VM has no network address."
              : "The host did not answer; try again soon."}
          </p>
        )}
      </section>
    </PageShell>
  );
}
