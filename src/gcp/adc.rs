//! Application Default Credentials, found as Google's client libraries find them: the file named by
//! `GOOGLE_APPLICATION_CREDENTIALS` (a service-account key, an authorized user, or an external account), gcloud's ADC
//! file, the metadata server, and as a last resort `gcloud auth print-access-token`. Access tokens
//! are exchanged here and never shown, logged or journaled.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::GcpError;
use crate::logstore::sanitize::plain;

/// The scope flightdeck asks for: Cloud Build, Cloud Deploy and Cloud Storage all accept it.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// Where a token comes from.
#[derive(Clone)]
pub enum Source {
    ServiceAccount { email: String, key_der: Vec<u8>, token_uri: String, origin: PathBuf },
    AuthorizedUser { client_id: String, client_secret: String, refresh_token: String, token_uri: String, origin: PathBuf },
    Metadata { host: String },
    External(Box<super::federated::External>),
    Gcloud,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Source {
    /// Where the credentials were found, for messages (never a secret).
    pub fn describe(&self) -> String {
        match self {
            Source::ServiceAccount { email, origin, .. } => format!("service account {email} (key {})", origin.display()),
            Source::AuthorizedUser { origin, .. } => format!("the user of {}", origin.display()),
            Source::Metadata { host } => format!("the metadata server at {host}"),
            Source::External(e) => e.describe(),
            Source::Gcloud => "gcloud auth print-access-token".into(),
        }
    }
}

/// An access token and how long Google says it lasts.
pub struct Token {
    pub secret: String,
    pub lifetime: Duration,
}

#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: String,
    client_email: Option<String>,
    private_key: Option<String>,
    token_uri: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
}

/// The credentials ADC would use, in its order.
pub fn find() -> Result<Source, GcpError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    if let Some(path) = env("GOOGLE_APPLICATION_CREDENTIALS") {
        return from_file(Path::new(&path));
    }
    let gcloud_dir = env("CLOUDSDK_CONFIG")
        .map(PathBuf::from)
        .or_else(|| directories::BaseDirs::new().map(|b| b.home_dir().join(".config").join("gcloud")));
    if let Some(file) = gcloud_dir.map(|d| d.join("application_default_credentials.json")).filter(|f| f.is_file()) {
        return from_file(&file);
    }
    if let Some(host) = env("GCE_METADATA_HOST") {
        return Ok(Source::Metadata { host });
    }
    if on_google_cloud() {
        return Ok(Source::Metadata { host: "metadata.google.internal".into() });
    }
    if which("gcloud") {
        return Ok(Source::Gcloud);
    }
    Err(GcpError::Credentials(
        "no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key, or run `gcloud auth application-default login`"
            .into(),
    ))
}

/// Google's VMs say so in their DMI product name; asking the metadata server elsewhere would hang.
fn on_google_cloud() -> bool {
    std::fs::read_to_string("/sys/class/dmi/id/product_name").is_ok_and(|n| n.trim().starts_with("Google"))
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

pub fn from_file(path: &Path) -> Result<Source, GcpError> {
    let text = std::fs::read_to_string(path).map_err(|e| GcpError::Credentials(format!("cannot read {}: {e}", path.display())))?;
    // The error never quotes the file: it holds a private key or a refresh token.
    let key: KeyFile = serde_json::from_str(&text).map_err(|e| {
        GcpError::Credentials(format!("{} is not a Google credentials file (JSON error at line {})", path.display(), e.line()))
    })?;
    let missing = |what: &str| GcpError::Credentials(format!("{} has no {what}", path.display()));
    match key.kind.as_str() {
        "service_account" => {
            let pem = key.private_key.ok_or_else(|| missing("private_key"))?;
            Ok(Source::ServiceAccount {
                email: key.client_email.ok_or_else(|| missing("client_email"))?,
                key_der: pem_body(&pem)
                    .ok_or_else(|| GcpError::Credentials(format!("the private_key of {} is not PEM", path.display())))?,
                token_uri: key.token_uri.unwrap_or_else(|| GOOGLE_TOKEN_URI.into()),
                origin: path.to_path_buf(),
            })
        }
        "authorized_user" => Ok(Source::AuthorizedUser {
            client_id: key.client_id.ok_or_else(|| missing("client_id"))?,
            client_secret: key.client_secret.ok_or_else(|| missing("client_secret"))?,
            refresh_token: key.refresh_token.ok_or_else(|| missing("refresh_token"))?,
            token_uri: key.token_uri.unwrap_or_else(|| GOOGLE_TOKEN_URI.into()),
            origin: path.to_path_buf(),
        }),
        "external_account" => {
            let mut external: super::federated::External = serde_json::from_str(&text).map_err(|e| {
                GcpError::Credentials(format!("{} is not a usable external account ({})", path.display(), plain(&e.to_string())))
            })?;
            external.origin = path.to_path_buf();
            Ok(Source::External(Box::new(external)))
        }
        other => Err(GcpError::Credentials(format!(
            "{} holds `{}` credentials; flightdeck reads service-account keys, authorized users and external accounts",
            path.display(),
            plain(other)
        ))),
    }
}

/// The DER bytes of a PEM block.
fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    error: Option<String>,
    error_description: Option<String>,
}

/// A fresh access token from `source`.
pub async fn token(http: &reqwest::Client, source: &Source) -> Result<Token, GcpError> {
    match source {
        Source::ServiceAccount { email, key_der, token_uri, .. } => {
            let assertion = signed_assertion(email, key_der, token_uri)?;
            let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())];
            exchange(http.post(token_uri).form(&form), source).await
        }
        Source::AuthorizedUser { client_id, client_secret, refresh_token, token_uri, .. } => {
            let form = [
                ("grant_type", "refresh_token"),
                ("client_id", client_id.as_str()),
                ("client_secret", client_secret.as_str()),
                ("refresh_token", refresh_token.as_str()),
            ];
            exchange(http.post(token_uri).form(&form), source).await
        }
        Source::Metadata { host } => {
            let url = format!("http://{host}/computeMetadata/v1/instance/service-accounts/default/token?scopes={SCOPE}");
            exchange(http.get(url).header("Metadata-Flavor", "Google").timeout(Duration::from_secs(5)), source).await
        }
        Source::External(e) => e.token(http).await,
        Source::Gcloud => gcloud_token().await,
    }
}

async fn exchange(request: reqwest::RequestBuilder, source: &Source) -> Result<Token, GcpError> {
    let refused = |why: String| GcpError::Credentials(format!("Google refused the credentials of {}: {why}", source.describe()));
    let response = request.send().await.map_err(|e| refused(format!("the token endpoint could not be reached ({e})")))?;
    let status = response.status().as_u16();
    let answer: TokenAnswer = response.json().await.map_err(|_| refused(format!("HTTP {status} without a token")))?;
    match answer {
        TokenAnswer { access_token: Some(secret), expires_in, .. } if status == 200 => {
            Ok(Token { secret, lifetime: Duration::from_secs(expires_in.unwrap_or(3600)) })
        }
        TokenAnswer { error, error_description, .. } => Err(refused(plain(&format!(
            "{} {}",
            error.unwrap_or_else(|| format!("HTTP {status}")),
            error_description.map(|d| format!("({d})")).unwrap_or_default()
        )))),
    }
}

/// The JWT a service account signs to ask for a token (RS256, an hour at most).
fn signed_assertion(email: &str, key_der: &[u8], audience: &str) -> Result<String, GcpError> {
    use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
    let now = jiff::Timestamp::now().as_second();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = serde_json::json!({"iss": email, "scope": SCOPE, "aud": audience, "iat": now, "exp": now + 3600});
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{claims}");
    let key = RsaKeyPair::from_pkcs8(key_der)
        .map_err(|_| GcpError::Credentials(format!("the private key of service account {email} is not a PKCS#8 RSA key")))?;
    let mut signature = vec![0u8; key.public_modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), signing_input.as_bytes(), &mut signature)
        .map_err(|_| GcpError::Credentials(format!("could not sign with the key of service account {email}")))?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// `gcloud auth print-access-token`, with a limit: gcloud may prompt or hang on a broken network.
async fn gcloud_token() -> Result<Token, GcpError> {
    let run = tokio::process::Command::new("gcloud").args(["auth", "print-access-token"]).kill_on_drop(true).output();
    let out = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .map_err(|_| GcpError::Credentials("`gcloud auth print-access-token` did not answer within 30s".into()))?
        .map_err(|e| GcpError::Credentials(format!("cannot run gcloud: {e}")))?;
    if !out.status.success() {
        let why = plain(String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("no message"));
        return Err(GcpError::Credentials(format!("`gcloud auth print-access-token` failed: {why}")));
    }
    let secret = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // gcloud does not say how long its token lasts; Google's last an hour, and this one may be older.
    Ok(Token { secret, lifetime: Duration::from_secs(600) })
}

/// Who the credentials act as, for the journal: the service account's e-mail, else where they
/// came from.
pub async fn principal(http: &reqwest::Client, source: &Source) -> String {
    match source {
        Source::ServiceAccount { email, .. } => email.clone(),
        Source::Metadata { host } => {
            let url = format!("http://{host}/computeMetadata/v1/instance/service-accounts/default/email");
            let asked = http.get(url).header("Metadata-Flavor", "Google").timeout(Duration::from_secs(5)).send().await;
            match asked {
                Ok(r) if r.status().is_success() => r.text().await.map(|t| plain(t.trim())).unwrap_or_else(|_| source.describe()),
                _ => source.describe(),
            }
        }
        Source::External(e) => e.service_account().unwrap_or_else(|| source.describe()),
        Source::AuthorizedUser { .. } | Source::Gcloud => source.describe(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_that_is_not_one_is_refused_without_quoting_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        std::fs::write(&path, r#"{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END"#).unwrap();
        let e = from_file(&path).unwrap_err().to_string();
        assert!(e.contains("is not a Google credentials file") && !e.contains("c2VjcmV0"), "{e}");
        std::fs::write(&path, r#"{"type": "external_account", "audience": "x"}"#).unwrap();
        assert!(from_file(&path).unwrap_err().to_string().contains("is not a usable external account"));
        std::fs::write(&path, r#"{"type": "impersonated_service_account"}"#).unwrap();
        assert!(from_file(&path).unwrap_err().to_string().contains("holds `impersonated_service_account` credentials"));
        std::fs::write(&path, r#"{"type": "authorized_user", "client_id": "a", "client_secret": "b"}"#).unwrap();
        assert!(from_file(&path).unwrap_err().to_string().contains("has no refresh_token"));
    }
}
