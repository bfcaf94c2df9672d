// The coderun API, as the front end uses it. Every failure becomes an
// ApiError with the server's JSON message ({"error":{"code","message"}}),
// or `offline` when the server cannot be reached at all.

import type { components } from "./api.gen";

// The API's types, generated from its OpenAPI document (`npm run types`
// writes openapi.json and api.gen.ts; the test command checks both are
// current). What the document leaves open (a status's values, the verify
// report's shape) is said here.
type Schemas = components["schemas"];

export type Status = "QUEUED" | "STARTING" | "RUNNING" | "COMPLETED" | "FAILED";
export type Verdict = "AC" | "WA" | "TLE" | "MLE" | "OLE" | "RE" | "CE" | "IE" | "PA";

export type Language = Schemas["LanguageView"];
export type JobView = Schemas["JobView"];
export type InputView = Schemas["InputView"];
export type RunView = Schemas["RunView"];
export type TestView = Schemas["TestView"];
export type SubmissionView = Schemas["SubmissionView"];
export type ProblemSummary = Schemas["ProblemSummary"];
export type Sample = Schemas["Sample"];
export type ProblemView = Schemas["ProblemView"];
export type ProblemStats = Schemas["ProblemStats"];
export type Profile = Schemas["Profile"];
export type QueueStatus = Schemas["QueueStatus"];
export type ClientConfig = Schemas["ClientConfig"];
export type ImportView = Omit<Schemas["ImportView"], "report"> & { report?: VerifyReport | null };

export interface VerifyReport {
  problem: string;
  time_limit_ms: number;
  time_limit_derived: boolean;
  submissions: {
    submission: string;
    expected?: string;
    verdict: string;
    time_ms: number;
    agrees: boolean;
    unmet?: string[];
    error?: string;
  }[];
  disagreements: unknown[];
  /// Every input validator run on every input (absent in reports made before it).
  input_validation?: DataValidation;
  /// Every answer validator run on every answer (likewise).
  answer_validation?: DataValidation;
}

export interface DataValidation {
  validators: string[];
  inputs: number;
  failures: { validator: string; test?: string; message: string }[];
  not_run?: string[];
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

export class ApiError extends Error {
  constructor(
    public readonly status: number,
    public readonly code: string,
    message: string,
  ) {
    super(message);
  }
  get offline(): boolean {
    return this.code === "offline";
  }
}

/// The error a failed response carries: the server's JSON message when it
/// sent one, else the HTTP status.
export async function errorOf(resp: Response): Promise<ApiError> {
  let code = `http_${resp.status}`;
  let message = `${resp.status} ${resp.statusText || "error"}`;
  try {
    const body = await resp.json();
    if (body && typeof body.error === "object" && body.error) {
      code = String(body.error.code ?? code);
      message = String(body.error.message ?? message);
    }
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  return new ApiError(resp.status, code, message);
}

export const isFinal = (s: Status) => s === "COMPLETED" || s === "FAILED";

/// The API's base URL: the page's origin (coderun serve), or the one the
/// build was given (VITE_API_BASE, a front end hosted apart from the API).
export const apiBase: string = (import.meta.env?.VITE_API_BASE as string | undefined)?.replace(/\/$/, "") ?? "";

export class Api {
  constructor(
    private readonly token: () => string | null,
    private readonly base: string = apiBase,
    private readonly fetchImpl: typeof fetch = (...a) => fetch(...a),
  ) {}

  async request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const h: Record<string, string> = { ...headers };
    const t = this.token();
    if (t) h.authorization = `Bearer ${t}`;
    let payload: BodyInit | undefined;
    if (body instanceof Blob || body instanceof ArrayBuffer) {
      payload = body as BodyInit;
    } else if (body !== undefined) {
      h["content-type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let resp: Response;
    try {
      resp = await this.fetchImpl(this.base + path, { method, headers: h, body: payload });
    } catch {
      throw new ApiError(0, "offline", "The coderun server cannot be reached. Is it running?");
    }
    if (!resp.ok) throw await errorOf(resp);
    if (resp.status === 204) return undefined as T;
    return (await resp.json()) as T;
  }

  /// Like `request`, with the response's status (201 vs 202 on imports).
  async requestWithStatus<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<[number, T]> {
    const h: Record<string, string> = { ...headers };
    const t = this.token();
    if (t) h.authorization = `Bearer ${t}`;
    let resp: Response;
    try {
      resp = await this.fetchImpl(this.base + path, { method, headers: h, body: body as BodyInit });
    } catch {
      throw new ApiError(0, "offline", "The coderun server cannot be reached. Is it running?");
    }
    if (!resp.ok) throw await errorOf(resp);
    return [resp.status, (await resp.json()) as T];
  }

  config = () => this.request<ClientConfig>("GET", "/config.json");
  languages = () => this.request<Language[]>("GET", "/languages");
  problems = (cursor?: string) =>
    this.request<Page<ProblemSummary>>("GET", `/problems${query({ cursor, limit: 50 })}`);
  problem = (id: string) => this.request<ProblemView>("GET", `/problems/${encodeURIComponent(id)}`);
  createRun = (language: string, source: string, inputs: { stdin: string; args: string[] }[]) =>
    this.request<JobView>("POST", "/runs", { language, source, inputs });
  run = (id: string) => this.request<RunView>("GET", `/runs/${encodeURIComponent(id)}`);
  submit = (problem_id: string, language: string, source: string) =>
    this.request<JobView>("POST", "/submissions", { problem_id, language, source });
  submission = (id: string) => this.request<SubmissionView>("GET", `/submissions/${encodeURIComponent(id)}`);
  submissions = (f: { problem_id?: string; verdict?: string; cursor?: string; limit?: number }) =>
    this.request<Page<JobView>>("GET", `/submissions${query({ ...f, limit: f.limit ?? 20 })}`);
  me = () => this.request<Profile>("GET", "/me");
  queue = () => this.request<QueueStatus>("GET", "/admin/queue");
  importPackage = (file: Blob, name: string, id?: string, replace = false) =>
    this.requestWithStatus<ImportView | (ProblemView & { verify_report: VerifyReport })>(
      "POST",
      `/problems/import${query({ id: id || undefined, replace: replace ? "true" : undefined })}`,
      file,
      { "content-type": name.endsWith(".zip") ? "application/zip" : "application/gzip" },
    );
  importStatus = (id: string) => this.request<ImportView>("GET", `/imports/${encodeURIComponent(id)}`);
  devLogin = (user: string, roles: string[]) =>
    this.request<{ token: string; expires_in: number }>("POST", "/auth/dev-login", { user, roles });

  /// A run's output as the program prints it: Server-Sent Events over
  /// fetch (EventSource cannot send the bearer token). Where responses
  /// arrive whole (on AWS, through API Gateway), the server answers in
  /// windows that end with their news; this asks again from the last
  /// event's id until the `end` event.
  async follow(id: string, input: number, stream: "stdout" | "stderr", onEvent: (e: SseEvent) => void, signal?: AbortSignal): Promise<void> {
    let cursor: string | undefined;
    for (;;) {
      const h: Record<string, string> = { accept: "text/event-stream" };
      const t = this.token();
      if (t) h.authorization = `Bearer ${t}`;
      const resp = await this.fetchImpl(
        `${this.base}/runs/${encodeURIComponent(id)}/logs${query({ stream, input, follow: "true", cursor })}`,
        { headers: h, signal },
      );
      if (!resp.ok || !resp.body) throw await errorOf(resp);
      let ended = false;
      const parser = new SseParser((e) => {
        if (e.id !== undefined) cursor = e.id;
        if (e.event === "end" || e.event === "error") ended = true;
        onEvent(e);
      });
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(value);
      }
      if (ended || signal?.aborted) return;
    }
  }
}

export function query(params: Record<string, string | number | undefined | null>): string {
  const q = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join("&");
  return q ? `?${q}` : "";
}

export interface SseEvent {
  event: string;
  data: string;
  /// The event's `id:` (where a follower resumes), if it has one.
  id?: string;
}

/// Parses a text/event-stream as it arrives, in chunks cut anywhere.
export class SseParser {
  private buffer = "";
  private event = "message";
  private data: string[] = [];
  private id: string | undefined;

  constructor(private readonly onEvent: (e: SseEvent) => void) {}

  push(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.search(/\r?\n/)) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + (this.buffer[nl] === "\r" ? 2 : 1));
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === "") {
      if (this.data.length) {
        const e: SseEvent = { event: this.event, data: this.data.join("\n") };
        if (this.id !== undefined) e.id = this.id;
        this.onEvent(e);
      }
      this.event = "message";
      this.data = [];
      this.id = undefined;
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id") this.id = value;
  }
}
