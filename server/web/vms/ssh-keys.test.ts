// Keys made by the real ssh-keygen; fingerprints compared with what `ssh-keygen -lf` prints.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SSH_KEY_LINE } from "../../protocol/agent";
import { parseSshPublicKey } from "./ssh-keys";

let dir = "";
const keys: Record<string, { pub: string; fingerprint: string; priv: string }> = {};
const KINDS: [string, string[]][] = [
  ["ed25519", ["-t", "ed25519"]],
  ["ecdsa256", ["-t", "ecdsa", "-b", "256"]],
  ["ecdsa384", ["-t", "ecdsa", "-b", "384"]],
  ["ecdsa521", ["-t", "ecdsa", "-b", "521"]],
  ["rsa2048", ["-t", "rsa", "-b", "2048"]],
  ["rsa1024", ["-t", "rsa", "-b", "1024"]],
];

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "zaphod-sshkeys-"));
  for (const [name, args] of KINDS) {
    const file = path.join(dir, name);
    execFileSync("ssh-keygen", [...args, "-N", "", "-C", `${name}@laptop`, "-q", "-f", file]);
    const fingerprint =
      execFileSync("ssh-keygen", ["-lf", `${file}.pub`], { encoding: "utf8" }).split(" ")[1] ?? "";
    keys[name] = { pub: readFileSync(`${file}.pub`, "utf8"), fingerprint, priv: readFileSync(file, "utf8") };
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a member's SSH public key", () => {
  it("reads every key type ssh-keygen makes, with ssh-keygen's own fingerprint", () => {
    for (const name of ["ed25519", "ecdsa256", "ecdsa384", "ecdsa521", "rsa2048"]) {
      const k = keys[name];
      if (!k) throw new Error(`no ${name} key`);
      const parsed = parseSshPublicKey(k.pub);
      expect(parsed.fingerprint, name).toBe(k.fingerprint);
      expect(parsed.comment).toBe(`${name}@laptop`);
      expect(parsed.line).toBe(k.pub.trim());
      expect(parsed.line).toMatch(SSH_KEY_LINE); // what the agent accepts
    }
    expect(parseSshPublicKey(keys.rsa2048?.pub ?? "").bits).toBe(2048);
    expect(parseSshPublicKey(keys.ecdsa521?.pub ?? "").bits).toBe(521);
  });

  it("refuses what is not one usable public key, saying what it is", () => {
    const ed = keys.ed25519?.pub.trim() ?? "";
    const [type, b64] = ed.split(" ");
    const cases: [string, RegExp][] = [
      ["", /paste a public key/],
      [keys.ed25519?.priv ?? "", /that is a private key/],
      [`${ed}\n${keys.ecdsa256?.pub ?? ""}`, /one key per entry/],
      [`command="/bin/sh" ${ed}`, /options before the key type/],
      [`ssh-dss ${b64}`, /is not a key type zaphod accepts/],
      [`${type} ${b64?.slice(0, 40)}`, /cut short|not base64/],
      [`${type} ${b64?.slice(0, -4)}`, /cut short|not base64/],
      [`${type} not*base64`, /not base64/],
      [`ssh-rsa ${b64}`, /says ssh-rsa but holds a "ssh-ed25519" key/],
      [keys.rsa1024?.pub ?? "", /RSA key of 1024 bits is too weak/],
      [`${ed} evil\u202egnp.exe`, /control or direction characters/],
      // The agent takes printable ASCII only: a key saved with this would never reach the guest.
      [`${ed} jos\u00e9@laptop`, /must be plain ASCII/],
      [`${ed} ${"x".repeat(201)}`, /longer than 200/],
    ];
    for (const [input, message] of cases)
      expect(() => parseSshPublicKey(input), input.slice(0, 60)).toThrow(message);
  });

  it("refuses a blob with bytes after the key (two keys run together)", () => {
    const [type, b64, comment] = (keys.ed25519?.pub.trim() ?? "").split(" ");
    const doubled = Buffer.concat([Buffer.from(b64 ?? "", "base64"), Buffer.from([0, 0, 0, 1, 65])]).toString(
      "base64",
    );
    expect(() => parseSshPublicKey(`${type} ${doubled} ${comment}`)).toThrow(/bytes after its end/);
  });
});
