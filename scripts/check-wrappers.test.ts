import ts from "typescript";
import { describe, expect, it } from "vitest";
import { checkFile, checkTree, inlineServerActions } from "./check-wrappers";

const action = (body: string) => checkFile("app/actions/x.ts", `"use server";\n${body}`, "action");
const route = (body: string) => checkFile("app/api/x/route.ts", body, "route");

describe("check:wrappers", () => {
  it("accepts wrapped actions and handlers", () => {
    expect(
      action(`export const a = memberAction("vm.read", S, async () => 1);\nexport type T = number;`),
    ).toEqual([]);
    expect(
      route(
        `export const GET = withAdmin("audit.read", S, async () => 1);\nexport const dynamic = "force-dynamic";`,
      ),
    ).toEqual([]);
  });

  it("flags unwrapped server actions in every form", () => {
    expect(action("export async function leak() {}")).toHaveLength(1);
    expect(action("export const leak = async () => {};")).toHaveLength(1);
    expect(action("export const leak = someOtherHelper(async () => {});")).toHaveLength(1);
    expect(action(`export { leak } from "./elsewhere";`)).toHaveLength(1);
    expect(action(`export * from "./elsewhere";`)).toHaveLength(1);
    expect(action("export default async function leak() {}")).toHaveLength(1);
  });

  it("flags unwrapped route handlers", () => {
    expect(route("export async function POST() { return new Response(); }")).toHaveLength(1);
    expect(route("export const DELETE = async () => new Response();")).toHaveLength(1);
    expect(route(`export { GET } from "./other";`)).toHaveLength(1);
  });

  it("flags inline 'use server' functions", () => {
    const src = `export default function Page() { async function act() { "use server"; } return null; }`;
    const sf = ts.createSourceFile("app/page.tsx", src, ts.ScriptTarget.Latest, true, ts.ScriptKind.TSX);
    expect(inlineServerActions("app/page.tsx", sf)).toHaveLength(1);
  });

  it("the repository itself passes", () => {
    expect(checkTree(process.cwd())).toEqual([]);
  });
});
