import type { Metadata } from "next";
import { signOutAction } from "@/app/actions/auth";
import { AdminOverview } from "@/components/admin/admin-overview";
import { PageShell } from "@/components/page-shell";
import { LiveVmList } from "@/components/vms/live-vm-list";
import { vmQuotaText } from "@/components/vms/vm-quota-text";
import { can } from "@/server/web/auth/permissions";
import { requireUser } from "@/server/web/dal/get-session";
import { listVmsForCaller } from "@/server/web/dal/vms";
import { ensureTaskPipeline } from "@/server/web/tasks/pipeline";
import { getAdminOverview } from "@/server/web/vms/admin-overview";
import { pageLive } from "@/server/web/vms/hub";
import { getOwnVmQuota } from "@/server/web/vms/quota";

export const metadata: Metadata = { title: "Dashboard" };

export default async function DashboardPage() {
  const caller = await requireUser();
  await ensureTaskPipeline();
  // The admin lands on what needs attention; a member's dashboard is their VMs.
  const isAdmin = caller.status === "active" && can(caller.role, "host.read");
  const [vms, overview, quota] = await Promise.all([
    listVmsForCaller(caller),
    isAdmin ? getAdminOverview(caller) : Promise.resolve(null),
    isAdmin ? Promise.resolve(null) : getOwnVmQuota(caller),
  ]);
  const cards = await Promise.all(
    vms.map(async (vm) => ({
      name: vm.name,
      owner: vm.ownerUsername,
      image: vm.image,
      memoryMiB: vm.memoryMiB,
      live: await pageLive(vm.name),
    })),
  );
  const yourVms = (
    <section aria-labelledby="vms-heading" className={overview ? "mt-10" : undefined}>
      <h2 id="vms-heading" className="text-lg font-medium">
        Your VMs
      </h2>
      <LiveVmList
        vms={cards}
        empty={
          <div className="mt-3 rounded-xl border border-dashed border-stone-300 px-6 py-10 text-center text-sm text-stone-600 dark:border-stone-700 dark:text-stone-400">
            You have no VM yet. The admin provisions it for you.
          </div>
        }
      />
      {quota ? (
        <p
          className="mt-3 text-xs tabular-nums text-stone-600 dark:text-stone-400"
          data-testid="own-vm-quota"
        >
          Your limits: {vmQuotaText(quota)}. Ask the admin for more.
        </p>
      ) : null}
    </section>
  );
  if (overview) {
    return (
      <PageShell
        caller={caller}
        signOut={signOutAction}
        title={`Hello, ${caller.name}`}
        description="The host at a glance: what waits for you, and how much room is left."
      >
        <AdminOverview data={overview} />
        {cards.length ? yourVms : null}
      </PageShell>
    );
  }
  return (
    <PageShell
      caller={caller}
      signOut={signOutAction}
      title={`Hello, ${caller.name}`}
      description="Your virtual machines on this server."
    >
      {yourVms}
    </PageShell>
  );
}
