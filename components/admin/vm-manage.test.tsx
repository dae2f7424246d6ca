/**
 * The admin's VM page and the VM's state badge for a destroy that began and did not finish
 * (issue 11 point 1): the page offers "Finish destroy" (the same destroy action, no name to type
 * again), not the usual destroy form; while the destroy runs it says so and the button waits.
 * Rendered to HTML as the server renders them (the router is the only client context they use).
 */
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it, vi } from "vitest";
import { VmStateBadge } from "@/components/vms/vm-state-badge";
import { unknownLive, type VmLive } from "@/server/web/vms/views";
import { destroyOffer, VmManage, type VmManageActions } from "./vm-manage";

vi.mock("next/navigation", () => ({ useRouter: () => ({ push() {}, refresh() {} }) }));

const ok = async () => ({ ok: true as const, data: null });
const actions: VmManageActions = {
  setMemory: ok,
  setAutostart: ok,
  growStorage: ok,
  changeOwner: ok,
  move: ok,
  destroy: ok,
};
const vm = {
  name: "half",
  ownerId: "u1",
  ownerUsername: "ivan",
  memoryMiB: 64,
  storageGiB: 1,
  autostart: false,
  snapshotCount: 0,
  host: "local",
};
const live = (patch: Partial<VmLive>): VmLive => ({ ...unknownLive("half"), ...patch });
const page = (l: VmLive, hosts = ["local"], v = vm) =>
  renderToStaticMarkup(<VmManage vm={v} live={l} owners={[]} hosts={hosts} actions={actions} />);

describe("the move card on the admin's VM page (several hosts)", () => {
  it("is absent with one host; with several it names the VM's host and offers the others", () => {
    expect(page(live({ state: "stopped" }))).not.toContain("Move to");
    const html = page(live({ state: "stopped" }), ["local", "rack2"]);
    expect(html).toContain('data-testid="vm-host">local<');
    expect(html).toMatch(/<option value="rack2"[^>]*>rack2<\/option>/);
    expect(html).not.toContain('<option value="local">');
  });

  it("says what stops a move (a running VM), and that snapshots go with it", () => {
    expect(page(live({ state: "running" }), ["local", "rack2"])).toContain("Shut the VM down first.");
    const html = page(live({ state: "stopped" }), ["local", "rack2"], { ...vm, snapshotCount: 2 });
    expect(html).toContain("its disks and its 2 snapshots copied and checked");
    expect(html).not.toMatch(/<select name="host"[^>]*disabled=""/);
  });
});

describe("a half-done destroy on the admin's VM page", () => {
  it("offers Finish destroy, not the destroy form, and the badge says destroy incomplete", () => {
    const html = page(live({ state: "destroying", busy: null }));
    expect(html).toContain('data-testid="destroy-incomplete"');
    expect(html).toContain("Finish destroy");
    expect(html).toMatch(/began and did not finish/);
    expect(html).not.toContain("Destroy half</button>");
    expect(html).not.toContain("need the VM shut down");
    expect(renderToStaticMarkup(<VmStateBadge live={live({ state: "destroying", busy: null })} />)).toContain(
      "destroy incomplete",
    );
  });

  it("while the destroy runs: says so, the button is disabled, the badge says destroying", () => {
    const html = page(live({ state: "destroying", busy: "vm.destroy" }));
    expect(html).toContain("is being destroyed now");
    expect(html).toMatch(/<button[^>]*disabled[^>]*>.*Finish destroy/s);
    expect(
      renderToStaticMarkup(<VmStateBadge live={live({ state: "destroying", busy: "vm.destroy" })} />),
    ).toMatch(/>destroying</);
  });

  it("a stopped VM gets the usual destroy form; a running one is told to shut down first", () => {
    expect(page(live({ state: "stopped" }))).not.toContain("Finish destroy");
    expect(page(live({ state: "stopped" }))).toContain("Type <span");
    expect(destroyOffer({ state: "running", busy: null })).toBe("wait");
    expect(destroyOffer({ state: "crashed", busy: null })).toBe("destroy");
    expect(destroyOffer({ state: "destroying", busy: null })).toBe("finish");
  });
});
