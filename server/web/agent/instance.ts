/**
 * The web process's one agent client (kept on globalThis, so dev reloads and the several module
 * graphs Next builds share one event subscription and one socket path): the local agent on its
 * Unix socket, and the agents of joined hosts over mutual TLS, behind one router (routed.ts).
 */
import { getEnv } from "../env";
import { createAgentClient } from "./client";
import { createHostDirectory } from "./host-directory";
import { createRoutedAgent, type HostDirectory, type RoutedAgent } from "./routed";

const g = globalThis as { __zaphodAgent?: RoutedAgent };

export function getAgent(): RoutedAgent {
  g.__zaphodAgent ??= createRoutedAgent(
    createAgentClient({ socketPath: getEnv().agentSocket, timeoutMs: 15_000 }),
    createHostDirectory(),
  );
  return g.__zaphodAgent;
}

/** A directory that knows one host, "local": tests of the web tier with one (fake) agent. */
const localOnly: HostDirectory = {
  hostOfVm: async () => "local",
  hostOfTask: async () => "local",
  joinedHosts: async () => [],
  connect: async (host) => {
    throw new Error(`no host ${host} in this test`);
  },
};

/** Tests and the CLI swap in another client (one host unless a directory is given). */
export function setAgentForTests(
  client: import("./client").AgentClient | RoutedAgent | undefined,
  directory: HostDirectory = localOnly,
) {
  if (!client) g.__zaphodAgent = undefined;
  else g.__zaphodAgent = "forHost" in client ? client : createRoutedAgent(client, directory);
}
