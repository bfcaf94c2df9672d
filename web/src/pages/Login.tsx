import { useState } from "react";
import { devLogin, saveSession, startOidc, type Session } from "../auth";
import { useApp } from "../context";

export function Login() {
  const { api, config, setSession } = useApp();
  const [user, setUser] = useState("");
  const [roles, setRoles] = useState<string[]>([]);
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const done = (s: Session | null) => {
    if (!s) {
      setError("That token is not valid (or has expired).");
      return;
    }
    setSession(s);
    if (location.hash === "#/login" || location.hash === "") location.hash = "#/playground";
  };
  if (!config) return <p className="muted">Connecting…</p>;
  return (
    <section className="card narrow">
      <h1>Sign in</h1>
      {config.oidc && (
        <button type="button" data-testid="oidc-login" onClick={() => void startOidc(config.oidc!)}>
          Sign in with Google, GitHub, Facebook or email
        </button>
      )}
      {config.dev_login && (
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            setBusy(true);
            setError(null);
            try {
              done(await devLogin(api, user.trim(), roles));
            } catch (err) {
              setError((err as Error).message);
            } finally {
              setBusy(false);
            }
          }}
        >
          <p className="muted">This server runs on your machine: sign in as anyone (dev login).</p>
          <label>
            User name
            <input data-testid="dev-user" required value={user} onChange={(e) => setUser(e.target.value)} autoComplete="username" />
          </label>
          <fieldset>
            <legend>Roles</legend>
            {["setter", "admin"].map((r) => (
              <label key={r} className="inline">
                <input
                  type="checkbox"
                  data-testid={`dev-role-${r}`}
                  checked={roles.includes(r)}
                  onChange={(e) => setRoles(e.target.checked ? [...roles, r] : roles.filter((x) => x !== r))}
                />
                {r}
              </label>
            ))}
          </fieldset>
          <button type="submit" data-testid="dev-login-submit" disabled={busy}>
            Sign in
          </button>
        </form>
      )}
      {!config.oidc && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            done(saveSession(token.trim()));
          }}
        >
          <label>
            Or paste a token (<code>coderun token --user NAME</code>)
            <textarea value={token} rows={3} onChange={(e) => setToken(e.target.value)} />
          </label>
          <button type="submit" className="secondary">
            Use this token
          </button>
        </form>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
