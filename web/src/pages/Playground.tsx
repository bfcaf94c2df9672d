import { useEffect, useRef, useState } from "react";
import { isFinal, type JobView, type RunView } from "../api";
import { starters, useApp } from "../context";
import { Editor } from "../Editor";
import { kib, ms, pendingText } from "../format";
import { Badge, ErrorNote, LanguageSelect, useCode, useInterval } from "./common";

const MAX_INPUTS = 16;

interface Input {
  stdin: string;
  args: string;
}

export function Playground() {
  const { api, session, languages } = useApp();
  const { language, setLanguage, source, setSource } = useCode(starters(languages));
  const [inputs, setInputs] = useState<Input[]>([{ stdin: "world\n", args: "" }]);
  const [selected, setSelected] = useState(0);
  const [job, setJob] = useState<JobView | RunView | null>(null);
  const [live, setLive] = useState<string[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const streams = useRef<AbortController | null>(null);

  useEffect(() => () => streams.current?.abort(), []);

  const running = !!job && !isFinal(job.status);

  async function run() {
    if (busy || running) return;
    if (!session) {
      setError(new Error("Sign in to run code."));
      return;
    }
    setBusy(true);
    setError(null);
    setLive(inputs.map(() => ""));
    streams.current?.abort();
    try {
      const created = await api.createRun(
        language,
        source,
        inputs.map((i) => ({ stdin: i.stdin, args: i.args.split(/\s+/).filter(Boolean) })),
      );
      setJob(created);
      const ctl = new AbortController();
      streams.current = ctl;
      inputs.forEach((_, i) => {
        api
          .follow(
            created.id,
            i,
            "stdout",
            (e) => {
              if (e.event === "line") setLive((l) => l.map((text, j) => (j === i ? text + e.data + "\n" : text)));
              if (e.event === "status") setJob((j) => (j && !isFinal(j.status) ? { ...j, status: e.data as JobView["status"] } : j));
            },
            ctl.signal,
          )
          .catch(() => {
            // The result below carries the whole output anyway.
          });
      });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  useInterval(
    async () => {
      if (!job) return;
      try {
        const r = await api.run(job.id);
        if (isFinal(r.status)) streams.current?.abort();
        setJob(r);
      } catch (e) {
        setError(e);
      }
    },
    400,
    running,
  );

  const result = job && "results" in job ? job.results[selected] : undefined;
  const output = result ? result.stdout : (live[selected] ?? "");

  return (
    <div className="playground">
      <section className="pane">
        <div className="toolbar">
          <LanguageSelect value={language} onChange={setLanguage} />
          <button type="button" data-testid="run-button" onClick={() => void run()} disabled={busy || running} aria-keyshortcuts="Control+Enter">
            {running ? "Running…" : "Run"}
          </button>
          <span className="muted hint">Ctrl+Enter runs</span>
        </div>
        <Editor
          label="Source code"
          value={source}
          language={language}
          onChange={setSource}
          onRun={() => void run()}
        />
      </section>
      <section className="pane">
        <div className="tabs" role="tablist" aria-label="Inputs">
          {inputs.map((_, i) => (
            <button
              type="button"
              role="tab"
              key={i}
              aria-selected={i === selected}
              className={i === selected ? "tab active" : "tab"}
              onClick={() => setSelected(i)}
            >
              Input {i + 1}
              {job && "results" in job && job.results[i] && <Badge value={job.results[i].status} />}
            </button>
          ))}
          <button
            type="button"
            className="tab add"
            aria-label="Add an input"
            disabled={inputs.length >= MAX_INPUTS}
            onClick={() => {
              setInputs([...inputs, { stdin: "", args: "" }]);
              setSelected(inputs.length);
            }}
          >
            +
          </button>
          {inputs.length > 1 && (
            <button
              type="button"
              className="tab"
              aria-label="Remove this input"
              onClick={() => {
                setInputs(inputs.filter((_, i) => i !== selected));
                setSelected(Math.max(0, selected - 1));
              }}
            >
              −
            </button>
          )}
        </div>
        <label htmlFor="stdin">Standard input</label>
        <textarea
          id="stdin"
          data-testid="stdin-input"
          rows={5}
          value={inputs[selected]?.stdin ?? ""}
          onChange={(e) => setInputs(inputs.map((x, i) => (i === selected ? { ...x, stdin: e.target.value } : x)))}
          onKeyDown={(e) => {
            if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
              e.preventDefault();
              void run();
            }
          }}
        />
        <label htmlFor="args">Arguments</label>
        <input
          id="args"
          value={inputs[selected]?.args ?? ""}
          placeholder="space-separated"
          onChange={(e) => setInputs(inputs.map((x, i) => (i === selected ? { ...x, args: e.target.value } : x)))}
        />
        <div className="status-line">
          <span data-testid="run-status" aria-live="polite">
            {!job ? "Not run yet" : isFinal(job.status) ? (job.status === "FAILED" ? `Failed: ${job.error ?? "the platform failed"}` : "Finished") : pendingText(job.status)}
          </span>
          {result && (
            <span className="muted">
              <Badge value={result.status} /> {ms(result.time_ms)} · {kib(result.memory_kb)}
              {result.exit_code !== undefined && result.exit_code !== null ? ` · exit ${result.exit_code}` : ""}
            </span>
          )}
        </div>
        <ErrorNote error={error} />
        {job && "compile_output" in job && job.compile_output && (
          <>
            <h2 className="small">Compiler</h2>
            <pre className="output bad">{job.compile_output}</pre>
          </>
        )}
        <h2 className="small">Output</h2>
        <pre className="output" data-testid="run-output" aria-live="polite">
          {output}
        </pre>
        {result?.stderr && (
          <>
            <h2 className="small">Standard error</h2>
            <pre className="output bad">{result.stderr}</pre>
          </>
        )}
      </section>
    </div>
  );
}
