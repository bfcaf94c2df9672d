import { useEffect, useState } from "react";
import type { ProblemSummary } from "../api";
import { useApp } from "../context";
import { ms } from "../format";
import { href } from "../router";
import { ErrorNote } from "./common";

export function ProblemList() {
  const { api, session } = useApp();
  const [items, setItems] = useState<ProblemSummary[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [solved, setSolved] = useState<Set<string>>(new Set());
  const [error, setError] = useState<unknown>(null);

  async function load(cursor?: string) {
    try {
      const page = await api.problems(cursor);
      setItems((old) => (cursor ? [...(old ?? []), ...page.items] : page.items));
      setNext(page.next_cursor ?? null);
    } catch (e) {
      setError(e);
    }
  }

  useEffect(() => {
    void load();
    if (session) {
      api
        .me()
        .then((p) => setSolved(new Set(p.problems.filter((x) => x.solved).map((x) => x.problem_id))))
        .catch(() => {});
    }
    // Loaded when the page opens (and the session changes).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api]);

  return (
    <section>
      <h1>Problems</h1>
      <ErrorNote error={error} />
      {!items && !error && <p className="muted">Loading…</p>}
      {items && items.length === 0 && <p className="muted">No problems yet. Setters add them on the Admin page.</p>}
      {items && items.length > 0 && (
        <table className="list" data-testid="problem-list">
          <thead>
            <tr>
              <th scope="col">Problem</th>
              <th scope="col">Time limit</th>
              <th scope="col">Memory</th>
              <th scope="col">Tests</th>
              <th scope="col">Solved</th>
            </tr>
          </thead>
          <tbody>
            {items.map((p) => (
              <tr key={p.id}>
                <td>
                  <a data-testid="problem-link" href={href({ page: "problem", id: p.id })}>
                    {p.title}
                  </a>{" "}
                  <span className="muted">{p.id}</span>
                </td>
                <td>{ms(p.time_limit_ms)}</td>
                <td>{p.memory_mb} MiB</td>
                <td>{p.test_count}</td>
                <td>{solved.has(p.id) ? "✓" : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {next && (
        <button type="button" className="secondary" onClick={() => void load(next)}>
          More
        </button>
      )}
    </section>
  );
}
