import { describe, expect, it } from "vitest";
import { can, PERMISSIONS, ROLE_PERMISSIONS } from "./permissions";

describe("permission table", () => {
  it("members act on their own VMs and nothing else", () => {
    expect([...ROLE_PERMISSIONS.member].sort()).toEqual([
      "account.password",
      "account.sshKeys",
      "vm.access",
      "vm.console",
      "vm.network",
      "vm.power",
      "vm.read",
      "vm.snapshot",
    ]);
    for (const p of [
      "accounts.read",
      "accounts.approve",
      "accounts.suspend",
      "accounts.reset",
      "audit.read",
      "host.read",
      "vm.provision",
      "vm.read.any",
      "vm.console.any",
      "vm.power.any",
      "vm.snapshot.any",
      "vm.access.any",
      "vm.network.any",
      "network.admin",
      "vm.destroy",
      "vm.configure",
      "snapshots.approve",
      "snapshots.policy",
      "snapshots.quota",
      "accounts.delete",
    ] as const)
      expect(can("member", p), p).toBe(false);
  });

  it("admins hold every permission", () => {
    for (const p of PERMISSIONS) expect(can("admin", p), p).toBe(true);
  });

  it("lists only known permissions, without duplicates", () => {
    for (const perms of Object.values(ROLE_PERMISSIONS)) {
      expect(new Set(perms).size).toBe(perms.length);
      for (const p of perms) expect(PERMISSIONS).toContain(p);
    }
  });
});
