import { describe, expect, it } from "vitest";
import { mayActOn, VM_CAPABILITIES } from "./access";

const member = { id: "m1", role: "member", status: "active" } as const;
const admin = { id: "a1", role: "admin", status: "active" } as const;
const own = { ownerId: "m1" };
const other = { ownerId: "m2" };

describe("the VM access rule", () => {
  it("lets a member use every capability on their own VM and none on another's", () => {
    for (const c of VM_CAPABILITIES) {
      expect(mayActOn(member, own, c), c).toBe(true);
      expect(mayActOn(member, other, c), c).toBe(false);
    }
  });

  it("lets an admin act on every VM through the .any permissions", () => {
    for (const c of VM_CAPABILITIES) expect(mayActOn(admin, other, c), c).toBe(true);
  });

  it("lets nobody act who is not active", () => {
    for (const status of ["pending", "suspended", "rejected"] as const)
      for (const c of VM_CAPABILITIES) {
        expect(mayActOn({ ...member, status }, own, c), `${status} ${c}`).toBe(false);
        expect(mayActOn({ ...admin, status }, other, c), `${status} ${c}`).toBe(false);
      }
  });
});
