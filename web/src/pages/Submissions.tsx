import { useEffect, useState } from "react";
import type { JobView } from "../api";
import { useApp } from "../context";
import { ago, kib, ms, VERDICT_NAMES } from "../format";
import { href } from "../router";
import { Badge, ErrorNote } from "./common";

const VERDICTS = ["AC", "WA", "TLE", "MLE", "OLE", "RE", "CE", "IE", "PA"];

export function Submissions({ problem, verdict }: { problem?: string; verdict?: string }) {
  const { api } = useApp();
  const [items, setItems] = useState<JobView[] | null>(null);
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [problemFilter, setProblemFilter] = useState(problem ?? "");
  const page = cursors.length - 1;

  useEffect(() => {
    setItems(null);
    setError(null);
    api
      .submissions({ problem_id: problem, verdict, cursor: cursors[page] })
      .then((p) => {
        setItems(p.items);
        setNext(p.next_cursor ?? null);
      }, setError);
  }, [api, problem, verdict, cursors, page]);

  const go = (f: { problem?: string; verdict?: string }) => {
    setCursors([undefined]);
    location.hash = href({ page: "submissions", ...f });
  };

  return (
    <section>
      <h1>My submissions</h1>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          go({ problem: problemFilter.trim() || undefined, verdict });
        }}
      >
        <label className="inline">
          Problem
          <input value={problemFilter} placeholder="any" onChange={(e) => setProblemFilter(e.target.value)} />
        </label>
        <label className="inline">
          Verdict
          <select value={verdict ?? ""} onChange={(e) => go({ problem, verdict: e.target.value || undefined })}>
            <option value="">any</option>
            {VERDICTS.map((v) => (
              <option key={v} value={v}>
                {v} — {VERDICT_NAMES[v]}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" className="secondary">
          Filter
        </button>
      </form>
      <ErrorNote error={error} />
      {!items && !error && <p className="muted">Loading…</p>}
      {items && items.length === 0 && <p className="muted">No submissions{problem || verdict ? " match" : " yet"}.</p>}
      {items && items.length > 0 && (
        <table className="list">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Problem</th>
              <th scope="col">Language</th>
              <th scope="col">Verdict</th>
              <th scope="col">Time</th>
              <th scope="col">Memory</th>
            </tr>
          </thead>
          <tbody>
            {items.map((s) => (
              <tr key={s.id} data-testid="submission-row">
                <td>
                  <a href={href({ page: "submission", id: s.id })}>{ago(s.created_at)}</a>
                </td>
                <td>{s.problem_id && <a href={href({ page: "problem", id: s.problem_id })}>{s.problem_id}</a>}</td>
                <td>{s.language}</td>
                <td>
                  <Badge value={s.verdict ?? s.status} />
                </td>
                <td>{ms(s.time_ms)}</td>
                <td>{kib(s.memory_kb)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="pager">
        <button type="button" className="secondary" disabled={page === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
          Newer
        </button>
        <button type="button" className="secondary" disabled={!next} onClick={() => next && setCursors([...cursors, next])}>
          Older
        </button>
      </div>
    </section>
  );
}
