import { describe, expect, it } from "vitest";
import { authorizeUrl, base64url, challengeOf, claimsOf, newVerifier, rolesOf } from "./pkce";

describe("PKCE", () => {
  it("derives the S256 challenge of RFC 7636's example", async () => {
    // RFC 7636, appendix B.
    expect(await challengeOf("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")).toBe("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  });
  it("makes unguessable verifiers of the allowed length", () => {
    const a = newVerifier();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newVerifier()).not.toBe(a);
    expect(base64url(new Uint8Array([251, 255]))).toBe("-_8");
  });
  it("asks for a code with the challenge", () => {
    const u = new URL(
      authorizeUrl({ authorizeUrl: "https://a.example/oauth2/authorize", clientId: "c", redirectUri: "https://app/", scopes: "openid email", state: "s", challenge: "ch" }),
    );
    expect(Object.fromEntries(u.searchParams)).toEqual({
      response_type: "code", client_id: "c", redirect_uri: "https://app/", scope: "openid email",
      state: "s", code_challenge: "ch", code_challenge_method: "S256",
    });
  });
  it("reads roles from Cognito's groups in either shape", () => {
    const payload = btoa(JSON.stringify({ sub: "u", "cognito:groups": ["setter", "other"] })).replace(/=+$/, "");
    expect(rolesOf(claimsOf(`h.${payload}.s`))).toEqual(["setter"]);
    expect(rolesOf({ "cognito:groups": "[admin setter]" })).toEqual(["admin", "setter"]);
    expect(claimsOf("not a token")).toBeNull();
  });
});
