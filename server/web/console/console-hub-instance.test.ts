import { describe, expect, it } from "vitest";
import type { ConsoleControl } from "../../protocol/console";
import { announceSessionsEnded } from "../session-events";
import type { ConsoleCloseReason, ConsoleViewer } from "./console-hub";
import { getConsoleHub } from "./console-hub-instance";

function viewer(userId: string, vmId: string) {
  const v = {
    userId,
    username: userId,
    role: "member" as const,
    vmId,
    vmOwnerId: userId,
    since: new Date("2026-12-02T01:00:00Z"),
    closed: [] as ConsoleCloseReason[],
    sendControl: (_m: ConsoleControl) => {},
    close: (reason: ConsoleCloseReason) => v.closed.push(reason),
  } satisfies ConsoleViewer & Record<string, unknown>;
  return v;
}

describe("the process's console hub", () => {
  it("closes a user's consoles when the data layer says their sessions ended, nobody else's", () => {
    const hub = getConsoleHub();
    const alice = viewer("alice", "vm-a");
    const bob = viewer("bob", "vm-b");
    hub.join(alice);
    hub.join(bob);
    announceSessionsEnded("alice"); // what changeAccountStatus says on suspend or reject
    expect(alice.closed).toEqual(["revoked"]);
    expect(bob.closed).toEqual([]);
    expect(getConsoleHub()).toBe(hub);
  });
});
