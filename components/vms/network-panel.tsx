import { Notice } from "@/components/ui/notice";
import type { VmAccessInfo } from "@/server/protocol/agent";
import type { VmNetworkView } from "@/server/web/vms/network";
import { addressChangeNotice, formatBytes, formatRate, reachableAddress, reachWays } from "./network-view";

type NetworkPanelData = VmNetworkView;

function Row({ label, children, testId }: { label: string; children: React.ReactNode; testId?: string }) {
  return (
    <div className="flex flex-wrap gap-x-3 gap-y-0.5">
      <dt className="w-28 shrink-0 text-stone-500">{label}</dt>
      <dd className="min-w-0 break-all" data-testid={testId}>
        {children}
      </dd>
    </div>
  );
}

/**
 * The VM page's "Network" section (issue 12 point 2): the VM's addresses and MAC, how to reach it
 * over SSH (its own address, or a forwarded port) with its SSH host-key fingerprints, its traffic
 * since it booted and its rate limit. A server component: it only shows what the page loaded.
 */
export function NetworkPanel({
  data,
  hostKeys,
  hostName,
}: {
  data: NetworkPanelData;
  hostKeys: VmAccessInfo["hostKeys"] | null;
  hostName: string;
}) {
  return (
    <section aria-labelledby="network-heading" className="mt-8" data-testid="network-panel">
      <h2 id="network-heading" className="text-lg font-medium">
        Network
      </h2>
      {data.state === "unreachable" ? (
        <p className="mt-3 text-sm text-stone-600 dark:text-stone-400">
          The host did not answer; try again soon.
        </p>
      ) : data.state === "off" || reachableAddress(data.vm) === null ? (
        <p className="mt-3 text-sm text-stone-600 dark:text-stone-400" data-testid="no-network">
          This VM has no network address: the console is the way in.
        </p>
      ) : (
        <NetworkDetails data={data} hostKeys={hostKeys} hostName={hostName} />
      )}
    </section>
  );
}

function NetworkDetails({
  data,
  hostKeys,
  hostName,
}: {
  data: Extract<NetworkPanelData, { state: "on" }>;
  hostKeys: VmAccessInfo["hostKeys"] | null;
  hostName: string;
}) {
  const { vm } = data;
  const ways = reachWays({
    ipv4: reachableAddress(vm),
    mode: data.mode,
    bridgeOnHost: data.bridgeOnHost,
    forwardAddress: data.forwardAddress,
    hostName,
    forwards: vm.forwards,
  });
  const others = vm.forwards.filter((f) => f.vmPort !== 22);
  return (
    <div className="mt-3 space-y-4 text-sm">
      {vm.appliesAtNextBoot ? (
        <Notice tone="info">
          <span data-testid="vm-address-pending">{addressChangeNotice(vm)}</span>
        </Notice>
      ) : null}
      <dl className="space-y-1">
        <Row label="IPv4" testId="vm-ipv4">
          {vm.ipv4 ? (
            <code>{vm.ipv4}</code>
          ) : (
            <span className="text-stone-500">none from its next start</span>
          )}
        </Row>
        <Row label="IPv6" testId="vm-ipv6">
          {vm.ipv6 ? <code>{vm.ipv6}</code> : <span className="text-stone-500">none</span>}
        </Row>
        <Row label="MAC" testId="vm-mac">
          <code>{vm.mac}</code>
        </Row>
        <Row label="Gateway">{vm.gateway ? <code>{vm.gateway}</code> : "—"}</Row>
        <Row label="DNS">{vm.dns.length ? vm.dns.join(", ") : "—"}</Row>
        <Row label="Rate limit" testId="vm-rate-limit">
          {formatRate(vm.rateLimitKbit)}
        </Row>
        <Row label="Traffic" testId="vm-traffic">
          {vm.counters
            ? `${formatBytes(vm.counters.txBytes)} sent, ${formatBytes(vm.counters.rxBytes)} received since it started`
            : "not running"}
        </Row>
      </dl>
      <div>
        <h3 className="font-medium">Reach it over SSH</h3>
        {ways.length === 0 ? (
          <p className="mt-1 text-stone-600 dark:text-stone-400">
            No way in from outside yet: the host network is isolated and no port is forwarded to this
            VM&apos;s SSH. Ask an admin for a port forward, or use the console.
          </p>
        ) : (
          <ul className="mt-1 space-y-1" aria-label="SSH commands">
            {ways.map((w) => (
              <li key={w.command} className="flex flex-wrap items-baseline gap-x-3">
                <code
                  data-testid="ssh-command"
                  className="rounded bg-stone-100 px-2 py-0.5 break-all dark:bg-stone-800"
                >
                  {w.command}
                </code>
                <span className="text-xs text-stone-500">{w.note}</span>
              </li>
            ))}
          </ul>
        )}
        {others.length ? (
          <p className="mt-2 text-stone-600 dark:text-stone-400">
            Other forwarded ports: {others.map((f) => `host ${f.hostPort} → VM ${f.vmPort}`).join(", ")}
          </p>
        ) : null}
        {hostKeys?.length ? (
          <div className="mt-2">
            <p className="text-stone-600 dark:text-stone-400">
              Check the host key at your first connection; it is one of:
            </p>
            <ul className="mt-1 space-y-1" aria-label="SSH host key fingerprints">
              {hostKeys.map((k) => (
                <li key={k.type} className="flex flex-wrap gap-x-3">
                  <span className="w-16 text-stone-500">{k.type}</span>
                  <code className="break-all text-xs" data-testid="network-host-key">
                    {k.fingerprint}
                  </code>
                </li>
              ))}
            </ul>
          </div>
        ) : null}
      </div>
    </div>
  );
}
