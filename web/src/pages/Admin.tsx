import { useEffect, useState } from "react";
import { isFinal, type DataValidation, type ImportView, type QueueStatus, type VerifyReport } from "../api";
import { useApp } from "../context";
import { ms } from "../format";
import { href } from "../router";
import { Badge, ErrorNote, useInterval } from "./common";

export function Admin() {
  const { api, session } = useApp();
  const isAdmin = !!session?.roles.includes("admin");
  const [file, setFile] = useState<File | null>(null);
  const [id, setId] = useState("");
  const [replace, setReplace] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<{ id: string; report: VerifyReport } | null>(null);
  const [pending, setPending] = useState<ImportView | null>(null);
  const [queue, setQueue] = useState<QueueStatus | null>(null);

  const loadQueue = () => {
    if (isAdmin) api.queue().then(setQueue, () => {});
  };
  useEffect(loadQueue, [api, isAdmin]);
  useInterval(loadQueue, 3000, isAdmin);
  useInterval(
    async () => {
      if (!pending) return;
      try {
        const v = await api.importStatus(pending.id);
        setPending(v);
        if (v.outcome === "saved" && v.report) setSaved({ id: v.problem_id, report: v.report });
      } catch (e) {
        setError(e);
      }
    },
    2000,
    !!pending && !isFinal(pending.status),
  );

  async function upload(e: React.FormEvent) {
    e.preventDefault();
    if (!file) return;
    setBusy(true);
    setError(null);
    setSaved(null);
    setPending(null);
    try {
      const [status, body] = await api.importPackage(file, file.name, id.trim() || undefined, replace);
      if (status === 202) setPending(body as ImportView);
      else {
        const p = body as { id: string; verify_report: VerifyReport };
        setSaved({ id: p.id, report: p.verify_report });
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section>
      <h1>Admin</h1>
      <form className="card" onSubmit={upload}>
        <h2>Import a problem package</h2>
        <p className="muted">
          A zip or tar.gz in the Problem Package Format (<code>problem.yaml</code>, <code>data/</code>, <code>submissions/</code>). It is verified
          before it is saved: every submission must get its expected verdict.
        </p>
        <label>
          Package
          <input type="file" data-testid="package-input" accept=".zip,.tar.gz,.tgz,application/zip,application/gzip" onChange={(e) => setFile(e.target.files?.[0] ?? null)} required />
        </label>
        <label>
          Problem id (optional: from the package's directory)
          <input value={id} onChange={(e) => setId(e.target.value)} pattern="[a-z0-9][a-z0-9-]*" />
        </label>
        <label className="inline">
          <input type="checkbox" checked={replace} onChange={(e) => setReplace(e.target.checked)} /> Replace an existing problem (a new version)
        </label>
        <button type="submit" data-testid="import-button" disabled={busy || !file}>
          {busy ? "Verifying…" : "Import"}
        </button>
        <ErrorNote error={error} />
        {pending && !saved && (
          <p aria-live="polite">
            Import {pending.id}: <Badge value={pending.outcome ?? pending.status} /> {pending.error}
          </p>
        )}
        {saved && <Report id={saved.id} report={saved.report} />}
      </form>
      {isAdmin && (
        <div className="card">
          <h2>Queue</h2>
          {queue ? (
            <dl className="stats" data-testid="queue-status">
              {(["queued", "starting", "running", "completed", "failed"] as const).map((k) => (
                <div key={k}>
                  <dt>{k}</dt>
                  <dd>{queue[k]}</dd>
                </div>
              ))}
              <div>
                <dt>runners busy</dt>
                <dd>
                  {queue.busy_workers} / {queue.workers}
                </dd>
              </div>
              <div>
                <dt>oldest waiting</dt>
                <dd>{ms(queue.oldest_age_ms)}</dd>
              </div>
            </dl>
          ) : (
            <p className="muted">Loading…</p>
          )}
        </div>
      )}
    </section>
  );
}

/// What a package's input or answer validators said of its test data.
function Validation({ kind, testid, v }: { kind: string; testid: string; v?: DataValidation }) {
  if (!v) return null;
  const files = kind === "input" ? "input" : "answer";
  return (
    <>
      <p data-testid={testid}>
        {v.validators.length} {kind} validator{v.validators.length === 1 ? "" : "s"} on {v.inputs} {files}
        {v.inputs === 1 ? "" : "s"}: {v.failures.length} failure{v.failures.length === 1 ? "" : "s"}
        {v.not_run?.length ? ` (not run: ${v.not_run.join(", ")})` : ""}.
      </p>
      {v.failures.length ? (
        <ul className="failures">
          {v.failures.map((f, i) => (
            <li key={i}>
              {f.validator}
              {f.test ? ` refused ${f.test}` : ""}: {f.message}
            </li>
          ))}
        </ul>
      ) : null}
    </>
  );
}

function Report({ id, report }: { id: string; report: VerifyReport }) {
  return (
    <div data-testid="verify-report">
      <p>
        Saved <a href={href({ page: "problem", id })}>{id}</a>: time limit {ms(report.time_limit_ms)}
        {report.time_limit_derived ? " (derived from the accepted submissions)" : ""}; {report.disagreements.length} disagreement
        {report.disagreements.length === 1 ? "" : "s"}.
      </p>
      <Validation kind="input" testid="input-validation" v={report.input_validation} />
      {report.answer_validation?.validators.length ? (
        <Validation kind="answer" testid="answer-validation" v={report.answer_validation} />
      ) : null}
      <table className="list">
        <thead>
          <tr>
            <th scope="col">Submission</th>
            <th scope="col">Expected</th>
            <th scope="col">Got</th>
            <th scope="col">Time</th>
          </tr>
        </thead>
        <tbody>
          {report.submissions.map((r) => (
            <tr key={r.submission} className={r.agrees ? "" : "disagrees"}>
              <td>{r.submission}</td>
              <td>
                {r.expected ?? "nothing"}
                {r.unmet?.length ? (
                  <ul className="unmet">
                    {r.unmet.map((u) => (
                      <li key={u}>{u}</li>
                    ))}
                  </ul>
                ) : null}
              </td>
              <td>
                <Badge value={r.verdict} />
              </td>
              <td>{ms(r.time_ms)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
