/**
 * VM addresses, the seed's way (issue 12): a bridge subnet with the host as gateway, an IPv4 pool
 * from which each VM gets an address, a MAC made from that address (`FE:FD` + the address in hex,
 * as the 2002 box did) and an IPv6 address per VM from a /64 prefix and the MAC (EUI-64). Pure
 * functions over numbers, shared by the web tier (allocation, checks) and the agent (taps, seed
 * disks); every refusal is a sentence a member or admin can act on.
 */
import { z } from "zod";

export class AddressError extends Error {
  override name = "AddressError";
}

const OCTET = /^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$/;

/** "10.77.0.5" → 0x0a4d0005; no leading zeros, no short forms (they mean other things to libc). */
export function parseIPv4(text: string): number {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p)))
    throw new AddressError(
      `${JSON.stringify(text.slice(0, 64))} is not an IPv4 address (four numbers 0–255, e.g. 10.77.0.5)`,
    );
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function formatIPv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

export type Ipv4Subnet = { network: number; prefix: number };

/** "10.77.0.0/24": the network address must be the subnet's first (no host bits set). */
export function parseCidr(text: string): Ipv4Subnet {
  const [addr, len, extra] = text.split("/");
  if (addr === undefined || len === undefined || extra !== undefined || !/^[0-9]{1,2}$/.test(len))
    throw new AddressError(
      `${JSON.stringify(text.slice(0, 64))} is not a subnet (ADDRESS/PREFIX, e.g. 10.77.0.0/24)`,
    );
  const prefix = Number(len);
  if (prefix < 8 || prefix > 30) throw new AddressError(`a VM subnet's prefix must be 8–30, not /${prefix}`);
  const network = parseIPv4(addr);
  if (network % 2 ** (32 - prefix) !== 0) {
    const fixed = formatIPv4(network - (network % 2 ** (32 - prefix)));
    throw new AddressError(`${text} has host bits set: the subnet is ${fixed}/${prefix}`);
  }
  return { network, prefix };
}

export function formatCidr(s: Ipv4Subnet): string {
  return `${formatIPv4(s.network)}/${s.prefix}`;
}

export function subnetSize(s: Ipv4Subnet): number {
  return 2 ** (32 - s.prefix);
}

export function inSubnet(s: Ipv4Subnet, ip: number): boolean {
  return ip >= s.network && ip < s.network + subnetSize(s);
}

/**
 * A pool: the addresses VMs may get, a range inside the subnet that holds neither the network
 * address, the broadcast address nor the gateway (the host's address on the bridge).
 */
export type Ipv4Pool = { subnet: Ipv4Subnet; gateway: number; first: number; last: number };

export function makePool(subnet: string, gateway: string, range?: { first: string; last: string }): Ipv4Pool {
  const s = parseCidr(subnet);
  const gw = parseIPv4(gateway);
  const broadcast = s.network + subnetSize(s) - 1;
  if (!inSubnet(s, gw) || gw === s.network || gw === broadcast)
    throw new AddressError(`the gateway ${gateway} must be a host address inside ${subnet}`);
  // By default every host address but the gateway's (which then bounds the range when it is the
  // subnet's first or last host, as it usually is).
  let first = range ? parseIPv4(range.first) : s.network + 1;
  let last = range ? parseIPv4(range.last) : broadcast - 1;
  if (!range && gw === first) first++;
  if (!range && gw === last) last--;
  if (!inSubnet(s, first) || !inSubnet(s, last) || first === s.network || last === broadcast)
    throw new AddressError(
      `the pool ${formatIPv4(first)}–${formatIPv4(last)} must lie inside ${subnet}, without its network and broadcast addresses`,
    );
  if (first > last)
    throw new AddressError(`the pool starts at ${formatIPv4(first)}, after its end ${formatIPv4(last)}`);
  return { subnet: s, gateway: gw, first, last };
}

/** How many addresses the pool offers (the gateway excluded when it falls inside the range). */
export function poolCapacity(pool: Ipv4Pool): number {
  const gatewayInside = pool.gateway >= pool.first && pool.gateway <= pool.last ? 1 : 0;
  return pool.last - pool.first + 1 - gatewayInside;
}

/** Why `ip` cannot be a VM's address (null when it can): outside the pool, the gateway, or taken. */
export function refuseAddress(pool: Ipv4Pool, ip: string, taken: ReadonlyMap<string, string>): string | null {
  let n: number;
  try {
    n = parseIPv4(ip);
  } catch (error) {
    return (error as Error).message;
  }
  if (n === pool.gateway) return `${ip} is the host's own address on the VM network (the gateway)`;
  if (n < pool.first || n > pool.last)
    return `${ip} is outside the VM address pool ${formatIPv4(pool.first)}–${formatIPv4(pool.last)}`;
  const holder = taken.get(formatIPv4(n));
  if (holder !== undefined) return `${ip} is already ${holder}'s address`;
  return null;
}

/** The lowest free address of the pool, or null when every address is taken. */
export function allocateIPv4(
  pool: Ipv4Pool,
  taken: ReadonlySet<string> | ReadonlyMap<string, string>,
): string | null {
  for (let n = pool.first; n <= pool.last; n++) {
    if (n === pool.gateway) continue;
    const text = formatIPv4(n);
    if (!taken.has(text)) return text;
  }
  return null;
}

/** The seed's MAC: `fe:fd` and the IPv4 address in hex (10.77.0.5 → fe:fd:0a:4d:00:05); locally administered. */
export function macFromIPv4(ip: string): string {
  const n = parseIPv4(ip);
  const hex = n.toString(16).padStart(8, "0");
  return `fe:fd:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}:${hex.slice(6, 8)}`;
}

export const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A /64 prefix, written as its first address (`fd00:77::/64`); only /64 (SLAAC and EUI-64 need it). */
export function parseIPv6Prefix(text: string): number[] {
  const [addr, len, extra] = text.split("/");
  if (addr === undefined || len !== "64" || extra !== undefined)
    throw new AddressError(
      `${JSON.stringify(text.slice(0, 64))} is not an IPv6 /64 prefix (e.g. fd00:77::/64)`,
    );
  const groups = parseIPv6(addr);
  if (groups.slice(4).some((g) => g !== 0)) throw new AddressError(`${text} has bits set after the first 64`);
  return groups;
}

/** Eight 16-bit groups of an IPv6 address (`::` expanded); no embedded IPv4, no zone. */
export function parseIPv6(text: string): number[] {
  const bad = () => new AddressError(`${JSON.stringify(text.slice(0, 64))} is not an IPv6 address`);
  if (!/^[0-9a-fA-F:]{2,39}$/.test(text)) throw bad();
  const halves = text.split("::");
  if (halves.length > 2) throw bad();
  const side = (s: string) => (s === "" ? [] : s.split(":"));
  const head = side(halves[0] ?? "");
  const tail = halves.length === 2 ? side(halves[1] ?? "") : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) throw bad();
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (!all.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) throw bad();
  return all.map((g) => Number.parseInt(g, 16));
}

/** RFC 5952 text: lower case, leading zeros dropped, the longest run (≥ 2) of zero groups as `::`. */
export function formatIPv6(groups: number[]): string {
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len && j - i >= 2) best = { at: i, len: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(":");
  return `${hex.slice(0, best.at).join(":")}::${hex.slice(best.at + best.len).join(":")}`;
}

/** The VM's IPv6 address: the /64 prefix and the MAC's modified EUI-64 (the U/L bit flipped, ff:fe in the middle). */
export function ipv6FromMac(prefix: string, mac: string): string {
  if (!MAC_RE.test(mac)) throw new AddressError(`${JSON.stringify(mac)} is not a MAC address`);
  const p = parseIPv6Prefix(prefix);
  const b = mac.split(":").map((x) => Number.parseInt(x, 16));
  const [b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0] = b;
  const iid = [((b0 ^ 0x02) << 8) | b1, (b2 << 8) | 0xff, (0xfe << 8) | b3, (b4 << 8) | b5];
  return formatIPv6([...p.slice(0, 4), ...iid]);
}

export const ipv4Schema = z.string().refine(
  (s) => {
    try {
      parseIPv4(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: "not an IPv4 address" },
);
