import "server-only";
/**
 * Every boot's console, kept (issue 14 point 6): the VM's boots as its host's agent records them
 * (server/agent/boot-journal.ts), and one boot's console log, read through the agent (the web
 * tier never opens a VM's files). A member sees their own VM's; an admin every VM's.
 *
 *   await listVmBoots(caller, "alice")              // { boots: BootRecord[], keep } | null (agent down)
 *   await readBootLog(caller, "alice", 7)           // Readable of boot 7's raw console bytes
 *   bootLogText(raw)                                // the same as text a page can show
 */
import type { Readable } from "node:stream";
import { AGENT_PATHS, type BootRecord } from "../../protocol/agent";
import { AgentCallError } from "../agent/client";
import { getAgent } from "../agent/instance";
import type { Caller } from "../dal/caller";
import { getVmForCaller } from "../dal/vms";
import { ActionFailure } from "../errors";
import { agentActor } from "./agent-actor";
import { bootLogText } from "./boot-text";

export async function listVmBoots(
  caller: Caller,
  name: string,
): Promise<{ boots: BootRecord[]; keep: number } | null> {
  const vm = await getVmForCaller(caller, name);
  try {
    return await getAgent().call("vm.boots", { name: vm.name }, { actor: agentActor(caller, vm) });
  } catch {
    return null;
  }
}

/** Boot `n`'s console log as the console wrote it; not-found once the retention removed it. */
export async function readBootLog(
  caller: Caller,
  name: string,
  n: number,
): Promise<{ vm: string; body: Readable; sizeBytes: number }> {
  const vm = await getVmForCaller(caller, name);
  try {
    const client = await getAgent().forHost(vm.host).client();
    const body = await client.download(AGENT_PATHS.bootLog(vm.name, n));
    return { vm: vm.name, body, sizeBytes: Number(body.headers["x-zaphod-size"] ?? 0) };
  } catch (error) {
    if (error instanceof AgentCallError && error.code === "not-found")
      throw new ActionFailure(
        "not-found",
        `${vm.name} has no console log of boot ${n} (kept: the newest ones).`,
      );
    throw new ActionFailure(
      "conflict",
      `The host of ${vm.name} did not send the log: ${(error as Error).message}`,
    );
  }
}

/** Reads at most `max` bytes of a log, the last ones (a page shows the end, where a boot failed). */
export async function tailOf(body: Readable, max: number): Promise<{ text: string; cut: boolean }> {
  const chunks: Buffer[] = [];
  let held = 0;
  let cut = false;
  for await (const chunk of body) {
    chunks.push(chunk as Buffer);
    held += (chunk as Buffer).length;
    while (held - (chunks[0]?.length ?? 0) >= max && chunks.length > 1) {
      held -= chunks.shift()?.length ?? 0;
      cut = true;
    }
  }
  let all = Buffer.concat(chunks);
  if (all.length > max) {
    all = all.subarray(all.length - max);
    cut = true;
  }
  return { text: bootLogText(all.toString("utf8")), cut };
}
