// OAuth 2 authorization code with PKCE (RFC 7636) for a public client.

const BASE64URL = /[+/=]/g;

export function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(BASE64URL, (c) => (c === "+" ? "-" : c === "/" ? "_" : ""));
}

/// A fresh code verifier: 32 random bytes, base64url (43 characters).
export function newVerifier(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/// S256: base64url(SHA-256(verifier)).
export async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

export interface AuthorizeParams {
  authorizeUrl: string;
  clientId: string;
  redirectUri: string;
  scopes: string;
  state: string;
  challenge: string;
}

export function authorizeUrl(p: AuthorizeParams): string {
  const q = new URLSearchParams({
    response_type: "code",
    client_id: p.clientId,
    redirect_uri: p.redirectUri,
    scope: p.scopes,
    state: p.state,
    code_challenge: p.challenge,
    code_challenge_method: "S256",
  });
  return `${p.authorizeUrl}?${q}`;
}

/// The claims of a JWT (not verified: the server verifies; the front end
/// only reads the user's name, roles and expiry).
export function claimsOf(token: string): Record<string, unknown> | null {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    return JSON.parse(decodeURIComponent(escape(json)));
  } catch {
    return null;
  }
}

/// Roles from `cognito:groups` (a list, or API Gateway's "[a b]" string).
export function rolesOf(claims: Record<string, unknown> | null): string[] {
  const g = claims?.["cognito:groups"];
  const list = Array.isArray(g) ? g : typeof g === "string" ? g.replace(/[[\]]/g, "").split(/[ ,]+/) : [];
  return list.map(String).filter((r) => r === "setter" || r === "admin");
}
