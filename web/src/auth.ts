// Who is signed in: the bearer token (session storage: gone with the tab),
// its claims, and the ways to sign in (dev login locally, OIDC + PKCE with
// Cognito's hosted UI on AWS, or a pasted token).

import type { Api, ClientConfig } from "./api";
import { authorizeUrl, challengeOf, claimsOf, newVerifier, rolesOf } from "./pkce";

const TOKEN = "coderun.token";
const PKCE = "coderun.pkce";

export interface Session {
  token: string;
  user: string;
  name?: string;
  roles: string[];
  expiresAt?: number;
}

export function sessionOf(token: string): Session | null {
  const c = claimsOf(token);
  if (!c) return null;
  const exp = typeof c.exp === "number" ? c.exp * 1000 : undefined;
  if (exp !== undefined && exp < Date.now()) return null;
  const user = String(c["cognito:username"] ?? c.preferred_username ?? c.email ?? c.sub ?? "");
  return { token, user, name: typeof c.name === "string" ? c.name : undefined, roles: rolesOf(c), expiresAt: exp };
}

export function loadSession(): Session | null {
  const t = sessionStorage.getItem(TOKEN);
  const s = t ? sessionOf(t) : null;
  if (!s) sessionStorage.removeItem(TOKEN);
  return s;
}

export function saveSession(token: string): Session | null {
  const s = sessionOf(token);
  if (s) sessionStorage.setItem(TOKEN, token);
  return s;
}

export function clearSession(): void {
  sessionStorage.removeItem(TOKEN);
}

export async function devLogin(api: Api, user: string, roles: string[]): Promise<Session | null> {
  const { token } = await api.devLogin(user, roles);
  return saveSession(token);
}

const redirectUri = () => `${location.origin}${location.pathname}`;

/// Sends the browser to the provider's sign-in page.
export async function startOidc(config: NonNullable<ClientConfig["oidc"]>): Promise<void> {
  const verifier = newVerifier();
  const state = newVerifier();
  sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state, back: location.hash }));
  location.assign(
    authorizeUrl({
      authorizeUrl: config.authorize_url,
      clientId: config.client_id,
      redirectUri: redirectUri(),
      scopes: config.scopes,
      state,
      challenge: await challengeOf(verifier),
    }),
  );
}

/// Back from the provider (`?code=…&state=…`): trades the code for tokens.
export async function finishOidc(config: NonNullable<ClientConfig["oidc"]>): Promise<Session | null> {
  const params = new URLSearchParams(location.search);
  const code = params.get("code");
  if (!code) return null;
  const saved = JSON.parse(sessionStorage.getItem(PKCE) ?? "{}");
  sessionStorage.removeItem(PKCE);
  history.replaceState(null, "", redirectUri() + (saved.back ?? ""));
  if (!saved.verifier || params.get("state") !== saved.state) {
    throw new Error("The sign-in answer does not match this browser's request; sign in again.");
  }
  const resp = await fetch(config.token_url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: config.client_id,
      code,
      redirect_uri: redirectUri(),
      code_verifier: saved.verifier,
    }),
  });
  if (!resp.ok) throw new Error(`The sign-in failed (${resp.status}).`);
  const tokens = await resp.json();
  return saveSession(tokens.access_token ?? tokens.id_token);
}
