//! The `api` function: the same router as `coderun serve`, behind the API
//! Gateway HTTP API.

use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let platform = coderun_aws::config::api_function_platform().await?;
    let auth = coderun_api::AuthConfig::from_vars(|k| std::env::var(k).ok())?;
    let oidc = coderun_api::oidc_from_vars(|k| std::env::var(k).ok())?;
    lambda_http::run(coderun_api::app_with_sign_in(
        platform,
        auth.authenticator(),
        oidc,
    ))
    .await
}
