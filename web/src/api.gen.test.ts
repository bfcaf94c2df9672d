// The API's generated types are those of its document: openapi.json (which
// the test command checks against the server's) through openapi-typescript.
import openapiTS, { astToString } from "openapi-typescript";
import { describe, expect, it } from "vitest";
import doc from "../openapi.json";
import committed from "./api.gen.ts?raw";

describe("api.gen.ts", () => {
  it("is what openapi-typescript makes of openapi.json", async () => {
    const generated = astToString(await openapiTS(JSON.parse(JSON.stringify(doc))));
    const body = (s: string) => s.slice(s.indexOf("export"));
    expect(body(committed)).toBe(body(generated));
  });
});
