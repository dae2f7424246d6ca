import { describe, expect, it } from "vitest";
import { AgentCallError } from "../agent/client";
import { ActionFailure } from "../errors";
import { toActionFailure, userMessageOf } from "./agent-errors";

describe("agent errors become user messages once (host text never reaches the browser)", () => {
  it("maps every agent code without leaking the agent's message", () => {
    const secret = "/var/lib/zaphod/vms/alice/run: EACCES uid 1234";
    for (const code of [
      "not-found",
      "invalid-state",
      "conflict",
      "timeout",
      "invalid-request",
      "no-space",
      "internal",
    ] as const) {
      const m = userMessageOf(new AgentCallError(code, secret, "vm.start"), "vm.start");
      expect(m.message).not.toContain("/var/lib");
      expect(m.message).not.toContain("EACCES");
    }
    expect(userMessageOf(new AgentCallError("invalid-state", secret, "vm.start"), "vm.start")).toEqual({
      code: "conflict",
      message: "The VM is already running.",
    });
    expect(userMessageOf(new AgentCallError("conflict", secret, "vm.reboot"), "vm.reboot").code).toBe(
      "conflict",
    );
  });
  it("says what to do for the admin's offline verbs", () => {
    const secret = "storage.img is not a regular file of the VM's user";
    for (const op of ["vm.growStorage", "vm.setOwner"] as const) {
      const m = userMessageOf(new AgentCallError("invalid-state", secret, op), op);
      expect(m.message).toMatch(/^Shut the VM down first/);
      expect(m.message).not.toContain("storage.img");
    }
    expect(
      userMessageOf(new AgentCallError("invalid-request", "", "vm.growStorage"), "vm.growStorage"),
    ).toEqual({
      code: "invalid",
      message: "Storage only grows: choose a size larger than today's.",
    });
    expect(
      userMessageOf(new AgentCallError("invalid-state", "", "owner.remove"), "owner.remove").message,
    ).toBe("This account still owns a VM on the host.");
  });
  it("recognises an AgentCallError from another copy of the class (Next's separate module graphs)", () => {
    const foreign = Object.assign(new Error("host detail"), {
      name: "AgentCallError",
      code: "invalid-state",
    });
    expect(toActionFailure(foreign, "vm.poweroff")).toMatchObject({ code: "conflict" });
  });
  it("passes an ActionFailure through and hides anything else", () => {
    const f = new ActionFailure("not-found", "No such VM.");
    expect(toActionFailure(f)).toBe(f);
    expect(userMessageOf(new Error("ENOENT /etc/shadow")).message).toBe(
      "Something went wrong on our side. Please try again.",
    );
  });
});
