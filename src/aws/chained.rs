//! Profiles whose credentials come from elsewhere: `credential_process` (a command that prints
//! them as JSON), and `role_arn` with `source_profile` or `credential_source` (a role assumed with
//! `sts:AssumeRole`, signed with the source's credentials, chained as profiles name each other).

use std::time::Duration;

use super::credentials::Credentials;
use super::profile::Section;
use super::sigv4::{Post, sign_post};
use crate::logstore::sanitize::{excerpt, plain};

/// How long a credential process may take (it may be a vault client on a slow network).
const PROCESS_LIMIT: Duration = Duration::from_secs(60);

/// Runs `command` (split into words as the AWS CLI splits it; no shell) and reads the credentials
/// it prints (`Version` 1). What it writes to stderr is said when it fails; what it prints never is.
pub async fn process(profile: &str, command: &str) -> Result<Credentials, String> {
    let words = shlex::split(command)
        .filter(|w| !w.is_empty())
        .ok_or_else(|| format!("profile `{profile}`: credential_process cannot be split into words (an unclosed quote?)"))?;
    let mut cmd = tokio::process::Command::new(&words[0]);
    cmd.args(&words[1..]).stdin(std::process::Stdio::null()).kill_on_drop(true);
    let out = match tokio::time::timeout(PROCESS_LIMIT, cmd.output()).await {
        Err(_) => return Err(format!("profile `{profile}`: credential_process gave nothing within {}s", PROCESS_LIMIT.as_secs())),
        Ok(Err(e)) => return Err(format!("profile `{profile}`: credential_process `{}` cannot be started: {e}", plain(&words[0]))),
        Ok(Ok(out)) => out,
    };
    if !out.status.success() {
        let said = excerpt(&plain(String::from_utf8_lossy(&out.stderr).trim()), 300);
        return Err(format!("profile `{profile}`: credential_process failed ({}): {said}", out.status));
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Printed {
        version: u32,
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
    }
    let printed: Printed = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("profile `{profile}`: credential_process printed no credentials JSON ({})", json_problem(&e)))?;
    if printed.version != 1 {
        return Err(format!("profile `{profile}`: credential_process printed Version {}, not 1", printed.version));
    }
    Ok(Credentials {
        access_key_id: printed.access_key_id,
        secret_access_key: printed.secret_access_key,
        session_token: printed.session_token,
    })
}

/// The kind of a JSON error only: its message could quote the secret it choked on.
fn json_problem(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "a field is missing or of the wrong kind",
        serde_json::error::Category::Eof => "cut short",
    }
}

/// `sts:AssumeRole` of the profile's `role_arn`, signed with `source`.
pub async fn assume_role(
    http: &reqwest::Client,
    region: &str,
    profile: &str,
    settings: &Section,
    source: &Credentials,
) -> Result<Credentials, String> {
    let role = settings.get("role_arn").cloned().unwrap_or_default();
    if let Some(serial) = settings.get("mfa_serial") {
        return Err(format!(
            "profile `{profile}` assumes {role} with an MFA code ({serial}), which flightdeck cannot ask for: \
             use a profile without mfa_serial (an SSO login, or keys from `aws sts get-session-token`)"
        ));
    }
    let endpoint = super::federated::endpoint("STS", format!("https://sts.{region}.amazonaws.com"));
    let url = reqwest::Url::parse(&format!("{endpoint}/")).map_err(|e| format!("the STS endpoint {endpoint} is not a URL ({e})"))?;
    let host = super::host_header(&url).ok_or_else(|| format!("the STS endpoint {endpoint} has no host"))?;
    let session =
        settings.get("role_session_name").cloned().unwrap_or_else(|| format!("flightdeck-{}", jiff::Timestamp::now().as_second()));
    // Made in a block of its own: the serializer may not be held across an await.
    let body = {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", "AssumeRole")
            .append_pair("Version", "2011-06-15")
            .append_pair("RoleArn", &role)
            .append_pair("RoleSessionName", &session);
        if let Some(id) = settings.get("external_id") {
            form.append_pair("ExternalId", id);
        }
        if let Some(d) = settings.get("duration_seconds") {
            form.append_pair("DurationSeconds", d);
        }
        form.finish().into_bytes()
    };
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let post = Post { region, service: "sts", host: &host, content_type, extra: &[], body: &body };
    let mut request = http.post(url).header("content-type", content_type);
    for (k, v) in sign_post(source, &post, jiff::Timestamp::now()) {
        request = request.header(k, v);
    }
    let resp = request.body(body).send().await.map_err(|e| format!("STS did not answer to assume {role}: {}", plain(&e.to_string())))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    super::federated::role_credentials(status, &text, &role, |said| {
        format!("STS refused profile `{profile}` the role {role} ({status}): {said}")
    })
}
