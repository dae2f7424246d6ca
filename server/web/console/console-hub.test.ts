import { describe, expect, it } from "vitest";
import type { ConsoleControl } from "../../protocol/console";
import { type ConsoleCloseReason, ConsoleHub, type ConsoleViewer } from "./console-hub";

function viewer(userId: string, vmId: string, role: "admin" | "member" = "member", vmOwnerId = userId) {
  const v = {
    userId,
    username: userId,
    role,
    vmId,
    vmOwnerId,
    since: new Date("2026-11-30T23:00:00Z"),
    got: [] as ConsoleControl[],
    closed: [] as ConsoleCloseReason[],
    sendControl: (m: ConsoleControl) => v.got.push(m),
    close: (reason: ConsoleCloseReason) => v.closed.push(reason),
  } satisfies ConsoleViewer & Record<string, unknown>;
  return v;
}

describe("ConsoleHub", () => {
  it("merges the viewers other web instances report, says when its own change, and passes their admins' notice", () => {
    const hub = new ConsoleHub();
    const changed: string[] = [];
    hub.onPresence((vmId) => changed.push(vmId));
    const alice = viewer("alice", "vm-a");
    hub.join(alice);
    expect(changed).toEqual(["vm-a"]);
    expect(hub.localViewerInfo("vm-a")).toEqual([
      { user: "alice", role: "member", since: "2026-11-30T23:00:00.000Z" },
    ]);
    // Another instance has an admin on the same console, who joined earlier.
    hub.setRemoteViewers("vm-a", [{ user: "root", role: "admin", since: "2026-11-30T22:00:00.000Z" }]);
    expect(alice.got.at(-1)).toEqual({
      type: "viewers",
      viewers: [
        { user: "root", role: "admin", since: "2026-11-30T22:00:00.000Z" },
        { user: "alice", role: "member", since: "2026-11-30T23:00:00.000Z" },
      ],
    });
    hub.noticeAdminOpened("vm-a", "root");
    expect(alice.got).toContainEqual({ type: "notice", text: "Admin root opened this console." });
    // Nobody watches vm-b here: nothing is sent, nothing kept.
    hub.setRemoteViewers("vm-b", [{ user: "bob", role: "member", since: "2026-11-30T22:00:00.000Z" }]);
    expect(hub.hasViewers("vm-b")).toBe(false);
    hub.leave(alice);
    expect(changed).toEqual(["vm-a", "vm-a"]);
    expect(hub.watchedVms()).toEqual([]);
  });

  it("counts slots per user and globally; release is idempotent", () => {
    const hub = new ConsoleHub({ maxPerUser: 2, maxTotal: 3 });
    const a = hub.acquire("a");
    const a2 = hub.acquire("a");
    expect(hub.acquire("a")).toBe("user-cap");
    hub.acquire("b");
    expect(hub.acquire("c")).toBe("global-cap");
    if (typeof a === "string" || typeof a2 === "string") throw new Error("refused");
    a.release();
    a.release();
    expect(hub.openSlots).toBe(2);
    expect(hub.acquire("c")).not.toBe("global-cap");
  });

  it("pushes the viewers list to everyone on the VM and nobody else", () => {
    const hub = new ConsoleHub();
    const alice = viewer("alice", "vm-a");
    const bob = viewer("bob", "vm-b");
    hub.join(alice);
    hub.join(bob);
    const admin = viewer("root", "vm-a", "admin", "alice");
    hub.join(admin);
    expect(alice.got).toContainEqual({ type: "notice", text: "Admin root opened this console." });
    expect(alice.got.at(-1)).toEqual({
      type: "viewers",
      viewers: [
        { user: "alice", role: "member", since: "2026-11-30T23:00:00.000Z" },
        { user: "root", role: "admin", since: "2026-11-30T23:00:00.000Z" },
      ],
    });
    expect(bob.got).toHaveLength(1);
    hub.leave(admin);
    hub.leave(admin);
    expect(alice.got.at(-1)).toEqual({
      type: "viewers",
      viewers: [{ user: "alice", role: "member", since: "2026-11-30T23:00:00.000Z" }],
    });
    expect(alice.got.filter((m) => m.type === "viewers")).toHaveLength(3);
  });

  it("does not announce an admin on their own VM", () => {
    const events: unknown[] = [];
    const hub = new ConsoleHub({ onAdminOpened: (e) => events.push(e) });
    const root = viewer("root", "vm-root", "admin");
    hub.join(root);
    expect(events).toEqual([]);
    expect(root.got.some((m) => m.type === "notice")).toBe(false);
  });

  it("closes a user's consoles everywhere, or a VM's for everyone", () => {
    const hub = new ConsoleHub();
    const a1 = viewer("alice", "vm-a");
    const a2 = viewer("alice", "vm-x", "member", "x");
    const root = viewer("root", "vm-a", "admin", "alice");
    for (const v of [a1, a2, root]) hub.join(v);
    expect(hub.closeUser("alice")).toBe(2);
    expect([a1.closed, a2.closed, root.closed]).toEqual([["revoked"], ["revoked"], []]);
    expect(hub.closeVm("vm-a", "unavailable")).toBe(2);
    expect(root.closed).toEqual(["unavailable"]);
  });
});
