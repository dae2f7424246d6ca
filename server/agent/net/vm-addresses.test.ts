import { describe, expect, it } from "vitest";
import {
  appliesAtNextBoot,
  currentAddress,
  heldAddresses,
  portAddress,
  type VmAddressState,
} from "./vm-addresses";

const booted = { ipv4: "10.77.0.10", mac: "fe:fd:0a:4d:00:0a" };
/** neta runs with .10; the admin has since given it .12 (vm.json). */
const changed: VmAddressState = {
  name: "neta",
  ipv4: "10.77.0.12",
  mac: "fe:fd:0a:4d:00:0c",
  running: true,
  live: booted,
};
const other: VmAddressState = {
  name: "netb",
  ipv4: "10.77.0.11",
  mac: "fe:fd:0a:4d:00:0b",
  running: false,
  live: null,
};

describe("a running VM's address after a change (issue 12 point 2)", () => {
  it("keeps its booted address and MAC for its traffic and its port's rules until its next start", () => {
    expect(currentAddress(changed)).toEqual(booted);
    expect(portAddress(changed)).toEqual(booted);
    expect(appliesAtNextBoot(changed)).toBe(true);
  });

  it("holds both its live and its pending address against every other VM", () => {
    const held = heldAddresses([changed, other], "netb");
    expect([...held]).toEqual([
      ["10.77.0.12", "neta"],
      ["10.77.0.10", "neta"],
    ]);
    // Its own addresses are free for itself (setting .10 back is fine).
    expect([...heldAddresses([changed, other], "neta")]).toEqual([["10.77.0.11", "netb"]]);
  });

  it("stopped, only vm.json counts: a record left by a crash neither holds nor applies", () => {
    const stopped = { ...changed, running: false };
    expect(currentAddress(stopped)).toEqual({ ipv4: "10.77.0.12", mac: "fe:fd:0a:4d:00:0c" });
    expect(appliesAtNextBoot(stopped)).toBe(false);
    expect([...heldAddresses([stopped], null).keys()]).toEqual(["10.77.0.12"]);
  });

  it("a port with no record gets vm.json's address (never no chain); unchanged VMs apply nothing", () => {
    const unrecorded = { ...other, running: true };
    expect(portAddress(unrecorded)).toEqual({ ipv4: "10.77.0.11", mac: "fe:fd:0a:4d:00:0b" });
    expect(appliesAtNextBoot({ ...changed, ipv4: booted.ipv4, mac: booted.mac })).toBe(false);
  });

  it("an address given to a VM started without one, or taken from a running one, applies at the next start", () => {
    expect(appliesAtNextBoot(unrecordedRunning())).toBe(true);
    expect(appliesAtNextBoot({ ...changed, ipv4: null })).toBe(true);
    expect(currentAddress({ ...changed, ipv4: null })).toEqual(booted);
  });
});

function unrecordedRunning(): VmAddressState {
  return { ...other, running: true, live: null };
}
