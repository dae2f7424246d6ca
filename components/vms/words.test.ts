import { describe, expect, it } from "vitest";
import { AuditActions } from "@/server/web/domain";
import {
  actorText,
  auditActionText,
  busyText,
  formatCountdown,
  historyText,
  memoryText,
  taskOutcome,
  taskStateText,
  taskTitle,
} from "./words";

const cli = { label: "cli", isAccount: false };
const system = { label: "system", isAccount: false };
const alice = { label: "alice", isAccount: true };

describe("history", () => {
  it("says who did what in plain words, matching the buttons", () => {
    expect(historyText({ action: "vm.start", result: "success", actor: cli })).toBe(
      "Started by the host admin from the command line",
    );
    expect(historyText({ action: "vm.shutdown", result: "success", actor: alice })).toBe(
      "Shut down by alice",
    );
    expect(historyText({ action: "vm.reboot", result: "success", actor: alice })).toBe(
      "Reboot requested by alice",
    );
    expect(historyText({ action: "vm.poweroff", result: "success", actor: alice }, "alice")).toBe(
      "Forced off by you",
    );
    expect(historyText({ action: "vm.reset", result: "success", actor: system, during: "reboot" })).toBe(
      "Hard-reset during a reboot by the panel itself",
    );
    expect(historyText({ action: "vm.start", result: "failure", actor: alice })).toBe(
      "Start by alice failed",
    );
    expect(
      historyText({ action: "console.open", result: "success", actor: { label: "admin", isAccount: true } }),
    ).toBe("Console opened by admin");
  });

  it("never shows a raw action name, even for one it does not know", () => {
    const text = historyText({ action: "vm.frobnicate_disk", result: "success", actor: alice });
    expect(text).toBe("Frobnicate disk by alice");
    expect(text).not.toMatch(/vm\.|_/);
  });

  it("an account named like the CLI is still a person", () => {
    expect(actorText({ label: "cli", isAccount: true })).toBe("cli");
  });
});

describe("tasks", () => {
  it("are named like the buttons", () => {
    expect(taskTitle("shutdown")).toBe("Shut down");
    expect(taskTitle("poweroff")).toBe("Force off");
    expect(taskTitle("reset")).toBe("Hard reset");
    expect(taskTitle("restore")).toBe("Restore a snapshot");
    expect(taskTitle("grow-storage")).toBe("Grow storage");
  });

  it("an escalated reboot is not listed as a plain success", () => {
    expect(taskOutcome({ kind: "reboot", status: "succeeded", hardReset: true })).toEqual({
      text: "ended with a hard reset",
      tone: "escalated",
    });
    expect(taskOutcome({ kind: "reboot", status: "succeeded", hardReset: false }).text).toBe("done");
    expect(taskOutcome({ kind: "start", status: "failed" }).tone).toBe("failed");
  });
});

describe("the badge during a task", () => {
  const now = Date.parse("2026-12-01T10:00:00.000Z");
  const reboot = {
    kind: "reboot",
    status: "running",
    step: "rebooting",
    resetAt: null,
    graceEndsAt: "2026-12-01T10:01:12.000Z",
    hardReset: false,
  };

  it("a graceful reboot says what it waits for and when the hard reset is offered", () => {
    expect(taskStateText(reboot, now)).toEqual({
      state: "rebooting",
      detail: "waiting for the guest, hard reset offered in 1:12",
    });
    expect(taskStateText(reboot, now + 80_000)?.detail).toBe("waiting for the guest");
  });

  it("then counts down to the hard reset, then says it is resetting", () => {
    expect(
      taskStateText({ ...reboot, graceEndsAt: null, resetAt: "2026-12-01T10:00:25.000Z" }, now)?.detail,
    ).toBe("not back yet, hard reset in 0:25");
    expect(taskStateText({ ...reboot, hardReset: true }, now)?.detail).toBe("hard reset under way");
  });

  it("an ended task or none leaves the VM's own state", () => {
    expect(taskStateText({ ...reboot, status: "succeeded" }, now)).toBeNull();
    expect(taskStateText(null, now)).toBeNull();
    expect(taskStateText({ ...reboot, kind: "snapshot" }, now)).toBeNull();
  });

  it("formats countdowns as m:ss", () => {
    expect(formatCountdown(72)).toBe("1:12");
    expect(formatCountdown(4.2)).toBe("0:05");
    expect(formatCountdown(-3)).toBe("0:00");
  });
});

describe("the host's lock", () => {
  it("names the other action in words", () => {
    expect(busyText("snapshot.restore")).toBe("Another action is running on this VM: restoring a snapshot");
    expect(busyText("vm.somethingNew")).toBe("Another action is running on this VM: something new");
  });
});

describe("memory", () => {
  it("shows the configured size and what the guest can use", () => {
    // What a busybox guest given 64 MiB reports: MemTotal ~39 MiB after the kernel's own share.
    expect(memoryText(64, { memTotalKiB: 39 * 1024 + 300, memAvailableKiB: 25 * 1024 })).toEqual({
      configured: "64 MiB configured",
      guest: "guest uses 14 of 39 MiB usable",
    });
    expect(memoryText(64, { memTotalKiB: null, memAvailableKiB: null })).toEqual({
      configured: "64 MiB configured",
      guest: null,
    });
  });
});

describe("the admin's audit log", () => {
  it("names every audit action in words, never only as a code", () => {
    for (const action of AuditActions) {
      const text = auditActionText(action);
      expect(text).not.toMatch(/[._]/);
      expect(text[0]).toBe(text[0]?.toUpperCase());
    }
    expect(auditActionText("account.suspend")).toBe("Account suspended");
    expect(auditActionText("signin.failure")).toBe("Sign-in failed");
  });
});
