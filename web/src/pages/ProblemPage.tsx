import { useEffect, useState } from "react";
import { apiBase, isFinal, type JobView, type ProblemView, type SubmissionView } from "../api";
import { starters, useApp } from "../context";
import { Editor } from "../Editor";
import { kib, ms, pendingText, verdictName } from "../format";
import { href } from "../router";
import { Badge, ErrorNote, LanguageSelect, useCode, useInterval } from "./common";
import { TestTable } from "./SubmissionPage";

export function ProblemPage({ id }: { id: string }) {
  const { api, session, languages } = useApp();
  const [problem, setProblem] = useState<ProblemView | null>(null);
  const [error, setError] = useState<unknown>(null);
  const { language, setLanguage, source, setSource } = useCode();
  const [submission, setSubmission] = useState<JobView | SubmissionView | null>(null);
  const [submitError, setSubmitError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    setProblem(null);
    api.problem(id).then(setProblem, setError);
  }, [api, id]);

  const [statement, setStatement] = useState("");
  useEffect(() => {
    setStatement("");
    if (!problem) return;
    let live = true;
    // Markdown, math and sanitising load with the first problem page.
    import("../markdown").then(
      (m) =>
        live &&
        setStatement(
          m.renderStatement(problem.statement, undefined, `${apiBase}/problems/${encodeURIComponent(problem.id)}/statement`),
        ),
      setError,
    );
    return () => {
      live = false;
    };
  }, [problem]);
  const judging = !!submission && !isFinal(submission.status);

  async function submit() {
    if (busy || judging) return;
    if (!session) {
      setSubmitError(new Error("Sign in to submit."));
      return;
    }
    setBusy(true);
    setSubmitError(null);
    try {
      setSubmission(await api.submit(id, language, source));
    } catch (e) {
      setSubmitError(e);
    } finally {
      setBusy(false);
    }
  }

  useInterval(
    async () => {
      if (!submission) return;
      try {
        setSubmission(await api.submission(submission.id));
      } catch (e) {
        setSubmitError(e);
      }
    },
    500,
    judging,
  );

  if (error) return <ErrorNote error={error} />;
  if (!problem) return <p className="muted">Loading…</p>;
  return (
    <div className="problem">
      <article className="pane statement">
        <h1>{problem.title}</h1>
        <p className="limits">
          Time limit {ms(problem.time_limit_ms)} · memory {problem.memory_mb} MiB · {problem.test_count} tests
          {problem.kind === "scoring" ? " · scored" : ""}
        </p>
        <div className="markdown" dangerouslySetInnerHTML={{ __html: statement }} />
        {problem.samples.length > 0 && <h2>Samples</h2>}
        {problem.samples.map((s) => (
          <div className="sample" key={s.name}>
            <div>
              <h3 className="small">Input {s.name}</h3>
              <pre>{s.input}</pre>
            </div>
            <div>
              <h3 className="small">Output</h3>
              <pre>{s.output}</pre>
            </div>
          </div>
        ))}
      </article>
      <section className="pane">
        <div className="toolbar">
          <LanguageSelect value={language} onChange={setLanguage} />
          <button type="button" data-testid="submit-button" onClick={() => void submit()} disabled={busy || judging || !source.trim()}>
            {judging ? "Judging…" : "Submit"}
          </button>
          <a href={href({ page: "submissions", problem: id })}>My submissions</a>
        </div>
        <Editor
          label="Your solution"
          value={source}
          language={language}
          onChange={setSource}
          onRun={() => void submit()}
        />
        {!source.trim() && (
          <p className="muted">
            Write your solution above{" "}
            <button type="button" className="link" onClick={() => setSource(starters(languages)[language] ?? "")}>
              (or start from a template)
            </button>
            .
          </p>
        )}
        <ErrorNote error={submitError} />
        {submission && (
          <div className="result" aria-live="polite">
            <p>
              {isFinal(submission.status) ? (
                submission.status === "FAILED" ? (
                  <span data-testid="verdict" className="badge bad">
                    IE
                  </span>
                ) : (
                  <Badge value={submission.verdict} testid="verdict" />
                )
              ) : (
                <span className="badge pending">{pendingText(submission.status)}</span>
              )}{" "}
              {submission.verdict && verdictName(submission.verdict)}
              {submission.status === "FAILED" && ` — ${submission.error ?? "the platform failed"}`}
              {isFinal(submission.status) && ` · ${ms(submission.time_ms)} · ${kib(submission.memory_kb)}`}{" "}
              <a href={href({ page: "submission", id: submission.id })}>details</a>
            </p>
            {"tests" in submission && <TestTable tests={submission.tests} />}
            {"compile_output" in submission && submission.compile_output && <pre className="output bad">{submission.compile_output}</pre>}
          </div>
        )}
      </section>
    </div>
  );
}
