import { describe, expect, it } from "vitest";
import { Api, ApiError, SseParser, errorOf, query, type SseEvent } from "./api";

describe("errorOf", () => {
  it("keeps the server's JSON message", async () => {
    const e = await errorOf(new Response(JSON.stringify({ error: { code: "invalid", message: "language: unknown" } }), { status: 422 }));
    expect([e.status, e.code, e.message]).toEqual([422, "invalid", "language: unknown"]);
  });
  it("falls back to the status when the body is not JSON", async () => {
    const e = await errorOf(new Response("<html>bad gateway</html>", { status: 502, statusText: "Bad Gateway" }));
    expect([e.code, e.message]).toEqual(["http_502", "502 Bad Gateway"]);
  });
});

describe("Api", () => {
  it("sends the bearer token and JSON, and says when the server is away", async () => {
    const seen: [string, RequestInit][] = [];
    const api = new Api(() => "t0k", "http://x", async (url, init) => {
      seen.push([String(url), init!]);
      return new Response(JSON.stringify({ id: "r1", status: "QUEUED" }), { status: 202 });
    });
    const job = await api.createRun("python3", "print(1)", [{ stdin: "", args: [] }]);
    expect(job.id).toBe("r1");
    const [url, init] = seen[0];
    expect(url).toBe("http://x/runs");
    expect((init.headers as Record<string, string>).authorization).toBe("Bearer t0k");
    expect(JSON.parse(String(init.body)).language).toBe("python3");

    const away = new Api(() => null, "", async () => {
      throw new TypeError("Failed to fetch");
    });
    const err = await away.languages().catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).offline).toBe(true);
  });
  it("builds queries without empty values", () => {
    expect(query({ a: "x y", b: undefined, c: "", d: 2 })).toBe("?a=x%20y&d=2");
    expect(query({})).toBe("");
  });
});

describe("SseParser", () => {
  it("parses events cut anywhere", () => {
    const got: SseEvent[] = [];
    const p = new SseParser((e) => got.push(e));
    const text = "event: status\ndata: RUNNING\n\n: keep-alive\n\nevent: line\ndata: hello\n\nevent: line\r\ndata: a\ndata: b\r\n\r\nevent: end\ndata: COMPLETED\n\n";
    for (let i = 0; i < text.length; i += 3) p.push(text.slice(i, i + 3));
    expect(got).toEqual([
      { event: "status", data: "RUNNING" },
      { event: "line", data: "hello" },
      { event: "line", data: "a\nb" },
      { event: "end", data: "COMPLETED" },
    ]);
  });
});

describe("follow", () => {
  it("asks again from the last event's id until the end", async () => {
    const urls: string[] = [];
    const windows = [
      "event: status\nid: 0\ndata: RUNNING\n\nevent: line\nid: 1\ndata: first\n\n",
      "event: status\nid: 1\ndata: RUNNING\n\n",
      "event: line\nid: 2\ndata: second\n\nevent: end\ndata: COMPLETED\n\n",
    ];
    const api = new Api(() => "t", "http://x", async (url) => {
      urls.push(String(url));
      return new Response(windows.shift()!, { status: 200, headers: { "content-type": "text/event-stream" } });
    });
    const lines: string[] = [];
    await api.follow("r1", 0, "stdout", (e) => {
      if (e.event === "line") lines.push(e.data);
    });
    expect(lines).toEqual(["first", "second"]);
    expect(urls.map((u) => new URL(u).searchParams.get("cursor"))).toEqual([null, "1", "1"]);
  });
});
