/**
 * The agent's verbs: one handler per op of the protocol, typed from it (`ParsedArgsOf<O>` in,
 * `ResultOf[O]` out). A missing verb, or a reply that does not match its verb's result type, is a
 * compile error (`handlers.test.ts` shows both).
 */

import {
  type Actor,
  CAPABILITIES,
  type Op,
  type ParsedArgsOf,
  PROTOCOL_VERSION,
  type ResultOf,
  type SnapshotInfo,
  type TaskInfo,
  type VmConfig,
} from "../protocol/agent";
import { listBoots } from "./boot-journal";
import { bootLogs, bootLogsKept, setBootLogRetention } from "./boot-log";
import { AgentFailure } from "./errors";
import type { SnapshotManager } from "./snapshots";
import type { VmManager } from "./vm-manager";

export const AGENT_VERSION = "0.1.0";

export interface HandlerContext {
  /** The request id (a task's id). */
  id: string;
  actor: Actor | undefined;
}

export type Handler<O extends Op> = (args: ParsedArgsOf<O>, context: HandlerContext) => Promise<ResultOf[O]>;
export type AgentHandlers = { [O in Op]: Handler<O> };

export interface HandlerDeps {
  manager: VmManager;
  snapshots: SnapshotManager | null;
  /** Called with an accepted power verb's task: console input queued for the old boot is dropped. */
  droppingInput(name: string, task: TaskInfo): TaskInfo;
  /** host.trust: the TCP listener's CRL update; null when the agent has no TCP listener. */
  trust(): { updateCrl(pem: string): Promise<ResultOf["host.trust"]> } | null;
}

export function createHandlers({ manager: m, snapshots, droppingInput, trust }: HandlerDeps): AgentHandlers {
  const snap = () => {
    if (!snapshots) throw new AgentFailure("invalid-request", "snapshots are not enabled");
    return snapshots;
  };
  return {
    "agent.health": async () => {
      const vms = await m.info.list();
      return {
        version: PROTOCOL_VERSION,
        agentVersion: AGENT_VERSION,
        capabilities: [...CAPABILITIES],
        privileged: m.config.privileged,
        confined: m.config.confine,
        uptimeSeconds: Math.round((Date.now() - m.startedAt) / 1000),
        host: await m.info.hostFigures(),
        vms: { total: vms.length, running: vms.filter((v) => v.pid !== null).length },
        bootLogsKept: bootLogsKept(),
      };
    },
    "vm.boots": async (args) => {
      const runtime = await m.load(args.name);
      const running = Boolean(await m.mainProcess(runtime));
      return {
        boots: await listBoots(runtime.paths, await bootLogs(runtime), running),
        keep: bootLogsKept(),
      };
    },
    "host.setBootLogRetention": async (args) => ({
      keep: await setBootLogRetention(m.config.dataDir, args.keep),
    }),
    "image.list": async () => ({ images: await m.info.images() }),
    "task.get": async (args) => m.tasks.getTask(args.id),
    "vm.list": async () => ({ vms: await m.info.list() }),
    "vm.status": (args) => m.status(args.name),
    "vm.create": async (args, { id }) => ({ task: await m.provisioning.create(id, args) }),
    "vm.destroy": async (args, { id }) => ({ task: await m.provisioning.destroy(id, args) }),
    "vm.start": async (args, { id }) => ({ task: await m.lifecycle.start(id, args.name) }),
    "vm.reboot": async (args, { id }) => ({
      task: droppingInput(args.name, await m.reboots.start(id, args)),
    }),
    "vm.reset": async (args, { id, actor }) => ({
      task: droppingInput(args.name, await m.lifecycle.reset(id, args.name, actor)),
    }),
    "vm.shutdown": async (args, { id, actor }) => ({
      task: droppingInput(args.name, await m.lifecycle.shutdown(id, args.name, actor)),
    }),
    "vm.poweroff": async (args, { id, actor }) => ({
      task: droppingInput(args.name, await m.lifecycle.poweroff(id, args.name, actor)),
    }),
    "vm.setAutostart": (args) => m.manage.setAutostart(args.name, args.autostart),
    "vm.setBootOnce": (args, ctx) => m.lifecycle.setBootOnce(args.name, args.mode, ctx.actor),
    "vm.setMemory": (args) => m.manage.setMemory(args.name, args.memoryMiB),
    "vm.setAccess": (args) => m.manage.setAccess(args.name, args.access),
    "vm.access": (args) => m.manage.access(args.name),
    "vm.growStorage": async (args, { id }) => ({ task: await m.manage.growStorage(id, args) }),
    "vm.setOwner": async (args, { id }) => ({ task: await m.manage.setOwner(id, args) }),
    "owner.remove": (args) => m.provisioning.removeOwner(args.owner),
    "snapshot.create": async (args, { id }) => ({ task: await snap().create(id, args) }),
    "snapshot.list": async (args) => ({ snapshots: await snap().list(args.name) }),
    "snapshot.restore": async (args, { id }) => ({ task: await snap().restore(id, args) }),
    "snapshot.delete": async (args) => snap().delete(args),
    "snapshot.usage": async (args) => snap().usage(args.name),
    "vm.resume": async (args) => {
      await m.space.resume(args.name, "admin");
      return m.status(args.name);
    },
    "host.setDiskReserve": async (args) => {
      await m.space.setReserve(args.reserve);
      return m.info.hostFigures();
    },
    "host.network": () => m.network.hostInfo(),
    "image.checksum": (args) => m.transfers.imageChecksum(args.name),
    "vm.moveOut": (args) => m.transfers.moveOut(args.name),
    "vm.moveIn": (args) =>
      m.transfers.moveIn(
        args.name,
        args.config as unknown as VmConfig,
        args.hostKeys,
        args.snapshots as unknown as { id: string; info: SnapshotInfo }[],
      ),
    "vm.moveCommit": (args) => m.transfers.moveCommit(args.name),
    "vm.moveAbort": (args) => m.transfers.moveAbort(args.name),
    "host.trust": async (args) => {
      const listener = trust();
      if (!listener)
        throw new AgentFailure("invalid-request", "this agent has no TCP listener (ZAPHOD_AGENT_LISTEN)");
      return listener.updateCrl(args.crl);
    },
    "host.setNetwork": (args) => m.network.setHost(args.settings),
    "vm.network": (args) => m.network.vmInfo(args.name),
    "vm.setNetwork": (args) => m.network.setVm(args.name, args.ipv4, args.rateLimitKbit),
    "forward.add": (args) => m.network.addForward(args),
    "forward.remove": (args) => m.network.removeForward(args.hostPort),
  };
}

/** Calls the verb's handler (the request was validated against the protocol's union). */
export function dispatch<O extends Op>(
  handlers: AgentHandlers,
  op: O,
  args: ParsedArgsOf<O>,
  context: HandlerContext,
): Promise<ResultOf[O]> {
  const handler: Handler<O> = handlers[op];
  return handler(args, context);
}
