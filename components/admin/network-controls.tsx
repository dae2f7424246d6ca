"use client";

import { Button } from "@/components/ui/button";
import type { HostNetworkSettings, PortForward } from "@/server/protocol/agent";
import type { ActionResult } from "@/server/web/auth/wrappers";
import { ActionMessage, useAdminAction } from "./use-admin-action";

/** The admin's wrapped network actions (app/actions/network.ts), passed down by the pages. */
type FormAction = (data: FormData) => Promise<ActionResult<unknown>>;
export type RemoveForward = (input: { hostPort: number }) => Promise<ActionResult<unknown>>;

const input =
  "min-h-10 w-full rounded-lg border border-stone-300 bg-white px-3 text-sm outline-none focus-visible:ring-4 focus-visible:ring-teal-600/30 dark:border-stone-700 dark:bg-stone-950";

function Text({
  label,
  name,
  defaultValue,
  hint,
}: {
  label: string;
  name: string;
  defaultValue: string;
  hint?: string;
}) {
  return (
    <label className="block min-w-0 text-sm">
      <span className="font-medium">{label}</span>
      <input
        name={name}
        defaultValue={defaultValue}
        className={`${input} mt-1 font-mono`}
        spellCheck={false}
      />
      {hint ? <span className="mt-0.5 block text-xs text-stone-500">{hint}</span> : null}
    </label>
  );
}

const MODE_WORDS: Record<HostNetworkSettings["mode"], string> = {
  isolated: "Isolated (no route out; forwards only)",
  nat: "NAT through the host's default route",
  routed: "Routed (the subnet is a block of public addresses)",
};

/** /admin/network: the host network's settings; the agent applies them at once or refuses them. */
export function HostNetworkForm({ settings, save }: { settings: HostNetworkSettings; save: FormAction }) {
  const { pending, message, run } = useAdminAction();
  return (
    <form
      data-testid="host-network-form"
      className="space-y-3"
      onSubmit={(e) => {
        e.preventDefault();
        const data = new FormData(e.currentTarget);
        run(() => save(data), "Saved: the host network is changed.");
      }}
    >
      <label className="block text-sm">
        <span className="font-medium">Mode</span>
        <select name="mode" defaultValue={settings.mode} className={`${input} mt-1`}>
          {(Object.keys(MODE_WORDS) as HostNetworkSettings["mode"][]).map((m) => (
            <option key={m} value={m}>
              {MODE_WORDS[m]}
            </option>
          ))}
        </select>
      </label>
      <div className="grid grid-cols-1 gap-3 sm:grid-cols-2">
        <Text
          label="VM subnet"
          name="ipv4Subnet"
          defaultValue={settings.ipv4Subnet}
          hint="e.g. 10.77.0.0/24"
        />
        <Text label="Gateway (the host)" name="gateway" defaultValue={settings.gateway} />
        <Text label="Pool: first address" name="poolFirst" defaultValue={settings.poolFirst} />
        <Text label="Pool: last address" name="poolLast" defaultValue={settings.poolLast} />
        <Text
          label="IPv6 prefix"
          name="ipv6Prefix"
          defaultValue={settings.ipv6Prefix ?? ""}
          hint="A /64 (e.g. fd00:77::/64); empty: no IPv6"
        />
        <Text
          label="DNS resolvers"
          name="dns"
          defaultValue={settings.dns.join(", ")}
          hint="Up to 3, comma-separated; empty: the resolver on the gateway"
        />
      </div>
      <label className="flex items-center gap-2 text-sm">
        <input type="checkbox" name="vmToVm" defaultChecked={settings.vmToVm} className="size-4" />
        VMs may reach each other on the bridge
      </label>
      <label className="flex items-center gap-2 text-sm">
        <input
          type="checkbox"
          name="outboundSmtp"
          defaultChecked={settings.outboundSmtp}
          className="size-4"
        />
        VMs may send mail out on port 25 (587 and 465 are always open)
      </label>
      <div className="flex flex-wrap items-center gap-3">
        <Button type="submit" pending={pending}>
          Save network settings
        </Button>
        <ActionMessage message={message} />
      </div>
    </form>
  );
}

/** /admin/network: the port forwards, each removable, and a form adding one. */
export function PortForwards({
  forwards,
  vmNames,
  forwardAddress,
  add,
  remove,
}: {
  forwards: PortForward[];
  vmNames: string[];
  forwardAddress: string;
  add: FormAction;
  remove: RemoveForward;
}) {
  const { pending, message, run } = useAdminAction();
  return (
    <div className="space-y-3">
      {forwards.length === 0 ? (
        <p className="text-sm text-stone-500">No port is forwarded.</p>
      ) : (
        <ul
          aria-label="Port forwards"
          className="divide-y divide-stone-200 rounded-xl border border-stone-200 text-sm dark:divide-stone-800 dark:border-stone-800"
        >
          {forwards.map((f) => (
            <li
              key={f.hostPort}
              data-testid="port-forward"
              className="flex flex-wrap items-center justify-between gap-2 px-4 py-2"
            >
              <span className="min-w-0 break-all font-mono">
                {forwardAddress}:{f.hostPort} → {f.name}:{f.vmPort}
              </span>
              <Button
                variant="danger"
                pending={pending}
                onClick={() =>
                  run(() => remove({ hostPort: f.hostPort }), `Port ${f.hostPort} is no longer forwarded.`)
                }
              >
                Remove
              </Button>
            </li>
          ))}
        </ul>
      )}
      <form
        data-testid="add-forward-form"
        className="flex flex-wrap items-end gap-2"
        onSubmit={(e) => {
          e.preventDefault();
          const data = new FormData(e.currentTarget);
          run(() => add(data), `Forward added: port ${String(data.get("hostPort"))}.`);
        }}
      >
        <label className="block w-28 text-sm">
          <span className="font-medium">Host port</span>
          <input name="hostPort" inputMode="numeric" placeholder="2201" className={`${input} mt-1`} />
        </label>
        <label className="block w-44 text-sm">
          <span className="font-medium">VM</span>
          <select name="name" className={`${input} mt-1`} defaultValue={vmNames[0] ?? ""}>
            {vmNames.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <label className="block w-24 text-sm">
          <span className="font-medium">VM port</span>
          <input name="vmPort" inputMode="numeric" defaultValue="22" className={`${input} mt-1`} />
        </label>
        <Button type="submit" variant="secondary" pending={pending} disabled={vmNames.length === 0}>
          Add forward
        </Button>
      </form>
      <ActionMessage message={message} />
    </div>
  );
}

/** The admin VM page: the VM's address (next boot) and rate limit (now when it runs). */
export function VmNetworkForm({
  name,
  ipv4,
  rateLimitKbit,
  pool,
  save,
}: {
  name: string;
  ipv4: string | null;
  rateLimitKbit: number | null;
  pool: string;
  save: FormAction;
}) {
  const { pending, message, run } = useAdminAction();
  return (
    <form
      data-testid="vm-network-form"
      className="space-y-3"
      onSubmit={(e) => {
        e.preventDefault();
        const data = new FormData(e.currentTarget);
        data.set("name", name);
        run(
          () => save(data),
          "Saved: a new address applies when the VM next starts (shut down and start; a reboot keeps the running address), a rate limit now.",
        );
      }}
    >
      <div className="grid grid-cols-1 gap-3 sm:grid-cols-2">
        <label className="block text-sm">
          <span className="font-medium">IPv4 address</span>
          <input
            name="ipv4"
            defaultValue={ipv4 ?? ""}
            className={`${input} mt-1 font-mono`}
            spellCheck={false}
          />
          <span className="mt-0.5 block text-xs text-stone-500">
            From the pool {pool}; empty takes the VM off the network. Applies when the VM next starts (a
            reboot keeps the running address).
          </span>
        </label>
        <label className="block text-sm">
          <span className="font-medium">Rate limit (kbit/s)</span>
          <input
            name="rateLimitKbit"
            inputMode="numeric"
            defaultValue={rateLimitKbit === null ? "" : String(rateLimitKbit)}
            className={`${input} mt-1`}
          />
          <span className="mt-0.5 block text-xs text-stone-500">Both directions; empty: no limit.</span>
        </label>
      </div>
      <div className="flex flex-wrap items-center gap-3">
        <Button type="submit" variant="secondary" pending={pending}>
          Save network
        </Button>
        <ActionMessage message={message} />
      </div>
    </form>
  );
}
