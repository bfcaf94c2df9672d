//! Who is calling. Bearer JWTs are verified the way Cognito's are checked
//! on AWS: RS256 only, the key chosen by `kid` from a JWKS, issuer,
//! audience (`aud` of ID tokens or `client_id` of access tokens), expiry,
//! and roles from `cognito:groups`. The local issuer's tokens go through
//! the same code.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use coderun_core::{Principal, Role};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::error::ApiError;
use crate::AppState;

/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;
/// A token longer than this is not a Cognito or coderun token.
const MAX_TOKEN_BYTES: usize = 16 << 10;
/// An unknown `kid` refetches the JWKS at most this often (key rotation
/// without letting forged `kid`s hammer the issuer).
const REFETCH_EVERY: Duration = Duration::from_secs(60);

/// Why a token was refused (the client sees the message).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing bearer token (Authorization: Bearer …)")]
    Missing,
    #[error("malformed token")]
    Malformed,
    #[error("token algorithm must be RS256")]
    Algorithm,
    #[error("token signed by an unknown key")]
    UnknownKey,
    #[error("token signature is invalid")]
    Signature,
    #[error("token has expired")]
    Expired,
    #[error("token is not yet valid")]
    NotYetValid,
    #[error("token issuer is not trusted")]
    Issuer,
    #[error("token audience is not this API")]
    Audience,
    #[error("token is not an ID or access token")]
    TokenUse,
    #[error("the token keys cannot be fetched")]
    KeysUnavailable,
}

/// Finds the caller of a request.
#[async_trait]
pub trait Authenticator: Send + Sync {
    async fn authenticate(&self, parts: &Parts) -> Result<Principal, AuthError>;
}

/// Where the verification keys come from.
#[derive(Debug)]
pub enum Keys {
    /// A fixed set (the local issuer's own key).
    Static(JwkSet),
    /// An issuer's JWKS URL (Cognito's, or an emulator's), cached.
    Remote { url: String },
}

/// Verifies bearer JWTs.
pub struct JwtVerifier {
    issuer: String,
    audiences: Vec<String>,
    keys: Keys,
    cache: RwLock<HashMap<String, DecodingKey>>,
    fetched: RwLock<Option<Instant>>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("keys", &self.keys)
            .finish()
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    aud: Option<OneOrMany>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    token_use: Option<String>,
    #[serde(default, rename = "cognito:groups")]
    groups: Vec<String>,
    #[serde(default, rename = "cognito:username")]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl JwtVerifier {
    pub fn new(issuer: String, audiences: Vec<String>, keys: Keys) -> JwtVerifier {
        let v = JwtVerifier {
            issuer,
            audiences,
            keys,
            cache: RwLock::default(),
            fetched: RwLock::default(),
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(5)))
                .http_status_as_error(true)
                .build()
                .into(),
        };
        if let Keys::Static(set) = &v.keys {
            let mut cache = v.cache.write().unwrap_or_else(|p| p.into_inner());
            for jwk in &set.keys {
                if let (Some(kid), Ok(key)) = (&jwk.common.key_id, DecodingKey::from_jwk(jwk)) {
                    cache.insert(kid.clone(), key);
                }
            }
        }
        v
    }

    fn cached(&self, kid: &str) -> Option<DecodingKey> {
        self.cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(kid)
            .cloned()
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        if let Some(k) = self.cached(kid) {
            return Ok(k);
        }
        let Keys::Remote { url } = &self.keys else {
            return Err(AuthError::UnknownKey);
        };
        {
            let fetched = self.fetched.read().unwrap_or_else(|p| p.into_inner());
            if fetched.is_some_and(|t| t.elapsed() < REFETCH_EVERY) {
                return Err(AuthError::UnknownKey);
            }
        }
        *self.fetched.write().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let (agent, url) = (self.agent.clone(), url.clone());
        let set: JwkSet = tokio::task::spawn_blocking(move || {
            let bytes = agent
                .get(&url)
                .call()
                .ok()?
                .body_mut()
                .with_config()
                .limit(1 << 20)
                .read_to_vec()
                .ok()?;
            serde_json::from_slice(&bytes).ok()
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(|| {
            tracing::warn!("fetching the JWKS failed");
            AuthError::KeysUnavailable
        })?;
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        cache.clear();
        for jwk in &set.keys {
            if let (Some(kid), Ok(key)) = (&jwk.common.key_id, DecodingKey::from_jwk(jwk)) {
                cache.insert(kid.clone(), key);
            }
        }
        cache.get(kid).cloned().ok_or(AuthError::UnknownKey)
    }

    /// Verifies `token` and returns its principal.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::Algorithm);
        }
        let kid = header.kid.ok_or(AuthError::UnknownKey)?;
        let key = self.key(&kid).await?;
        let mut v = Validation::new(Algorithm::RS256);
        v.leeway = LEEWAY_SECS;
        v.validate_nbf = true;
        v.validate_aud = false; // checked below: Cognito access tokens carry `client_id`
        v.set_issuer(&[&self.issuer]);
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        use jsonwebtoken::errors::ErrorKind;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &v).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidIssuer => AuthError::Issuer,
            ErrorKind::InvalidSignature => AuthError::Signature,
            ErrorKind::InvalidAlgorithm => AuthError::Algorithm,
            _ => AuthError::Malformed,
        })?;
        let c = data.claims;
        let audience_ok = match (&c.aud, &c.client_id) {
            (Some(OneOrMany::One(a)), _) => self.audiences.contains(a),
            (Some(OneOrMany::Many(list)), _) => list.iter().any(|a| self.audiences.contains(a)),
            (None, Some(client)) => self.audiences.contains(client),
            (None, None) => false,
        };
        if !audience_ok {
            return Err(AuthError::Audience);
        }
        if let Some(u) = &c.token_use {
            if u != "id" && u != "access" {
                return Err(AuthError::TokenUse);
            }
        }
        if c.sub.is_empty() || c.sub.len() > 256 {
            return Err(AuthError::Malformed);
        }
        let roles = c
            .groups
            .iter()
            .filter_map(|g| match g.as_str() {
                "admin" => Some(Role::Admin),
                "setter" => Some(Role::Setter),
                _ => None,
            })
            .collect();
        Ok(Principal {
            user: c.sub,
            name: c.username.or(c.name),
            roles,
        })
    }
}

/// The bearer token of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[async_trait]
impl Authenticator for JwtVerifier {
    async fn authenticate(&self, parts: &Parts) -> Result<Principal, AuthError> {
        let token = bearer(parts).ok_or(AuthError::Missing)?;
        self.verify(token).await
    }
}

/// The authenticated caller, as a handler argument.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match state.auth.authenticate(parts).await {
            Ok(p) => Ok(Caller(p)),
            Err(AuthError::KeysUnavailable) => {
                let mut e = ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    AuthError::KeysUnavailable.to_string(),
                );
                e.retry_after = Some(5);
                Err(e)
            }
            Err(e) => Err(ApiError::unauthorized(e.to_string())),
        }
    }
}
