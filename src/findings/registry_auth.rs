//! The right to read a registry, got as docker and cosign get it: the credentials `docker login`
//! left (docker's `config.json`, or podman's `auth.json`), or a credential helper
//! (`docker-credential-ecr-login`, `-gcloud`, …), answered to the registry's challenge: `Basic`
//! (ECR, htpasswd) sends them; `Bearer` (GHCR, Docker Hub, Artifact Registry, Harbor) trades them
//! at the realm for a pull token. Secrets are only ever put in a request header, never in a message.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;

use crate::logstore::sanitize::excerpt;
use crate::util::Token;

/// A docker config or podman auth file is small; anything larger is not one.
const CONFIG_LIMIT: u64 = 1024 * 1024;
const HELPER_TIMEOUT: Duration = Duration::from_secs(15);
/// The user name a helper or `identitytoken` gives for an OAuth2 refresh token.
const IDENTITY_TOKEN_USER: &str = "<token>";

/// Where credentials are looked for, in order.
#[derive(Clone, Debug, Default)]
pub struct Keychain {
    files: Vec<PathBuf>,
}

/// Credentials for one registry, and where they came from (said in messages; never the secret).
#[derive(Clone, Debug)]
pub struct Login {
    pub username: String,
    secret: Token,
    pub source: String,
}

impl Login {
    fn basic(&self) -> String {
        format!("Basic {}", B64.encode(format!("{}:{}", self.username, self.secret.reveal())))
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl Keychain {
    /// docker's (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), then podman's
    /// (`$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`).
    pub fn from_env() -> Keychain {
        let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf());
        let docker = env("DOCKER_CONFIG").or_else(|| home.map(|h| h.join(".docker"))).map(|d| d.join("config.json"));
        let podman = env("REGISTRY_AUTH_FILE").or_else(|| env("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")));
        Keychain { files: docker.into_iter().chain(podman).collect() }
    }

    /// Only the docker config in `dir` (as `DOCKER_CONFIG=dir`).
    pub fn docker_config(dir: &Path) -> Keychain {
        Keychain { files: vec![dir.join("config.json")] }
    }

    /// The credentials for `host`, or None when none are configured.
    pub async fn login_for(&self, host: &str) -> Result<Option<Login>, String> {
        for file in &self.files {
            let Some(config) = read_config(file)? else { continue };
            if let Some(helper) = config.cred_helpers.get(host) {
                return helper_login(helper, host).await;
            }
            if let Some((_, entry)) = config.auths.iter().find(|(k, _)| config_key_host(k) == host) {
                return entry_login(entry, host, file).map(Some);
            }
            if let Some(store) = config.creds_store.as_deref().filter(|s| !s.is_empty()) {
                return helper_login(store, host).await;
            }
        }
        Ok(None)
    }
}

fn read_config(file: &Path) -> Result<Option<DockerConfig>, String> {
    let meta = match std::fs::metadata(file) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{} cannot be read ({e})", file.display())),
    };
    if !meta.is_file() || meta.len() > CONFIG_LIMIT {
        return Err(format!("{} is not a registry credentials file", file.display()));
    }
    let bytes = std::fs::read(file).map_err(|e| format!("{} cannot be read ({e})", file.display()))?;
    // serde's message names a position, never the text: no secret can leak through it.
    serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("{} is not valid JSON ({e})", file.display()))
}

/// The registry host a config key names: docker writes `https://index.docker.io/v1/`, podman and
/// `docker login ghcr.io` write the bare host.
fn config_key_host(key: &str) -> &str {
    let bare = key.trim_start_matches("https://").trim_start_matches("http://");
    let host = bare.split('/').next().unwrap_or(bare);
    if host == "index.docker.io" || host == "docker.io" { "registry-1.docker.io" } else { host }
}

fn entry_login(entry: &AuthEntry, host: &str, file: &Path) -> Result<Login, String> {
    let source = file.display().to_string();
    if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Login { username: IDENTITY_TOKEN_USER.into(), secret: Token::new(token.into()), source });
    }
    let decoded = entry
        .auth
        .as_deref()
        .and_then(|a| B64.decode(a.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| format!("the entry for {host} in {source} has no readable `auth` (base64 of user:password)"))?;
    let (user, password) = decoded.split_once(':').ok_or_else(|| format!("the `auth` for {host} in {source} is not user:password"))?;
    Ok(Login { username: user.into(), secret: Token::new(password.into()), source })
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Asks `docker-credential-NAME get` (the credential helper protocol: the server on stdin, JSON
/// on stdout). "credentials not found" is no login, not an error.
async fn helper_login(name: &str, host: &str) -> Result<Option<Login>, String> {
    use tokio::io::AsyncWriteExt;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.') {
        return Err(format!("the credential helper {:?} configured for {host} is not a helper name", excerpt(name, 60)));
    }
    let program = format!("docker-credential-{name}");
    let mut child = tokio::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{program} (the credential helper for {host}) cannot be run: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(host.as_bytes()).await;
    }
    let out = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| format!("{program} did not answer within {} s", HELPER_TIMEOUT.as_secs()))?
        .map_err(|e| format!("{program} failed: {e}"))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(if out.stdout.is_empty() { &out.stderr } else { &out.stdout }).into_owned();
        if said.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(format!("{program} failed ({}): {}", out.status, excerpt(said.trim(), 200)));
    }
    let answer: HelperAnswer =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("{program} did not answer with credentials JSON ({e})"))?;
    Ok(Some(Login { username: answer.username, secret: Token::new(answer.secret), source: program }))
}

/// What a registry's `WWW-Authenticate` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
}

/// Reads `Basic realm="…"` or `Bearer realm="…",service="…",scope="…"` (quoted values may hold
/// commas, as scopes with several actions do).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = std::collections::BTreeMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => after.split_once(',').map_or((after, ""), |(v, a)| (v, a)),
        };
        params.insert(key.trim().to_ascii_lowercase(), value.to_string());
        rest = after.trim_start_matches([',', ' ']);
    }
    let realm = params.remove("realm")?;
    Some(Challenge::Bearer { realm, service: params.remove("service"), scope: params.remove("scope") })
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// The `Authorization` header that answers `challenge` for pulling `repo`, with `login` if any.
pub async fn authorize(
    http: &reqwest::Client,
    challenge: &Challenge,
    login: Option<&Login>,
    host: &str,
    repo: &str,
) -> Result<String, String> {
    let (realm, service, scope) = match challenge {
        Challenge::Basic => {
            let login = login.ok_or_else(|| no_login(host, repo))?;
            return Ok(login.basic());
        }
        Challenge::Bearer { realm, service, scope } => (realm, service, scope),
    };
    let realm_url = reqwest::Url::parse(realm).map_err(|_| format!("{host} sent a token realm that is not a URL"))?;
    let realm_host = realm_url.host_str().unwrap_or_default().to_string();
    let loopback = realm_host == "localhost" || realm_host.starts_with("127.") || realm_host == "[::1]";
    if login.is_some() && realm_url.scheme() != "https" && !loopback {
        return Err(format!("{host} asks for credentials to be sent to {realm_host} without TLS; refused"));
    }
    let scope = scope.clone().unwrap_or_else(|| format!("repository:{repo}:pull"));
    let service = service.clone().unwrap_or_default();
    let req = match login {
        Some(l) if l.username == IDENTITY_TOKEN_USER => {
            let form: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "refresh_token")
                .append_pair("service", &service)
                .append_pair("scope", &scope)
                .append_pair("client_id", "flightdeck")
                .append_pair("refresh_token", l.secret.reveal())
                .finish();
            http.post(realm_url.clone()).header("Content-Type", "application/x-www-form-urlencoded").body(form)
        }
        other => {
            let req = http.get(realm_url.clone()).query(&[("service", service.as_str()), ("scope", scope.as_str())]);
            match other {
                Some(l) => req.header("Authorization", l.basic()),
                None => req,
            }
        }
    };
    let resp = req.send().await.map_err(|e| format!("{realm_host} (the token service of {host}) did not answer: {e}"))?;
    let status = resp.status().as_u16();
    if status == 401 || status == 403 {
        return Err(match login {
            Some(l) => format!("{realm_host} refused the credentials for {host} from {} ({status})", l.source),
            None => no_login(host, repo),
        });
    }
    if status != 200 {
        return Err(format!("{realm_host} (the token service of {host}) answered {status}"));
    }
    let bytes = resp.bytes().await.map_err(|e| format!("{realm_host}'s token answer was cut off: {e}"))?;
    let answer: TokenAnswer = serde_json::from_slice(&bytes).map_err(|e| format!("{realm_host} did not answer with a token ({e})"))?;
    let token = answer.token.or(answer.access_token).filter(|t| !t.is_empty());
    token.map(|t| format!("Bearer {t}")).ok_or_else(|| format!("{realm_host} answered without a token"))
}

pub fn no_login(host: &str, repo: &str) -> String {
    format!("{host} wants credentials to read {repo}, and none are configured (`docker login {host}`, or a credential helper)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_read_with_commas_inside_quotes() {
        let c = parse_challenge(r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:o/r:pull,push""#);
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://ghcr.io/token".into(),
                service: Some("ghcr.io".into()),
                scope: Some("repository:o/r:pull,push".into()),
            })
        );
        assert_eq!(parse_challenge(r#"Basic realm="https://123.dkr.ecr.eu-west-1.amazonaws.com/""#), Some(Challenge::Basic));
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge(r#"Bearer service="x""#), None, "no realm, nowhere to ask");
    }

    #[test]
    fn config_keys_name_hosts_as_docker_writes_them() {
        assert_eq!(config_key_host("https://index.docker.io/v1/"), "registry-1.docker.io");
        assert_eq!(config_key_host("ghcr.io"), "ghcr.io");
        assert_eq!(config_key_host("http://127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn a_login_never_prints_its_secret() {
        let l = Login { username: "u".into(), secret: Token::new("hunter2".into()), source: "x".into() };
        assert!(!format!("{l:?}").contains("hunter2"));
    }
}
