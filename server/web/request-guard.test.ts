import { describe, expect, it } from "vitest";
import { refuseServerAction, SERVER_ACTION_BODY_LIMIT } from "./request-guard";

const ORIGINS = ["http://127.0.0.1:3000"];
const post = (headers: Record<string, string>, url = "/vms/new") => ({
  method: "POST",
  url,
  headers: { "next-action": "7f00", origin: ORIGINS[0], "content-length": "10", ...headers },
});

describe("server-action requests before Next", () => {
  it("check 4: a foreign, null or missing Origin gets 403", () => {
    for (const origin of ["http://evil.example", "null", "http://127.0.0.1:3000.evil.example"])
      expect(refuseServerAction(post({ origin }), ORIGINS)).toMatchObject({ status: 403 });
    const noOrigin = post({});
    delete (noOrigin.headers as Record<string, string>).origin;
    expect(refuseServerAction(noOrigin, ORIGINS)).toMatchObject({ status: 403 });
  });

  it("check 4: a body over the limit gets 413, an unknown length 411, a good one passes", () => {
    expect(
      refuseServerAction(post({ "content-length": String(SERVER_ACTION_BODY_LIMIT + 1) }), ORIGINS),
    ).toEqual({
      status: 413,
      message: "Request refused: the form is too large (at most 64 kB).",
    });
    const chunked = post({ "transfer-encoding": "chunked" });
    delete (chunked.headers as Record<string, string>)["content-length"];
    expect(refuseServerAction(chunked, ORIGINS)).toMatchObject({ status: 411 });
    expect(refuseServerAction(post({ "content-length": "1e9" }), ORIGINS)).toMatchObject({ status: 411 });
    expect(
      refuseServerAction(post({ "content-length": String(SERVER_ACTION_BODY_LIMIT) }), ORIGINS),
    ).toBeNull();
  });

  it("leaves reads and route handlers alone; a form post without JavaScript is checked too", () => {
    expect(
      refuseServerAction({ method: "GET", url: "/", headers: { origin: "http://evil.example" } }, ORIGINS),
    ).toBeNull();
    expect(
      refuseServerAction(
        { method: "POST", url: "/api/vms", headers: { origin: "http://evil.example" } },
        ORIGINS,
      ),
    ).toBeNull();
    expect(
      refuseServerAction(
        { method: "POST", url: "/login", headers: { origin: "http://evil.example" } },
        ORIGINS,
      ),
    ).toMatchObject({ status: 403 });
  });
});
