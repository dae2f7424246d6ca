/**
 * Test-only access to a guest's console straight through the e2e agent's socket (the test runs as
 * root, like the web tier): used to make a guest ignore Ctrl-Alt-Del, i.e. to simulate a guest
 * that does not come back from a graceful reboot.
 */
import { WebSocket } from "ws";
import { TestConsole } from "../../server/agent/testing/console-client";
import { AGENT_PATHS } from "../../server/protocol/agent";
import { AGENT_SOCKET } from "../env";

export async function runInGuest(vm: string, command: string, done: RegExp): Promise<void> {
  const ws = new WebSocket(`ws+unix://${AGENT_SOCKET}:${AGENT_PATHS.console(vm)}`);
  const c = await TestConsole.open(ws);
  try {
    await c.replayed();
    c.type("\r");
    await c.waitFor(/login:|# $/m, 30_000, c.replayText?.length ?? 0);
    if (!/# $/m.test(c.text.slice(-20))) {
      c.type("root\r");
      await c.waitFor(/# $/m, 30_000, c.text.lastIndexOf("login:"));
    }
    const mark = c.text.length;
    c.type(`${command}\r`);
    await c.waitFor(done, 30_000, mark);
    c.type("exit\r");
  } finally {
    c.close();
  }
}
