/** Test support: the IPv4 and IPv6 forwarding sysctls as /proc/sys shows them, in a namespace or the host's own. */
import { run } from "../../exec";

const SYSCTLS = ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"];

/** ["0" | "1", "0" | "1"]: ip_forward and conf.all.forwarding inside `netns` (null: the test's own namespace). */
export async function forwardingIn(netns: string | null): Promise<string[]> {
  const out: string[] = [];
  for (const key of SYSCTLS) {
    const argv = ["cat", `/proc/sys/${key}`];
    out.push((await run(netns ? ["ip", "netns", "exec", netns, ...argv] : argv)).stdout.trim());
  }
  return out;
}
