import { describe, expect, it } from "vitest";
import { detectBootStage } from "./boot-stage";

describe("detectBootStage", () => {
  it("is booting while the kernel talks", () => {
    expect(detectBootStage("Linux version 6.1\r\nEXT4-fs (ubda): mounted\r\n").stage).toBe("booting");
  });
  it("is up at a login prompt, with colours and CR noise", () => {
    expect(detectBootStage("\r\n\x1b[0mvm-one login: ").stage).toBe("up");
    expect(detectBootStage("vm-one login: root\r\nvm-one:/root# \x1b[6n").stage).toBe("up");
  });
  it("is up at a shell prompt whose login scrolled away", () => {
    expect(detectBootStage("y\r\ny\r\n^C\r\nvm-one:/root# ")).toMatchObject({ stage: "up", detail: "shell" });
  });
  it("waits at the console at a maintenance, emergency, fsck or panic prompt", () => {
    expect(
      detectBootStage(
        "mount failed\r\nGive root password for maintenance\r\n(or press Control-D to continue):\r\n# ",
      ),
    ).toMatchObject({
      stage: "waiting-at-console",
      detail: "maintenance prompt",
    });
    expect(detectBootStage("You are in emergency mode. After logging in, type ...").stage).toBe(
      "waiting-at-console",
    );
    expect(detectBootStage("/dev/ubda: UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY.").detail).toBe(
      "fsck prompt",
    );
    expect(detectBootStage("Kernel panic - not syncing: VFS: Unable to mount root fs").detail).toBe(
      "kernel panic",
    );
  });
  it("lets the last prompt win: a login after a fixed maintenance shell is up", () => {
    expect(detectBootStage("Give root password for maintenance\r\n...reboot...\r\nvm login: ").stage).toBe(
      "up",
    );
    expect(detectBootStage("vm login: \r\n...\r\nGive root password for maintenance\r\n").stage).toBe(
      "waiting-at-console",
    );
  });
});
