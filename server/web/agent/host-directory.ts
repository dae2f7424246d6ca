import "server-only";
import { unsafeGetCertificate, unsafeGetHost, unsafeListHosts, unsafeRecordHealth } from "../dal/hosts";
/**
 * The production HostDirectory (routed.ts): hosts and VMs from the database, clients made with this
 * web instance's certificate, and each host's agent sent the panel's newest CRL when it connects.
 */
import { getDb } from "../db/client";
import { currentCrl, webIdentity } from "../hosts/service";
import { createAgentClient } from "./client";
import { type HostDirectory, LOCAL_HOST } from "./routed";

const VM_HOST_TTL_MS = 3_000;

export function createHostDirectory(): HostDirectory {
  const vmHosts = new Map<string, { host: string; at: number }>();
  const lastObserved = new Map<string, string>();
  return {
    async hostOfVm(name) {
      const cached = vmHosts.get(name);
      if (cached && Date.now() - cached.at < VM_HOST_TTL_MS) return cached.host;
      const row = await getDb().vm.findUnique({ where: { name }, select: { host: true } });
      const host = row?.host ?? LOCAL_HOST;
      vmHosts.set(name, { host, at: Date.now() });
      if (vmHosts.size > 5_000) vmHosts.delete(vmHosts.keys().next().value as string);
      return host;
    },
    forgetVm(name) {
      vmHosts.delete(name);
    },
    async hostOfTask(id) {
      const row = await getDb().task.findUnique({
        where: { id },
        select: { vm: { select: { host: true } } },
      });
      return row?.vm?.host ?? null;
    },
    async joinedHosts() {
      return (await unsafeListHosts()).filter((h) => h.state === "joined").map((h) => h.name);
    },
    async connect(name) {
      const host = await unsafeGetHost(name);
      if (!host) throw new Error("no such host");
      if (host.state !== "joined" || !host.certSerial)
        throw new Error("has not joined yet (run the join `host add` printed)");
      const issued = await unsafeGetCertificate(host.certSerial);
      if (!issued || issued.revokedAt) throw new Error("its certificate was revoked: refused");
      const me = await webIdentity();
      const client = createAgentClient({
        socketPath: "",
        timeoutMs: 10_000,
        tls: {
          hostName: host.name,
          address: host.address,
          port: host.port,
          ca: me.ca,
          cert: me.cert,
          key: me.key,
          serial: host.certSerial,
        },
      });
      // The agent refuses revoked web certificates from the panel's newest CRL on.
      try {
        await client.call("host.trust", { crl: (await currentCrl()).pem });
      } catch (error) {
        client.close();
        throw error;
      }
      return client;
    },
    observed(host, outcome, error) {
      const key = `${outcome}:${error ?? ""}`;
      if (lastObserved.get(host) === key) return;
      lastObserved.set(host, key);
      void unsafeRecordHealth(host, { reachability: outcome, lastError: error?.slice(0, 300) ?? null }).catch(
        () => undefined,
      );
    },
  };
}
