import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AgentFailure } from "../errors";
import { checkForward, Forwards } from "./forwards";
import { isIpv4, relayArgv } from "./relay";

const alice = { hostPort: 2201, name: "alice", vmPort: 22 };

describe("checkForward", () => {
  it("refuses privileged ports", () => {
    expect(() => checkForward({ ...alice, hostPort: 1023 }, [])).toThrow(
      "privileged ports are refused: pick 1024–65535",
    );
    expect(() => checkForward({ ...alice, hostPort: 1024 }, [])).not.toThrow();
  });
  it("refuses a port already forwarded, naming where it goes", () => {
    const error = (() => {
      try {
        checkForward({ hostPort: 2201, name: "bob", vmPort: 80 }, [alice]);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(AgentFailure);
    expect((error as AgentFailure).code).toBe("conflict");
    expect((error as AgentFailure).message).toBe("2201 already forwards to alice:22");
    expect(() => checkForward({ ...alice, hostPort: 2202 }, [alice])).not.toThrow();
  });
});

describe("relayArgv", () => {
  it("connects only to the dotted address and port, as nobody, inside the namespace", () => {
    const argv = relayArgv("/run/netns/zbr", { ipv4: "10.0.0.5", port: 22 });
    expect(argv.slice(0, 2)).toEqual(["nsenter", "--net=/run/netns/zbr"]);
    expect(argv).toContain("--reuid=65534");
    expect(argv).toContain("--no-new-privs");
    expect(argv.slice(-5)).toEqual(["nc", "-w", "10", "10.0.0.5", "22"]);
  });
  it("refuses anything but an IPv4 address and a port", () => {
    for (const bad of ["-e", "10.0.0.256", "10.0.0", "host.example", "10.0.0.5 -e sh", "010.0.0.5"]) {
      expect(isIpv4(bad)).toBe(false);
      expect(() => relayArgv("/run/netns/zbr", { ipv4: bad, port: 22 })).toThrow();
    }
    expect(() => relayArgv("/run/netns/zbr", { ipv4: "10.0.0.5", port: 0 })).toThrow();
    expect(() => relayArgv("/run/netns/zbr", { ipv4: "10.0.0.5", port: 65536 })).toThrow();
  });
});

describe("forwards as nftables DNAT (ZAPHOD_NET_FORWARDS=nft)", () => {
  it("listens on nothing, rebuilds the rules on every change, and undoes an add whose rules fail", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "zaphod-forwards-"));
    try {
      const rebuilt: number[][] = [];
      let fail = false;
      const forwards: Forwards = new Forwards({
        dataDir,
        netns: null,
        forwardAddress: "127.0.0.1",
        vmAddress: async () => "10.77.0.5",
        mode: "nft",
        rulesChanged: async () => {
          if (fail) throw new Error("nft refused");
          rebuilt.push(forwards.list().map((f) => f.hostPort));
        },
        log: () => undefined,
      });
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      const f = { ...alice, hostPort: port };
      await forwards.start();
      await forwards.add(f);
      // Nothing of the agent's listens on the port: another server can take it.
      const other = createServer();
      await new Promise<void>((resolve, reject) => {
        other.once("error", reject);
        other.listen(port, "127.0.0.1", () => resolve());
      }).finally(() => other.close());
      fail = true;
      await expect(forwards.add({ ...f, hostPort: port + 1 })).rejects.toThrow("nft refused");
      expect(forwards.list()).toEqual([f]);
      expect(JSON.parse(await readFile(join(dataDir, "forwards.json"), "utf8"))).toEqual({ forwards: [f] });
      fail = false;
      await forwards.remove(port);
      expect(rebuilt).toEqual([[], [port], []]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
