/**
 * What the browser learns about a VM's live state: plain JSON, no host details (no pid, no host
 * user, no paths). Shared by pages, route handlers and the event stream.
 */
import type { BootStage, SpacePause, VmState, VmStatus } from "../../protocol/agent";

export type VmLive = {
  name: string;
  /** `unknown` when the agent could not be asked. */
  state: VmState | "unknown";
  stage: BootStage | null;
  stageDetail: string | null;
  /** The operation holding the VM on the host, if any. */
  busy: string | null;
  /** Guest uptime when known, else the UML process's; null when stopped. */
  uptimeSeconds: number | null;
  /** Guest memory figures (KiB), null when stopped or not answered. */
  memTotalKiB: number | null;
  memAvailableKiB: number | null;
  bootId: string | null;
  /**
   * Set while the host holds the VM paused because its disk is nearly full: only when (the page
   * writes the words; the agent's reason names host figures and stays with the admin's pages).
   */
  pausedForSpace: Pick<SpacePause, "since"> | null;
  /** When these figures were read (ISO), so the browser can advance the uptime by itself. */
  at: string;
};

export function liveFromStatus(s: VmStatus): VmLive {
  return {
    name: s.name,
    state: s.state,
    stage: s.stage,
    stageDetail: s.stageDetail,
    busy: s.busy,
    uptimeSeconds: s.guest?.uptimeSeconds ?? s.processUptimeSeconds ?? null,
    memTotalKiB: s.guest?.memTotalKiB ?? null,
    memAvailableKiB: s.guest?.memAvailableKiB ?? null,
    bootId: s.bootId,
    pausedForSpace: s.pausedForSpace ? { since: s.pausedForSpace.since } : null,
    at: new Date().toISOString(),
  };
}

export function unknownLive(name: string): VmLive {
  return {
    name,
    state: "unknown",
    stage: null,
    stageDetail: null,
    busy: null,
    uptimeSeconds: null,
    memTotalKiB: null,
    memAvailableKiB: null,
    bootId: null,
    pausedForSpace: null,
    at: new Date().toISOString(),
  };
}
