//! Credentials that are traded for: a web identity token for a role (`sts:AssumeRoleWithWebIdentity`,
//! as in EKS or a CI's OIDC), and an IAM Identity Center (SSO) login's cached token for a role's
//! credentials (the portal's GetRoleCredentials, after `aws sso login`). Endpoints follow the
//! SDKs' overrides (`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL_SSO`, `AWS_ENDPOINT_URL`).

use super::credentials::Credentials;
use super::profile::Section;
use super::xml_tag as tag;
use crate::logstore::sanitize::{excerpt, plain};

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

pub(super) fn endpoint(id: &str, default: String) -> String {
    env(&format!("AWS_ENDPOINT_URL_{id}")).or_else(|| env("AWS_ENDPOINT_URL")).unwrap_or(default).trim_end_matches('/').to_string()
}

/// A web identity token file and the role it is traded for.
pub struct WebIdentity {
    token_file: String,
    role: String,
    session: String,
}

/// The web identity a role is assumed with: from the profile (`web_identity_token_file`,
/// `role_arn`) or the environment (`AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`). None: neither.
pub fn web_identity_source(profile: Option<&Section>) -> Option<WebIdentity> {
    let get = |k: &str| profile.and_then(|p| p.get(k)).cloned();
    let file = env("AWS_WEB_IDENTITY_TOKEN_FILE").or_else(|| get("web_identity_token_file"))?;
    let role = env("AWS_ROLE_ARN").or_else(|| get("role_arn"))?;
    let session = env("AWS_ROLE_SESSION_NAME").or_else(|| get("role_session_name")).unwrap_or_else(|| "flightdeck".into());
    Some(WebIdentity { token_file: file, role, session })
}

pub async fn web_identity(http: &reqwest::Client, region: &str, source: WebIdentity) -> Result<Credentials, String> {
    let WebIdentity { token_file: file, role, session } = source;
    let token = std::fs::read_to_string(&file).map_err(|e| format!("the web identity token {file} cannot be read ({e})"))?;
    let url = endpoint("STS", format!("https://sts.{region}.amazonaws.com"));
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "AssumeRoleWithWebIdentity")
        .append_pair("Version", "2011-06-15")
        .append_pair("RoleArn", &role)
        .append_pair("RoleSessionName", &session)
        .append_pair("WebIdentityToken", token.trim())
        .finish();
    let resp = http
        .post(format!("{url}/"))
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("STS did not answer to assume {role} with the web identity: {}", plain(&e.to_string())))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    role_credentials(status, &text, &role, |said| format!("STS refused to let the web identity assume {role} ({status}): {said}"))
}

/// The temporary credentials in STS's answer to assuming `role`; a refusal in STS's words.
pub(super) fn role_credentials(status: u16, text: &str, role: &str, refused: impl FnOnce(String) -> String) -> Result<Credentials, String> {
    if status != 200 {
        let said = format!("{} {}", tag(text, "Code").unwrap_or_default(), tag(text, "Message").unwrap_or_default());
        return Err(refused(excerpt(&plain(&said), 300)));
    }
    match (tag(text, "AccessKeyId"), tag(text, "SecretAccessKey"), tag(text, "SessionToken")) {
        (Some(id), Some(secret), Some(token)) => {
            Ok(Credentials { access_key_id: id.into(), secret_access_key: secret.into(), session_token: Some(token.into()) })
        }
        _ => Err(format!("STS's answer to assume {role} holds no credentials")),
    }
}

/// A profile's IAM Identity Center settings.
pub struct Sso {
    start_url: String,
    region: String,
    account: String,
    role: String,
    /// What names the cached token: the session's name, or the start URL (legacy profiles).
    cache_key: String,
}

pub fn sso_source(profile: &Section) -> Result<Option<Sso>, String> {
    let (Some(account), Some(role)) = (profile.get("sso_account_id"), profile.get("sso_role_name")) else { return Ok(None) };
    // A named session (the cache is keyed by its name), or the legacy settings (keyed by URL).
    let (url, region, key) = match profile.get("sso_session") {
        Some(name) => {
            let s = super::profile::sso_session(name)?.ok_or_else(|| format!("the config file has no [sso-session {name}]"))?;
            let get = |k: &str| s.get(k).cloned().ok_or_else(|| format!("[sso-session {name}] has no {k}"));
            (get("sso_start_url")?, get("sso_region")?, name.clone())
        }
        None => {
            let get = |k: &str| profile.get(k).cloned().ok_or_else(|| format!("the SSO profile has no {k}"));
            let url = get("sso_start_url")?;
            (url.clone(), get("sso_region")?, url)
        }
    };
    Ok(Some(Sso { start_url: url, region, account: account.clone(), role: role.clone(), cache_key: key }))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct CachedToken {
    access_token: String,
    expires_at: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleCredentials {
    role_credentials: RoleCredentialsInner,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleCredentialsInner {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
}

pub async fn sso(http: &reqwest::Client, profile_name: &str, source: Sso) -> Result<Credentials, String> {
    let Sso { start_url: url, region, account, role, cache_key: key } = source;
    let login = format!("run `aws sso login --profile {profile_name}`");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, key.as_bytes());
    let name: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let cache = directories::BaseDirs::new()
        .map(|b| b.home_dir().join(".aws/sso/cache").join(format!("{name}.json")))
        .ok_or("no home directory to find the SSO cache in")?;
    let text = std::fs::read_to_string(&cache).map_err(|_| format!("no SSO login for {url} is cached: {login}"))?;
    let token: CachedToken =
        serde_json::from_str(&text).map_err(|e| format!("the SSO cache {} is not a token ({e}): {login}", cache.display()))?;
    let expires: jiff::Timestamp = token.expires_at.parse().map_err(|_| format!("the SSO cache's expiry is not a time: {login}"))?;
    if expires <= jiff::Timestamp::now() {
        return Err(format!("the SSO login for {url} expired at {expires}: {login}"));
    }
    let portal = endpoint("SSO", format!("https://portal.sso.{region}.amazonaws.com"));
    let resp = http
        .get(format!("{portal}/federation/credentials"))
        .query(&[("role_name", role.as_str()), ("account_id", account.as_str())])
        .header("x-amz-sso_bearer_token", token.access_token)
        .send()
        .await
        .map_err(|e| format!("the SSO portal did not answer: {}", plain(&e.to_string())))?;
    let status = resp.status().as_u16();
    if status == 401 || status == 403 {
        return Err(format!("the SSO portal refused the cached login ({status}): {login}"));
    }
    if status != 200 {
        return Err(format!("the SSO portal answered {status} for role {role} in account {account}"));
    }
    let c: RoleCredentials = resp.json().await.map_err(|e| format!("the SSO portal's answer: {e}"))?;
    let c = c.role_credentials;
    Ok(Credentials { access_key_id: c.access_key_id, secret_access_key: c.secret_access_key, session_token: Some(c.session_token) })
}
