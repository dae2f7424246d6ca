/**
 * The web process's one agent client (kept on globalThis, so dev reloads and the several module
 * graphs Next builds share one event subscription and one socket path).
 */
import { getEnv } from "../env";
import { type AgentClient, createAgentClient } from "./client";

const g = globalThis as { __zaphodAgent?: AgentClient };

export function getAgent(): AgentClient {
  g.__zaphodAgent ??= createAgentClient({ socketPath: getEnv().agentSocket, timeoutMs: 15_000 });
  return g.__zaphodAgent;
}

/** Tests and the CLI swap in another client. */
export function setAgentForTests(client: AgentClient | undefined) {
  g.__zaphodAgent = client;
}
