/**
 * The console's two doors (the ticket for the page, the upgrade's re-check) ask the one VM access
 * rule, which reads the permission table: taking `vm.power.any` out of the admin's row takes away
 * their Ctrl-Alt-Del (and Start) on a member's console while the console itself stays open, and
 * taking `vm.console.any` out closes it. The database is a stand-in here; the real one is in
 * ./console-access.itest.ts.
 */
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { Permission } from "../auth/permissions";
import type { Caller } from "../dal/caller";

/** Permissions taken out of the admin's row of the real table, per test. */
const removed = vi.hoisted(() => new Set<string>());
vi.mock("../auth/permissions", async (importOriginal) => {
  const real = await importOriginal<typeof import("../auth/permissions")>();
  const table = (role: "admin" | "member") =>
    real.ROLE_PERMISSIONS[role].filter((p) => role !== "admin" || !removed.has(p));
  return { ...real, can: (role: "admin" | "member", p: Permission) => table(role).includes(p) };
});

const rows = vi.hoisted(() => ({
  users: new Map<string, { id: string; username: string; role: string; status: string }>(),
  vms: new Map<string, { id: string; name: string; ownerId: string }>(),
}));
vi.mock("../db/client", () => ({
  getDb: () => ({
    user: { findUnique: async ({ where }: { where: { id: string } }) => rows.users.get(where.id) ?? null },
    vm: {
      findUnique: async ({ where }: { where: { id?: string; name?: string } }) => {
        const vm = [...rows.vms.values()].find((v) => v.id === where.id || v.name === where.name);
        if (!vm) return null;
        const owner = rows.users.get(vm.ownerId);
        return { ...vm, owner: { username: owner?.username ?? "" } };
      },
    },
  }),
}));

const { loadConsoleAccess } = await import("./load-console-access");
const { findConsoleVm } = await import("./issue-console-ticket");
const { mayActOn } = await import("../vms/access");

const who = (id: string, role: Caller["role"]): Caller => ({
  id,
  username: id,
  name: id,
  email: `${id}@example.org`,
  role,
  status: "active",
});
const alice = who("alice", "member");
const bob = who("bob", "member");
const root = who("root", "admin");

beforeEach(() => {
  removed.clear();
  for (const u of [alice, bob, root]) rows.users.set(u.id, { ...u });
  rows.vms.set("vm-a", { id: "vm-a", name: "alices", ownerId: "alice" });
});

/** What both doors say for this caller on Alice's VM. */
async function doors(caller: Caller) {
  const page = await findConsoleVm(caller, "alices");
  const upgrade = await loadConsoleAccess({ userId: caller.id, vmId: "vm-a" });
  return {
    page: page ? { canCtrlAltDel: page.canCtrlAltDel } : null,
    upgrade: upgrade ? { canCtrlAltDel: upgrade.canCtrlAltDel } : null,
  };
}

describe("console access follows the permission table", () => {
  it("the owner and an admin get in with Ctrl-Alt-Del; another member gets nothing at either door", async () => {
    expect(await doors(alice)).toEqual({ page: { canCtrlAltDel: true }, upgrade: { canCtrlAltDel: true } });
    expect(await doors(root)).toEqual({ page: { canCtrlAltDel: true }, upgrade: { canCtrlAltDel: true } });
    expect(await doors(bob)).toEqual({ page: null, upgrade: null });
  });

  it("without vm.power.any the admin still opens a member's console but has no Ctrl-Alt-Del", async () => {
    removed.add("vm.power.any");
    expect(await doors(root)).toEqual({ page: { canCtrlAltDel: false }, upgrade: { canCtrlAltDel: false } });
    // The same rule gives the VM page its power buttons and the power actions their answer.
    expect(mayActOn(root, { ownerId: "alice" }, "power")).toBe(false);
    expect(mayActOn(root, { ownerId: "root" }, "power")).toBe(true);
    expect(await doors(alice)).toEqual({ page: { canCtrlAltDel: true }, upgrade: { canCtrlAltDel: true } });
  });

  it("without vm.console.any the admin cannot open a member's console at either door", async () => {
    removed.add("vm.console.any");
    expect(await doors(root)).toEqual({ page: null, upgrade: null });
  });

  it("a suspended user is refused at the upgrade's re-check even with a valid ticket", async () => {
    rows.users.set("alice", { ...alice, status: "suspended" });
    expect((await doors({ ...alice, status: "suspended" })).upgrade).toBeNull();
  });
});
