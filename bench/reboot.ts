/**
 * B7 — what the panel adds to a reboot (../shared/notes/bench.md). Same VM, same run, interleaved:
 *   T_panel : POST /api/vms/<vm>/actions {action:"reboot"} as the member → `login:` of the new boot
 *   T_direct: the agent's own vm.reboot over its socket                 → `login:` of the new boot
 * Both read the console through the agent's console socket (the same observer), so the difference
 * is what the panel's request path adds (HTTP, session, permission, Task row, audit, agent call).
 * The browser console hop (/ws/console) is measured by the console benches (B1/B2).
 *
 *   tsx bench/reboot.ts --base http://127.0.0.1:3000 --user demo --vm demo --socket /run/zaphod/agent.sock \
 *     [--reps 3]       (member password on stdin)
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { WebSocket } from "ws";
import { TestConsole } from "../server/agent/testing/console-client";
import { AGENT_PATHS } from "../server/protocol/agent";
import { createAgentClient } from "../server/web/agent/client";
import { signInCookie } from "./lib/sign-in";

const { values } = parseArgs({
  options: {
    base: { type: "string", default: "http://127.0.0.1:3000" },
    user: { type: "string", default: "demo" },
    vm: { type: "string", default: "demo" },
    socket: { type: "string", default: "/run/zaphod/agent.sock" },
    reps: { type: "string", default: "3" },
  },
});
const base = values.base as string;
const vm = values.vm as string;
const socket = values.socket as string;
const reps = Number(values.reps);

const chunks: Buffer[] = [];
for await (const c of process.stdin) chunks.push(c as Buffer);
const password = Buffer.concat(chunks)
  .toString("utf8")
  .replace(/\r?\n$/, "");

const agent = createAgentClient({ socketPath: socket });
const cookie = await signInCookie(base, values.user as string, password);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Up, the agent idle, and the panel's last task ended (it ends just after the guest's prompt). */
async function settled(): Promise<void> {
  for (;;) {
    const s = await agent.call("vm.status", { name: vm });
    if (s.state === "running" && s.stage === "up" && !s.busy) {
      const res = await fetch(new URL(`/api/vms/${vm}`, base), { headers: { cookie } });
      const body = (await res.json()) as { data?: { tasks: { status: string }[] } };
      if (!body.data?.tasks.some((t) => t.status === "running")) return;
    }
    await sleep(250);
  }
}

/**
 * Starts the reboot with `trigger`; resolves with the ms until the new boot's `login:` and the ms
 * until the request was accepted (panel: HTTP answer after the agent accepted; direct: the RPC reply).
 */
async function timeReboot(trigger: () => Promise<void>): Promise<{ login: number; accept: number }> {
  await settled();
  const c = await TestConsole.open(new WebSocket(`ws+unix://${socket}:${AGENT_PATHS.console(vm)}`));
  try {
    await c.replayed();
    const mark = c.text.length;
    const t0 = performance.now();
    await trigger();
    const accept = performance.now() - t0;
    await c.waitFor(/Linux version[\s\S]*login:/, 180_000, mark);
    return { login: performance.now() - t0, accept };
  } finally {
    c.close();
  }
}

const panel = async () => {
  const res = await fetch(new URL(`/api/vms/${vm}/actions`, base), {
    method: "POST",
    headers: { cookie, origin: new URL(base).origin, "content-type": "application/json" },
    body: JSON.stringify({ action: "reboot" }),
  });
  if (res.status !== 200) throw new Error(`panel reboot: HTTP ${res.status} ${await res.text()}`);
};
const direct = async () => {
  await agent.call("vm.reboot", { name: vm }, { id: randomUUID() });
};

const tPanel: number[] = [];
const tDirect: number[] = [];
const aPanel: number[] = [];
const aDirect: number[] = [];
for (let i = 0; i < reps; i++) {
  // Interleaved, alternating which goes first.
  const order = i % 2 === 0 ? (["direct", "panel"] as const) : (["panel", "direct"] as const);
  for (const which of order) {
    const t = await timeReboot(which === "panel" ? panel : direct);
    (which === "panel" ? tPanel : tDirect).push(t.login);
    (which === "panel" ? aPanel : aDirect).push(t.accept);
    console.log(
      `rep ${i + 1} ${which.padEnd(6)} to login: ${(t.login / 1000).toFixed(2)} s, accepted after ${t.accept.toFixed(0)} ms`,
    );
  }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(
  `T_direct median ${(median(tDirect) / 1000).toFixed(2)} s (mean ${(mean(tDirect) / 1000).toFixed(2)}), T_panel median ${(median(tPanel) / 1000).toFixed(2)} s (mean ${(mean(tPanel) / 1000).toFixed(2)})`,
);
console.log(
  `B7 overhead (median) ${(median(tPanel) - median(tDirect)).toFixed(0)} ms, ratio ${(median(tPanel) / median(tDirect)).toFixed(3)}× (target ≤ 100 ms, ≤ 1.02×)`,
);
console.log(
  `request accepted (median): panel ${median(aPanel).toFixed(0)} ms vs agent ${median(aDirect).toFixed(0)} ms → the panel's own share ${(median(aPanel) - median(aDirect)).toFixed(0)} ms`,
);
await settled();
agent.close();
process.exit(0);
