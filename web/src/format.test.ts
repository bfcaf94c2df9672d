import { describe, expect, it } from "vitest";
import { ago, kib, ms, pendingText, tone, verdictName } from "./format";
import { href, parseRoute } from "./router";

describe("format", () => {
  it("names verdicts and their tone", () => {
    expect(verdictName("WA")).toBe("Wrong answer");
    expect([tone("AC"), tone("WA"), tone("QUEUED"), tone(undefined)]).toEqual(["good", "bad", "pending", "neutral"]);
  });
  it("prints sizes and times", () => {
    expect([ms(12), ms(2500), kib(900), kib(2048), ms(undefined)]).toEqual(["12 ms", "2.50 s", "900 KiB", "2.0 MiB", "—"]);
    expect(ago(1_000, 31_000)).toBe("30 s ago");
    expect(pendingText("QUEUED")).toMatch(/waiting/);
  });
});

describe("routes", () => {
  it("round-trip through the hash", () => {
    for (const r of [
      { page: "playground" },
      { page: "problems" },
      { page: "problem", id: "a-plus-b" },
      { page: "submissions", problem: "sum", verdict: "WA" },
      { page: "submission", id: "01J" },
      { page: "profile" },
      { page: "admin" },
    ] as const) {
      expect(parseRoute(href(r))).toEqual({ problem: undefined, verdict: undefined, ...r });
    }
    expect(parseRoute("")).toEqual({ page: "playground" });
    expect(parseRoute("#/nowhere").page).toBe("missing");
  });
});
