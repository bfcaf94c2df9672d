import { useCallback, useEffect, useMemo, useState } from "react";
import { Api, ApiError, type ClientConfig, type Language } from "./api";
import { clearSession, finishOidc, loadSession, type Session } from "./auth";
import { Ctx } from "./context";
import { href, useRoute } from "./router";
import { Admin } from "./pages/Admin";
import { Playground } from "./pages/Playground";
import { ProblemList } from "./pages/ProblemList";
import { ProblemPage } from "./pages/ProblemPage";
import { Profile } from "./pages/Profile";
import { SubmissionPage } from "./pages/SubmissionPage";
import { Submissions } from "./pages/Submissions";
import { Login } from "./pages/Login";

export function App() {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  const [config, setConfig] = useState<ClientConfig | null>(null);
  const [languages, setLanguages] = useState<Language[]>([]);
  const [offline, setOffline] = useState<string | null>(null);
  const [authError, setAuthError] = useState<string | null>(null);
  const route = useRoute();
  const api = useMemo(() => new Api(() => session?.token ?? null), [session]);

  const connect = useCallback(async () => {
    try {
      const [c, l] = await Promise.all([api.config(), api.languages()]);
      setConfig(c);
      setLanguages(l);
      setOffline(null);
      if (c.oidc && new URLSearchParams(location.search).has("code")) {
        try {
          setSession(await finishOidc(c.oidc));
        } catch (e) {
          setAuthError((e as Error).message);
        }
      }
    } catch (e) {
      setOffline(e instanceof ApiError ? e.message : String(e));
    }
  }, [api]);

  useEffect(() => {
    void connect();
    // Once: the config and languages do not change while the page is open.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const ctx = { api, session, config, languages, setSession };
  const needsLogin = !session && route.page !== "playground" && route.page !== "problems" && route.page !== "problem";

  return (
    <Ctx.Provider value={ctx}>
      <header className="top">
        <a className="brand" href="#/playground">
          coderun
        </a>
        <nav aria-label="Main">
          <a href={href({ page: "playground" })} aria-current={route.page === "playground" ? "page" : undefined}>
            Playground
          </a>
          <a href={href({ page: "problems" })} aria-current={route.page === "problems" || route.page === "problem" ? "page" : undefined}>
            Problems
          </a>
          <a href={href({ page: "submissions" })} aria-current={route.page === "submissions" || route.page === "submission" ? "page" : undefined}>
            Submissions
          </a>
          <a href={href({ page: "profile" })} aria-current={route.page === "profile" ? "page" : undefined}>
            Profile
          </a>
          {session?.roles.some((r) => r === "setter" || r === "admin") && (
            <a href={href({ page: "admin" })} aria-current={route.page === "admin" ? "page" : undefined}>
              Admin
            </a>
          )}
        </nav>
        <div className="who">
          {session ? (
            <>
              <span data-testid="user-name" title={session.roles.join(", ")}>
                {session.name ?? session.user}
              </span>
              <button
                type="button"
                className="link"
                onClick={() => {
                  clearSession();
                  setSession(null);
                  if (config?.oidc) location.assign(`${config.oidc.logout_url}?client_id=${config.oidc.client_id}&logout_uri=${encodeURIComponent(location.origin + location.pathname)}`);
                }}
              >
                Sign out
              </button>
            </>
          ) : (
            <a className="button" data-testid="login-button" href={href({ page: "login" })}>
              Sign in
            </a>
          )}
        </div>
      </header>
      {offline && (
        <div className="banner bad" role="alert">
          {offline}{" "}
          <button type="button" onClick={() => void connect()}>
            Retry
          </button>
        </div>
      )}
      {authError && (
        <div className="banner bad" role="alert">
          {authError}
        </div>
      )}
      <main>
        {route.page === "login" || needsLogin ? (
          <Login />
        ) : route.page === "playground" ? (
          <Playground />
        ) : route.page === "problems" ? (
          <ProblemList />
        ) : route.page === "problem" ? (
          <ProblemPage id={route.id} />
        ) : route.page === "submissions" ? (
          <Submissions problem={route.problem} verdict={route.verdict} />
        ) : route.page === "submission" ? (
          <SubmissionPage id={route.id} />
        ) : route.page === "profile" ? (
          <Profile />
        ) : route.page === "admin" ? (
          <Admin />
        ) : (
          <p>There is no page here. <a href="#/playground">To the playground</a></p>
        )}
      </main>
    </Ctx.Provider>
  );
}
