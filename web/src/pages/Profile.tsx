import { useEffect, useState } from "react";
import type { Profile as ProfileData } from "../api";
import { useApp } from "../context";
import { ago } from "../format";
import { href } from "../router";
import { ErrorNote } from "./common";

export function Profile() {
  const { api } = useApp();
  const [p, setP] = useState<ProfileData | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api.me().then(setP, setError);
  }, [api]);
  if (error) return <ErrorNote error={error} />;
  if (!p) return <p className="muted">Loading…</p>;
  return (
    <section>
      <h1>{p.name ?? p.user}</h1>
      <dl className="stats">
        <div>
          <dt>Solved</dt>
          <dd data-testid="solved-count">{p.solved}</dd>
        </div>
        <div>
          <dt>Attempted</dt>
          <dd data-testid="attempted-count">{p.attempted}</dd>
        </div>
        <div>
          <dt>Submissions</dt>
          <dd>{p.submissions}</dd>
        </div>
      </dl>
      {p.roles.length > 0 && <p className="muted">Roles: {p.roles.join(", ")}</p>}
      {p.problems.length === 0 ? (
        <p className="muted">
          Nothing attempted yet: <a href="#/problems">pick a problem</a>.
        </p>
      ) : (
        <table className="list">
          <thead>
            <tr>
              <th scope="col">Problem</th>
              <th scope="col">Solved</th>
              <th scope="col">Attempts</th>
              <th scope="col">Last attempt</th>
            </tr>
          </thead>
          <tbody>
            {p.problems.map((x) => (
              <tr key={x.problem_id} data-testid="profile-problem">
                <td>
                  <a href={href({ page: "problem", id: x.problem_id })}>{x.problem_id}</a>
                </td>
                <td>{x.solved ? "✓ solved" : x.best_score !== undefined && x.best_score !== null ? `best ${x.best_score}` : "not yet"}</td>
                <td>
                  <a href={href({ page: "submissions", problem: x.problem_id })}>{x.attempts}</a>
                </td>
                <td>{ago(x.last_attempt_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
