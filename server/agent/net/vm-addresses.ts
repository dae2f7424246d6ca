/**
 * The addresses a VM holds (issue 12 point 2). Its vm.json has the one its next start gives it; while
 * it runs, its link was built for the one it booted with (net-booted.json, vm-link.ts), and its guest
 * keeps that one until it is started again. Both are taken while it runs: the pool gives neither to
 * another VM, and the packet rules and forwards follow the live one. Pure functions.
 */
import type { BootedAddress } from "./vm-link";

export interface VmAddressState {
  name: string;
  /** vm.json's address (null: none), the one its next start uses; the MAC follows it. */
  ipv4: string | null;
  mac: string;
  /** A UML process of the VM runs. */
  running: boolean;
  /** What its link was built for (null: no link, or none recorded). */
  live: BootedAddress | null;
}

function configured(vm: VmAddressState): BootedAddress | null {
  return vm.ipv4 ? { ipv4: vm.ipv4, mac: vm.mac } : null;
}

/** What the VM's traffic carries now: the booted address while it runs, else vm.json's. */
export function currentAddress(vm: VmAddressState): BootedAddress | null {
  return vm.running && vm.live ? vm.live : configured(vm);
}

/**
 * What the packet rules allow on a VM's port that is on the bridge: the address the link was built
 * for; vm.json's when none was recorded (a port with no chain would pass everything).
 */
export function portAddress(vm: VmAddressState): BootedAddress | null {
  return vm.live ?? configured(vm);
}

/** The running VM's address at its next start differs from the one it has now. */
export function appliesAtNextBoot(vm: VmAddressState): boolean {
  return vm.running && (vm.live?.ipv4 ?? null) !== vm.ipv4;
}

/** Every address held (address → holder): each VM's vm.json address and, while it runs, its live one. */
export function heldAddresses(vms: readonly VmAddressState[], except: string | null): Map<string, string> {
  const held = new Map<string, string>();
  for (const vm of vms) {
    if (vm.name === except) continue;
    if (vm.ipv4) held.set(vm.ipv4, vm.name);
    if (vm.running && vm.live) held.set(vm.live.ipv4, vm.name);
  }
  return held;
}
