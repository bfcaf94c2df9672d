import { useEffect, useState } from "react";
import { isFinal, type SubmissionView, type TestView } from "../api";
import { useApp } from "../context";
import { Editor } from "../Editor";
import { kib, ms, pendingText, verdictName } from "../format";
import { href } from "../router";
import { Badge, ErrorNote, useInterval } from "./common";

export function TestTable({ tests }: { tests: TestView[] }) {
  if (tests.length === 0) return null;
  return (
    <table className="list tests">
      <thead>
        <tr>
          <th scope="col">Test</th>
          <th scope="col">Verdict</th>
          <th scope="col">Time</th>
          <th scope="col">Memory</th>
          <th scope="col">Note</th>
        </tr>
      </thead>
      <tbody>
        {tests.map((t) => (
          <tr key={`${t.group}/${t.name}`} data-testid="test-row">
            <td>{t.name}</td>
            <td>
              <Badge value={t.verdict} testid="test-verdict" />
            </td>
            <td>{ms(t.time_ms)}</td>
            <td>{kib(t.memory_kb)}</td>
            <td className="muted">{t.message ?? ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function SubmissionPage({ id }: { id: string }) {
  const { api } = useApp();
  const [s, setS] = useState<SubmissionView | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    api.submission(id).then(setS, setError);
  }, [api, id]);
  useInterval(
    () => {
      api.submission(id).then(setS, setError);
    },
    700,
    !!s && !isFinal(s.status),
  );

  if (error) return <ErrorNote error={error} />;
  if (!s) return <p className="muted">Loading…</p>;
  return (
    <section>
      <h1>
        Submission <span className="muted">{s.id}</span>
      </h1>
      <p>
        {s.problem_id && <a href={href({ page: "problem", id: s.problem_id })}>{s.problem_id}</a>} · {s.language} ·{" "}
        {isFinal(s.status) ? <Badge value={s.verdict ?? s.status} testid="verdict" /> : <span className="badge pending">{pendingText(s.status)}</span>}{" "}
        {verdictName(s.verdict)} · {ms(s.time_ms)} · {kib(s.memory_kb)}
        {s.score !== undefined && s.score !== null && ` · score ${s.score}${s.max_score ? ` / ${s.max_score}` : ""}`}
      </p>
      {s.error && <p className="error">{s.error}</p>}
      {s.compile_output && <pre className="output bad">{s.compile_output}</pre>}
      <TestTable tests={s.tests} />
      <h2>Code</h2>
      <Editor label="Submitted code" value={s.source} language={s.language} onChange={() => {}} />
    </section>
  );
}
