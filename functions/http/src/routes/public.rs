//! What anyone may read: health, languages, the API's description, the
//! keys and client configuration, and the development login.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::Json;
use crate::AppState;

use super::ApiResult;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    status: &'static str,
    version: &'static str,
}

#[utoipa::path(get, path = "/health", tag = "public", responses((status = 200, body = Health)))]
pub async fn health() -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LanguageView {
    /// The Problem Package Format's code where it names the language.
    id: &'static str,
    name: &'static str,
    /// The toolchain's version in the runner images.
    release: &'static str,
    /// Extensions that select the language, most usual first (none: chosen
    /// by id only).
    extensions: &'static [&'static str],
    compiled: bool,
    /// Libraries programs may ask for (`libraries`, C#: `nuget_packages`).
    libraries: Vec<LibraryView>,
    /// The syntax the editor highlights programs as.
    highlight: &'static str,
    /// A starter program: it greets the name on its input.
    hello: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LibraryView {
    name: &'static str,
    version: &'static str,
}

#[utoipa::path(get, path = "/languages", tag = "public", responses((status = 200, body = Vec<LanguageView>)))]
pub async fn languages() -> axum::Json<Vec<LanguageView>> {
    axum::Json(
        coderun_protocol::lang::LANGUAGES
            .iter()
            .map(|l| LanguageView {
                id: l.id,
                name: l.name,
                release: l.release,
                extensions: l.extensions,
                compiled: l.compile.is_some(),
                libraries: l
                    .libraries
                    .iter()
                    .map(|x| LibraryView {
                        name: x.name,
                        version: x.version,
                    })
                    .collect(),
                highlight: l.highlight,
                hello: l.hello,
            })
            .collect(),
    )
}

pub async fn openapi_json() -> impl IntoResponse {
    axum::Json(crate::openapi::document())
}

pub async fn jwks(State(state): State<AppState>) -> ApiResult<axum::Json<serde_json::Value>> {
    state
        .config
        .jwks
        .clone()
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("this deployment does not issue tokens"))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientConfig {
    /// `local` (the local issuer), `external` or `aws` (Cognito).
    mode: String,
    /// `POST /auth/dev-login` is offered (local mode on a loopback address,
    /// or `coderun serve --dev-login`).
    dev_login: bool,
    /// Sign-in with an OpenID provider (authorization code + PKCE).
    #[serde(skip_serializing_if = "Option::is_none")]
    oidc: Option<crate::OidcConfig>,
}

#[utoipa::path(get, path = "/config.json", tag = "public", responses((status = 200, body = ClientConfig)))]
pub async fn client_config(State(state): State<AppState>) -> axum::Json<ClientConfig> {
    axum::Json(ClientConfig {
        mode: state.config.mode.clone(),
        dev_login: state.config.dev_login.is_some(),
        oidc: state.config.oidc.clone(),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevLoginRequest {
    /// 1-64 characters of `[A-Za-z0-9_.@-]`.
    user: String,
    /// `setter` and/or `admin`.
    #[serde(default)]
    roles: Vec<coderun_core::Role>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DevToken {
    token: String,
    token_type: &'static str,
    expires_in: u64,
}

/// A token from the local issuer, for the web front end's dev login. Only
/// where the server offers it (`/config.json` says `dev_login`).
#[utoipa::path(post, path = "/auth/dev-login", tag = "public", request_body = DevLoginRequest,
    responses((status = 200, body = DevToken), (status = 404, body = crate::error::ErrorBody)))]
pub async fn dev_login(
    State(state): State<AppState>,
    Json(req): Json<DevLoginRequest>,
) -> ApiResult<axum::Json<DevToken>> {
    let Some(minter) = &state.config.dev_login else {
        return Err(ApiError::not_found(
            "dev login is not offered by this server",
        ));
    };
    let valid = !req.user.is_empty()
        && req.user.len() <= 64
        && req
            .user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.@-".contains(&b));
    if !valid {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "user: 1-64 characters of letters, digits and _ . @ -",
        ));
    }
    if req.roles.len() > 2 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "roles: at most setter and admin",
        ));
    }
    let (token, expires_in) = minter.token(&req.user, &req.roles).map_err(|e| {
        tracing::error!(error = %e, "minting a dev token failed");
        ApiError::internal()
    })?;
    Ok(axum::Json(DevToken {
        token,
        token_type: "Bearer",
        expires_in,
    }))
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}
