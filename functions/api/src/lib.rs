//! The `api` function's parts: who the caller is behind API Gateway, and
//! the router built for it.
//!
//! Behind the gateway's JWT authorizer (Cognito) the function reads the
//! claims the authorizer verified from the request context; it can instead
//! verify bearer tokens itself. It has no default: a function that does not
//! know how to authenticate does not start, so it is never open by
//! misconfiguration.

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::request::Parts;
use coderun_core::{Platform, Principal, Role};
use coderun_http::auth::{AuthError, Authenticator};
use coderun_http::{router, AppState, HttpConfig, JwtVerifier, Keys, OidcConfig};
use lambda_http::request::RequestContext;

/// The longest a followed log's response waits for news: API Gateway's
/// integration timeout is 30 s, and a client asks again at once.
pub const FOLLOW_WINDOW: std::time::Duration = std::time::Duration::from_secs(20);

/// How callers are authenticated (`AUTH_MODE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthConfig {
    /// `authorizer`: trust the claims of the gateway's JWT authorizer; on
    /// routes it does not guard (Judge0's API, whose clients send their
    /// token as `X-Auth-Token`), verify the token here when `JWT_ISSUER`,
    /// `JWKS_URL` and `JWT_AUDIENCE` are set, else refuse.
    Authorizer { verify: Option<Verify> },
    /// `verify`: check bearer tokens here.
    Verify(Verify),
}

/// Checking tokens in the function: `JWT_ISSUER`, `JWKS_URL`,
/// `JWT_AUDIENCE` (comma-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verify {
    issuer: String,
    jwks_url: String,
    audiences: Vec<String>,
}

impl Verify {
    fn verifier(&self) -> JwtVerifier {
        JwtVerifier::new(
            self.issuer.clone(),
            self.audiences.clone(),
            Keys::Remote {
                url: self.jwks_url.clone(),
            },
        )
    }
}

/// A missing or malformed variable.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

impl AuthConfig {
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<AuthConfig, ConfigError> {
        let need = |name: &'static str| {
            get(name).filter(|v| !v.is_empty()).ok_or(ConfigError {
                name,
                problem: "is not set".into(),
            })
        };
        let verify = || -> Result<Verify, ConfigError> {
            Ok(Verify {
                issuer: need("JWT_ISSUER")?,
                jwks_url: need("JWKS_URL")?,
                audiences: need("JWT_AUDIENCE")?
                    .split(',')
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty())
                    .collect(),
            })
        };
        match need("AUTH_MODE")?.as_str() {
            "authorizer" => Ok(AuthConfig::Authorizer {
                verify: match get("JWT_ISSUER").filter(|v| !v.is_empty()) {
                    Some(_) => Some(verify()?),
                    None => None,
                },
            }),
            "verify" => Ok(AuthConfig::Verify(verify()?)),
            other => Err(ConfigError {
                name: "AUTH_MODE",
                problem: format!("{other:?}: expected authorizer or verify"),
            }),
        }
    }

    pub fn authenticator(&self) -> Arc<dyn Authenticator> {
        match self {
            AuthConfig::Authorizer { verify } => Arc::new(GatewayClaims {
                fallback: verify.as_ref().map(Verify::verifier),
            }),
            AuthConfig::Verify(v) => Arc::new(v.verifier()),
        }
    }
}

/// The web front end's sign-in, told to it by `/config.json`: Cognito's
/// hosted UI (`AUTH_HOSTED_UI`), the app client (`AUTH_CLIENT_ID`) and the
/// issuer (`AUTH_ISSUER`); all three, or none (no front end).
pub fn oidc_from_vars(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<OidcConfig>, ConfigError> {
    let names = ["AUTH_HOSTED_UI", "AUTH_CLIENT_ID", "AUTH_ISSUER"];
    let values: Vec<Option<String>> = names
        .iter()
        .map(|n| get(n).filter(|v| !v.is_empty()))
        .collect();
    match values.as_slice() {
        [Some(ui), Some(client), Some(issuer)] => {
            if !ui.starts_with("https://") {
                return Err(ConfigError {
                    name: "AUTH_HOSTED_UI",
                    problem: "must be an https:// URL".into(),
                });
            }
            Ok(Some(OidcConfig::cognito(ui, client, issuer)))
        }
        [None, None, None] => Ok(None),
        _ => {
            let i = values.iter().position(Option::is_none).unwrap_or(0);
            Err(ConfigError {
                name: names[i],
                problem: "is not set (the sign-in needs all of AUTH_HOSTED_UI, AUTH_CLIENT_ID, AUTH_ISSUER)".into(),
            })
        }
    }
}

/// The claims API Gateway's JWT authorizer verified (signature, issuer,
/// audience, expiry), from the request context; where the authorizer did
/// not run (a route without it), the token checked by `fallback`, if any.
#[derive(Debug, Default)]
pub struct GatewayClaims {
    pub fallback: Option<JwtVerifier>,
}

/// The authorizer renders a list claim as `[admin setter]`.
fn groups(claim: &str) -> Vec<Role> {
    claim
        .trim_matches(|c| c == '[' || c == ']')
        .split([' ', ','])
        .filter_map(|g| match g.trim().trim_matches('"') {
            "admin" => Some(Role::Admin),
            "setter" => Some(Role::Setter),
            _ => None,
        })
        .collect()
}

#[async_trait]
impl Authenticator for GatewayClaims {
    async fn authenticate(&self, parts: &Parts) -> Result<Principal, AuthError> {
        let claims = match parts.extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx
                .authorizer
                .as_ref()
                .and_then(|a| a.jwt.as_ref())
                .map(|jwt| &jwt.claims),
            _ => None,
        };
        let Some(claims) = claims else {
            return match &self.fallback {
                Some(verifier) => verifier.authenticate(parts).await,
                None => Err(AuthError::Missing),
            };
        };
        let sub = claims
            .get("sub")
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .ok_or(AuthError::Malformed)?;
        Ok(Principal {
            user: sub.clone(),
            name: claims
                .get("cognito:username")
                .or_else(|| claims.get("username"))
                .cloned(),
            roles: claims
                .get("cognito:groups")
                .map(|g| groups(g))
                .unwrap_or_default(),
        })
    }
}

/// The router as the function serves it: API Gateway throttles, so no rate
/// limit here; no front end and no JWKS of its own.
pub fn app(platform: Arc<Platform>, auth: Arc<dyn Authenticator>) -> axum::Router {
    app_with_sign_in(platform, auth, None)
}

/// [`app`], telling the front end how to sign in.
pub fn app_with_sign_in(
    platform: Arc<Platform>,
    auth: Arc<dyn Authenticator>,
    oidc: Option<OidcConfig>,
) -> axum::Router {
    router(AppState::new(
        platform,
        auth,
        HttpConfig {
            mode: "aws".into(),
            oidc,
            // API Gateway delivers a Lambda's response whole.
            follow_window: Some(FOLLOW_WINDOW),
            ..HttpConfig::default()
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use serde_json::json;
    use tower::ServiceExt;

    /// An API Gateway HTTP API (payload 2.0) event, as the function gets it.
    fn event(path: &str, claims: Option<serde_json::Value>) -> lambda_http::Request {
        let mut ctx = json!({
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
            "domainPrefix": "api", "requestId": "r1", "routeKey": "$default", "stage": "$default",
            "time": "26/Nov/2026:14:00:00 +0000", "timeEpoch": 1_795_700_000_000_i64,
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.1", "userAgent": "test"}
        });
        if let Some(c) = claims {
            ctx["authorizer"] = json!({"jwt": {"claims": c, "scopes": null}});
        }
        let e = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
            "headers": {"host": "api.example.com"}, "requestContext": ctx, "isBase64Encoded": false
        });
        lambda_http::request::from_str(&e.to_string()).unwrap()
    }

    async fn platform() -> Arc<Platform> {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let cfg = coderun_aws::config::from_vars(|k| {
            Some(
                match k {
                    "TASK_DEFINITIONS" => "python3=coderun-python,package=coderun-all",
                    "CURSOR_SECRET" | "CALLBACK_SECRET" => "0123456789abcdef",
                    "QUEUE_URL" => "http://127.0.0.1:9/queue",
                    "RUN_RETENTION_DAYS"
                    | "MAX_ATTEMPTS"
                    | "URL_TTL_SECONDS"
                    | "RUNNER_IDLE_SECONDS"
                    | "RUNNERS_MIN_WARM"
                    | "RUNNERS_MAX"
                    | "RUNNER_TAKE_SECONDS" => return None,
                    _ => "x",
                }
                .to_string(),
            )
        })
        .unwrap();
        Arc::new(coderun_aws::config::platform(&sdk, &cfg))
    }

    async fn call(req: lambda_http::Request) -> StatusCode {
        let (parts, body) = req.into_parts();
        let req = axum::http::Request::from_parts(parts, axum::body::Body::from(body.to_vec()));
        app(platform().await, Arc::new(GatewayClaims::default()))
            .oneshot(req)
            .await
            .unwrap()
            .status()
    }

    #[tokio::test]
    async fn the_authorizers_claims_decide_who_calls() {
        assert_eq!(call(event("/health", None)).await, StatusCode::OK);
        // Without the authorizer's claims, nothing protected is open.
        assert_eq!(call(event("/me", None)).await, StatusCode::UNAUTHORIZED);
        let user = json!({"sub": "u-1", "cognito:username": "ann", "cognito:groups": "[setter]"});
        assert_eq!(
            call(event("/admin/queue", Some(user))).await,
            StatusCode::FORBIDDEN
        );

        let (parts, _) = event(
            "/me",
            Some(json!({"sub": "u-2", "cognito:groups": "[admin setter]"})),
        )
        .into_parts();
        let p = GatewayClaims::default().authenticate(&parts).await.unwrap();
        assert_eq!(p.user, "u-2");
        assert_eq!(p.roles, [Role::Admin, Role::Setter]);
        let (parts, _) = event("/me", Some(json!({"cognito:username": "x"}))).into_parts();
        assert_eq!(
            GatewayClaims::default()
                .authenticate(&parts)
                .await
                .unwrap_err(),
            AuthError::Malformed
        );
    }

    #[test]
    fn sign_in_is_all_or_nothing() {
        let vars = |pairs: &'static [(&str, &str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(oidc_from_vars(vars(&[])).unwrap(), None);
        let c = oidc_from_vars(vars(&[
            (
                "AUTH_HOSTED_UI",
                "https://x.auth.us-east-1.amazoncognito.com",
            ),
            ("AUTH_CLIENT_ID", "abc"),
            (
                "AUTH_ISSUER",
                "https://cognito-idp.us-east-1.amazonaws.com/p",
            ),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            c.token_url,
            "https://x.auth.us-east-1.amazoncognito.com/oauth2/token"
        );
        let e = oidc_from_vars(vars(&[("AUTH_CLIENT_ID", "abc")])).unwrap_err();
        assert_eq!(e.name, "AUTH_HOSTED_UI");
    }

    #[test]
    fn auth_mode_must_be_chosen() {
        assert_eq!(
            AuthConfig::from_vars(|_| None).unwrap_err().name,
            "AUTH_MODE"
        );
        let open = |k: &str| (k == "AUTH_MODE").then(|| "none".to_string());
        assert_eq!(AuthConfig::from_vars(open).unwrap_err().name, "AUTH_MODE");
        let verify = |k: &str| (k == "AUTH_MODE").then(|| "verify".to_string());
        assert_eq!(
            AuthConfig::from_vars(verify).unwrap_err().name,
            "JWT_ISSUER"
        );
        let gw = |k: &str| (k == "AUTH_MODE").then(|| "authorizer".to_string());
        assert_eq!(
            AuthConfig::from_vars(gw).unwrap(),
            AuthConfig::Authorizer { verify: None }
        );
        // With a verifier for routes the authorizer does not guard: all
        // three variables, or a clear refusal.
        let half = |k: &str| match k {
            "AUTH_MODE" => Some("authorizer".to_string()),
            "JWT_ISSUER" => Some("https://issuer.example".to_string()),
            _ => None,
        };
        assert_eq!(AuthConfig::from_vars(half).unwrap_err().name, "JWKS_URL");
    }
}
