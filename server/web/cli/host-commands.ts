/** `zaphod host add|list|remove` (issue 13 point 2): the hosts whose agents the panel reaches over mutual TLS. */
import { getAgent } from "../agent/instance";
import { unsafeListHosts } from "../dal/hosts";
import { getEnv } from "../env";
import { drainHost, MoveError, moveVm, publishImageTo } from "../hosts/move";
import { addHost, HostError, removeHost } from "../hosts/service";

/** `zaphod vm move NAME HOST` and `zaphod image publish IMAGE HOST [--from HOST]`. */
export async function cliTransfer(
  command: "vm" | "image",
  positionals: string[],
  options: { from?: string },
  usage: string,
): Promise<number> {
  const [verb, name, host] = positionals;
  try {
    if (command === "vm" && verb === "move" && name && host) {
      const moved = await moveVm("cli", name, host);
      for (const d of moved.disks) console.log(`  ${d.disk}: ${d.sizeBytes} bytes, sha256 ${d.sha256}`);
      console.log(`moved ${name} from ${moved.from} to ${moved.to} in ${moved.seconds} s`);
      return 0;
    }
    if (command === "vm" && verb === "move-abort" && name && !host) {
      // A move cut short (the CLI or web process died mid-copy): the mark and any staging go.
      const hosts = [
        "local",
        ...(await unsafeListHosts()).filter((h) => h.state === "joined").map((h) => h.name),
      ];
      for (const h of hosts) {
        const r = await getAgent()
          .forHost(h)
          .call("vm.moveAbort", { name })
          .catch((e: Error) => e);
        console.log(
          r instanceof Error
            ? `${h}: ${r.message}`
            : `${h}: ${r.aborted ? "mark or staging removed" : "nothing to undo"}`,
        );
      }
      return 0;
    }
    if (command === "image" && verb === "publish" && name && host) {
      const r = await publishImageTo(name, options.from ?? "local", host);
      console.log(
        r.copied
          ? `published ${name} on ${host} (sha256 ${r.sha256})`
          : `${name} is on ${host} already (sha256 ${r.sha256})`,
      );
      return 0;
    }
  } catch (error) {
    if (error instanceof MoveError || (error as { name?: string }).name === "AgentCallError") {
      console.error(`zaphod: ${(error as Error).message}`);
      return 1;
    }
    throw error;
  }
  console.error(usage);
  return 2;
}

export async function cliHost(
  positionals: string[],
  options: { panel?: string; to?: string },
  usage: string,
): Promise<number> {
  const [verb, name, where] = positionals;
  try {
    if (verb === "add" && name && where) {
      const m = /^(\[[0-9a-fA-F:]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(where);
      if (!m?.[1]) throw new HostError(`"${where}" is not ADDRESS or ADDRESS:PORT`);
      const added = await addHost({
        name,
        address: m[1].replace(/^\[|\]$/g, ""),
        port: m[2] ? Number(m[2]) : undefined,
      });
      const panel = options.panel ?? getEnv().origins[0] ?? "https://PANEL";
      console.log(
        `host ${added.name} added: the panel will reach its agent at ${added.address}:${added.port}`,
      );
      console.log(`join token (one use, until ${added.expiresAt.toISOString()}): ${added.token}`);
      console.log(`panel CA fingerprint: ${added.fingerprint}`);
      console.log("");
      console.log(`on ${added.name}, as root, with zaphod installed:`);
      console.log(
        `  node /opt/zaphod/current/dist/agent.mjs join ${panel} ${added.token} ${added.fingerprint}`,
      );
      console.log(
        `  then start the agent with ZAPHOD_AGENT_LISTEN=${added.address.includes(":") ? `[${added.address}]` : added.address}:${added.port}`,
      );
      return 0;
    }
    if (verb === "list" && !name) {
      const hosts = await unsafeListHosts();
      console.log(["NAME", "ADDRESS", "STATE", "REACHABLE", "AGENT", "CHECKED"].join("\t"));
      console.log(["local", "(unix socket)", "joined", "-", "-", "-"].join("\t"));
      for (const h of hosts)
        console.log(
          [
            h.name,
            `${h.address}:${h.port}`,
            h.state,
            h.reachability ?? "-",
            h.agentVersion ?? "-",
            h.checkedAt?.toISOString() ?? "-",
          ].join("\t"),
        );
      return 0;
    }
    if (verb === "drain" && name && !where) {
      const { moved, blocking } = await drainHost("cli", name, options.to);
      for (const m of moved) console.log(`moved ${m.name} to ${m.to}`);
      for (const b of blocking) console.log(`blocking: ${b.name}: ${b.why}`);
      console.log(
        blocking.length
          ? `host ${name} is not empty: ${blocking.length} VM${blocking.length === 1 ? "" : "s"} left`
          : `host ${name} is empty`,
      );
      return blocking.length ? 1 : 0;
    }
    if (verb === "remove" && name && !where) {
      const { revoked } = await removeHost(name);
      console.log(`host ${name} removed${revoked ? `; certificate ${revoked} revoked` : ""}`);
      return 0;
    }
  } catch (error) {
    if (error instanceof HostError || error instanceof MoveError) {
      console.error(`zaphod: ${error.message}`);
      return 1;
    }
    throw error;
  }
  console.error(usage);
  return 2;
}
