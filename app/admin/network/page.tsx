import type { Metadata } from "next";
import { signOutAction } from "@/app/actions/auth";
import { addForwardAction, removeForwardAction, setHostNetworkAction } from "@/app/actions/network";
import { HostNetworkForm, PortForwards } from "@/components/admin/network-controls";
import { PageShell } from "@/components/page-shell";
import { requireAdmin } from "@/server/web/dal/get-session";
import { listVmsForCaller } from "@/server/web/dal/vms";
import { getHostNetwork } from "@/server/web/vms/network";

export const metadata: Metadata = { title: "Network" };

function Fact({ label, value, testId }: { label: string; value: React.ReactNode; testId?: string }) {
  return (
    <p className="flex flex-wrap justify-between gap-x-4">
      <span className="text-stone-600 dark:text-stone-400">{label}</span>
      <span className="min-w-0 break-all font-medium tabular-nums" data-testid={testId}>
        {value}
      </span>
    </p>
  );
}

const card = "rounded-xl border border-stone-200 bg-white p-4 dark:border-stone-800 dark:bg-stone-900";

export default async function NetworkPage() {
  const caller = await requireAdmin();
  const [host, vms] = await Promise.all([getHostNetwork(caller), listVmsForCaller(caller, { all: true })]);
  return (
    <PageShell
      caller={caller}
      signOut={signOutAction}
      title="Network"
      description="The VMs' network on the host: its bridge, subnet and address pool, how VMs reach out, and the ports forwarded to VMs."
    >
      {host.state === "unreachable" ? (
        <p
          role="alert"
          className="rounded-lg border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800 dark:border-red-900 dark:bg-red-950/60 dark:text-red-200"
        >
          The host agent is not reachable. The network keeps running; the panel cannot show or change it until
          the agent is back.
        </p>
      ) : host.state === "off" ? (
        <p
          data-testid="network-off"
          className="rounded-lg border border-stone-200 bg-white px-4 py-3 text-sm dark:border-stone-800 dark:bg-stone-900"
        >
          Networking is off on this host: VMs get no network device, and the console is the way in. Set{" "}
          <code>ZAPHOD_NET_NETNS</code> in the agent&apos;s configuration (<code>host</code> for the
          host&apos;s own network namespace) and restart it to turn it on.
        </p>
      ) : (
        <div className="space-y-8">
          <div className="grid grid-cols-1 gap-3 sm:grid-cols-2">
            <div className={card}>
              <h2 className="text-sm font-medium text-stone-500">Bridge</h2>
              <div className="mt-2 space-y-1 text-sm">
                <Fact label="Bridge" value={host.info.bridge} testId="network-bridge" />
                <Fact
                  label="Network namespace"
                  value={host.info.netns ?? "the host's own"}
                  testId="network-netns"
                />
                <Fact label="Mode" value={host.info.settings.mode} testId="network-mode" />
                <Fact label="Gateway" value={host.info.settings.gateway} />
              </div>
            </div>
            <div className={card}>
              <h2 className="text-sm font-medium text-stone-500">Address pool</h2>
              <div className="mt-2 space-y-1 text-sm">
                <Fact
                  label="Range"
                  value={`${host.info.settings.poolFirst} – ${host.info.settings.poolLast}`}
                />
                <Fact
                  label="In use"
                  value={`${host.info.poolUsed} of ${host.info.poolSize}`}
                  testId="network-pool-use"
                />
                <Fact
                  label="Forwards"
                  value={`${host.info.forwardMode === "relay" ? "relayed by the agent" : "nftables DNAT"} on ${host.info.forwardAddress}`}
                />
              </div>
            </div>
          </div>
          <section aria-labelledby="settings-heading">
            <h2 id="settings-heading" className="text-lg font-medium">
              Settings
            </h2>
            <p className="mt-1 text-sm text-stone-600 dark:text-stone-400">
              Applied at once; the host refuses a subnet or pool that leaves out an address a VM has.
            </p>
            <div className={`mt-3 ${card}`}>
              <HostNetworkForm settings={host.info.settings} save={setHostNetworkAction} />
            </div>
          </section>
          <section aria-labelledby="forwards-heading">
            <h2 id="forwards-heading" className="text-lg font-medium">
              Port forwards
            </h2>
            <p className="mt-1 text-sm text-stone-600 dark:text-stone-400">
              A host port (1024 or above) to a VM&apos;s port, TCP; the VM&apos;s owner sees it on the VM
              page.
            </p>
            <div className="mt-3">
              <PortForwards
                forwards={host.info.forwards}
                vmNames={vms.map((v) => v.name)}
                forwardAddress={host.info.forwardAddress}
                add={addForwardAction}
                remove={removeForwardAction}
              />
            </div>
          </section>
          <section aria-labelledby="addresses-heading">
            <h2 id="addresses-heading" className="text-lg font-medium">
              VM addresses
            </h2>
            <ul className="mt-3 divide-y divide-stone-200 rounded-xl border border-stone-200 bg-white text-sm dark:divide-stone-800 dark:border-stone-800 dark:bg-stone-900">
              {host.info.vms.map((v) => (
                <li key={v.name} className="flex flex-wrap justify-between gap-x-4 px-4 py-2">
                  <a
                    href={`/admin/vms/${v.name}`}
                    className="font-mono text-teal-800 underline-offset-4 hover:underline dark:text-teal-300"
                  >
                    {v.name}
                  </a>
                  <span className="min-w-0 break-all font-mono">
                    {v.ipv4 ?? "no address"} · {v.mac}
                  </span>
                </li>
              ))}
              {host.info.vms.length === 0 ? (
                <li className="px-4 py-3 text-stone-500">No VM on the host.</li>
              ) : null}
            </ul>
          </section>
        </div>
      )}
    </PageShell>
  );
}
