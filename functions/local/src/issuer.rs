//! The local token issuer: an RSA key created on first use in the data
//! directory, RS256 tokens shaped like Cognito's (`cognito:groups`), and
//! the JWKS the server publishes. The server verifies these tokens with
//! the same code that verifies Cognito's.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use coderun_core::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The issuer (`iss`) of local tokens.
pub const ISSUER: &str = "https://coderun.local";
/// The audience (`aud`) of local tokens.
pub const AUDIENCE: &str = "coderun";
/// Longest lifetime of a local token.
pub const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

const KEY_FILE: &str = "issuer-key.der";

#[derive(Clone)]
pub struct LocalIssuer {
    kid: String,
    encoding: EncodingKey,
    jwks: serde_json::Value,
}

impl std::fmt::Debug for LocalIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalIssuer")
            .field("kid", &self.kid)
            .finish()
    }
}

#[derive(Debug, Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    nbf: u64,
    exp: u64,
    token_use: &'a str,
    #[serde(rename = "cognito:username")]
    username: &'a str,
    #[serde(rename = "cognito:groups")]
    groups: Vec<&'a str>,
}

impl LocalIssuer {
    /// Loads the key from `data`, creating it on first use (mode 0600).
    pub fn open(data: &Path) -> anyhow::Result<LocalIssuer> {
        std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
        let path = data.join(KEY_FILE);
        let key = match std::fs::read(&path) {
            Ok(der) => RsaPrivateKey::from_pkcs1_der(&der)
                .with_context(|| format!("{} is not an RSA key", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = RsaPrivateKey::new(&mut rand_core::OsRng, 2048)
                    .context("generating the issuer key")?;
                let der = key.to_pkcs1_der().context("encoding the issuer key")?;
                // Created exclusively: two first starts cannot both win.
                let tmp = path.with_extension(format!("tmp{}", std::process::id()));
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&tmp)
                    .with_context(|| format!("creating {}", tmp.display()))?;
                f.write_all(der.as_bytes())?;
                f.sync_all()?;
                std::fs::hard_link(&tmp, &path)
                    .or_else(|e| {
                        if e.kind() == std::io::ErrorKind::AlreadyExists {
                            Ok(())
                        } else {
                            Err(e)
                        }
                    })
                    .with_context(|| format!("saving {}", path.display()))?;
                std::fs::remove_file(&tmp).ok();
                return LocalIssuer::open(data);
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let n = key.n().to_bytes_be();
        let e = key.e().to_bytes_be();
        let kid: String = Sha256::digest(&n)
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        let der = key.to_pkcs1_der().context("encoding the issuer key")?;
        let jwks = serde_json::json!({
            "keys": [{
                "kty": "RSA",
                "use": "sig",
                "alg": "RS256",
                "kid": kid,
                "n": URL_SAFE_NO_PAD.encode(&n),
                "e": URL_SAFE_NO_PAD.encode(&e),
            }]
        });
        Ok(LocalIssuer {
            kid,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            jwks,
        })
    }

    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }

    /// Signs arbitrary claims with the issuer's key (tests use it to
    /// make expired or misaddressed tokens).
    pub fn sign(&self, claims: &serde_json::Value) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).context("signing the token")
    }

    /// A token for `user` with `roles`, valid for `ttl`.
    pub fn token(&self, user: &str, roles: &[Role], ttl: Duration) -> anyhow::Result<String> {
        if user.is_empty()
            || user.len() > 128
            || !user
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
        {
            bail!("--user: 1-128 characters of A-Z, a-z, 0-9, '.', '_', '@' and '-'");
        }
        if ttl.is_zero() || ttl > MAX_TTL {
            bail!("--ttl: between 1 s and 366 days");
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let groups = roles
            .iter()
            .map(|r| match r {
                Role::Admin => "admin",
                Role::Setter => "setter",
            })
            .collect();
        let claims = Claims {
            iss: ISSUER,
            sub: user,
            aud: AUDIENCE,
            iat: now,
            nbf: now,
            exp: now + ttl.as_secs(),
            token_use: "id",
            username: user,
            groups,
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).context("signing the token")
    }
}

/// Parses `30s`, `15m`, `1h`, `7d` (or plain seconds).
pub fn parse_ttl(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected e.g. 30m, 1h, 7d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return Err(format!("{s:?}: the unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use coderun_http::{JwtVerifier, Keys};

    #[tokio::test]
    async fn tokens_verify_with_the_published_keys_only() {
        let dir = tempfile::tempdir().unwrap();
        let issuer = LocalIssuer::open(dir.path()).unwrap();
        let again = LocalIssuer::open(dir.path()).unwrap();
        assert_eq!(issuer.jwks(), again.jwks(), "the key is kept");
        let verifier = JwtVerifier::new(
            ISSUER.into(),
            vec![AUDIENCE.into()],
            Keys::Static(serde_json::from_value(issuer.jwks().clone()).unwrap()),
        );
        let t = issuer
            .token("ann", &[Role::Setter], Duration::from_secs(60))
            .unwrap();
        let p = verifier.verify(&t).await.unwrap();
        assert_eq!(
            (p.user.as_str(), p.roles.as_slice()),
            ("ann", &[Role::Setter][..])
        );

        let other = tempfile::tempdir().unwrap();
        let stranger = LocalIssuer::open(other.path()).unwrap();
        let forged = stranger
            .token("ann", &[Role::Admin], Duration::from_secs(60))
            .unwrap();
        assert!(verifier.verify(&forged).await.is_err());
        assert!(issuer.token("a b", &[], Duration::from_secs(1)).is_err());
    }

    #[test]
    fn ttls_parse() {
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("90"), Ok(Duration::from_secs(90)));
        assert!(parse_ttl("1y").is_err());
        assert!(parse_ttl("h").is_err());
    }
}
