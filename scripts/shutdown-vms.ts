/**
 * Shuts every running VM down cleanly through the agent (used by `scripts/down.sh --vms`).
 * The agent socket comes from ZAPHOD_AGENT_SOCKET (scripts/down.sh sets it as up.sh does).
 */
import { createAgentClient } from "../server/web/agent/client";

const socketPath = process.env.ZAPHOD_AGENT_SOCKET;
if (!socketPath) throw new Error("ZAPHOD_AGENT_SOCKET is not set");
const agent = createAgentClient({ socketPath });
try {
  const { vms } = await agent.call("vm.list", {});
  const running = vms.filter((vm) => vm.state === "running");
  await Promise.all(
    running.map(async (vm) => {
      await agent.run("vm.shutdown", { name: vm.name }, { timeoutMs: 120_000 });
      console.log(`shut down ${vm.name}`);
    }),
  );
} finally {
  agent.close();
}
