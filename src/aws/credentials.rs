//! The AWS credential chain, as the AWS CLI walks it for the sources a release host has.

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// The AWS credential chain, in the order the AWS CLI walks it: the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); a web identity for a role
/// (`AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN`, or the profile's); the profile's role
/// (`role_arn` with `source_profile` or `credential_source`); its SSO login; the shared
/// credentials file (`AWS_SHARED_CREDENTIALS_FILE`, or ~/.aws/credentials); its
/// `credential_process`; the config file's keys for the profile; a container's credentials endpoint (ECS, EKS Pod Identity);
/// the instance metadata service (IMDSv2, on EC2). Says what it tried when nothing gave credentials.
pub async fn credentials(http: &reqwest::Client, profile: Option<&str>, region: &str) -> Result<Credentials, String> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Ok(Credentials { access_key_id: id, secret_access_key: secret, session_token: env("AWS_SESSION_TOKEN") });
    }
    let mut tried = vec!["AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set".to_string()];
    let name = super::profile::profile_name(profile);
    let settings = super::profile::config_profile(&name)?;
    if settings.as_ref().is_none_or(|s| !s.contains_key("role_arn") || s.contains_key("web_identity_token_file"))
        && let Some(source) = super::federated::web_identity_source(settings.as_ref())
    {
        return super::federated::web_identity(http, region, source).await;
    }
    match of_profile(http, region, &name, 0).await {
        Ok(Some(c)) => return Ok(c),
        Ok(None) => {
            let shown = |f: Option<std::path::PathBuf>| f.map(|f| f.display().to_string()).unwrap_or_else(|| "(no home directory)".into());
            tried.push(format!(
                "profile `{name}` names no role, SSO login or credential_process, and has no keys in {} or {}",
                shown(super::profile::credentials_file()),
                shown(super::profile::config_file())
            ))
        }
        Err(e) => return Err(e),
    }
    match container(http).await {
        Some(Ok(c)) => return Ok(c),
        Some(Err(e)) => return Err(e),
        None => tried.push("no container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI)".into()),
    }
    if env("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        tried.push("the instance metadata service is disabled (AWS_EC2_METADATA_DISABLED)".into());
    } else {
        match instance_metadata(http).await {
            Ok(c) => return Ok(c),
            Err(e) => tried.push(e),
        }
    }
    Err(format!("no AWS credentials: {}", tried.join("; ")))
}

/// How many profiles a role may be chained through (`source_profile` naming another's).
const CHAIN_LIMIT: usize = 5;

/// What a profile gives, as the AWS CLI reads it: a role assumed with another profile's (or the
/// environment's, the container's, the instance's) credentials; the SSO login; keys in the
/// credentials file; `credential_process`; keys in the config file. None: it names none of these.
fn of_profile<'a>(
    http: &'a reqwest::Client,
    region: &'a str,
    name: &'a str,
    depth: usize,
) -> futures::future::BoxFuture<'a, Result<Option<Credentials>, String>> {
    Box::pin(async move {
        if depth > CHAIN_LIMIT {
            return Err(format!("profile `{name}`: roles chained more than {CHAIN_LIMIT} deep (do two profiles name each other?)"));
        }
        let settings = super::profile::config_profile(name)?;
        let credentials_file = super::profile::credentials_file().map(|f| super::profile::read(&f)).transpose()?.flatten();
        let keys_only = credentials_file.as_ref().and_then(|all| all.get(name)).and_then(keys);
        if let Some(s) = settings.as_ref().filter(|s| s.contains_key("role_arn") && !s.contains_key("web_identity_token_file")) {
            let source = match (s.get("source_profile"), s.get("credential_source").map(String::as_str)) {
                // A profile may name itself: its own keys assume the role.
                (Some(src), _) if src == name => keys_only.clone().or_else(|| keys(s)),
                (Some(src), _) => of_profile(http, region, src, depth + 1).await?,
                (None, Some("Environment")) => {
                    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
                    env("AWS_ACCESS_KEY_ID").zip(env("AWS_SECRET_ACCESS_KEY")).map(|(id, secret)| Credentials {
                        access_key_id: id,
                        secret_access_key: secret,
                        session_token: env("AWS_SESSION_TOKEN"),
                    })
                }
                (None, Some("EcsContainer")) => container(http).await.transpose()?,
                (None, Some("Ec2InstanceMetadata")) => Some(instance_metadata(http).await?),
                (None, Some(other)) => return Err(format!("profile `{name}`: credential_source `{other}` is not one the AWS CLI knows")),
                (None, None) => return Err(format!("profile `{name}` names role_arn without source_profile or credential_source")),
            };
            let source = source.ok_or_else(|| format!("profile `{name}`: the source of its role gave no credentials"))?;
            return super::chained::assume_role(http, region, name, s, &source).await.map(Some);
        }
        if let Some(source) = settings.as_ref().map(super::federated::sso_source).transpose()?.flatten() {
            return super::federated::sso(http, name, source).await.map(Some);
        }
        if let Some(c) = keys_only {
            return Ok(Some(c));
        }
        if let Some(command) = settings.as_ref().and_then(|s| s.get("credential_process")) {
            return super::chained::process(name, command).await.map(Some);
        }
        Ok(settings.as_ref().and_then(keys))
    })
}

/// The keys a profile section holds, if it holds both.
fn keys(s: &super::profile::Section) -> Option<Credentials> {
    match (s.get("aws_access_key_id"), s.get("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Some(Credentials {
            access_key_id: id.clone(),
            secret_access_key: secret.clone(),
            session_token: s.get("aws_session_token").cloned(),
        }),
        _ => None,
    }
}

/// Credentials as the container and metadata endpoints give them.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Issued {
    access_key_id: String,
    secret_access_key: String,
    token: Option<String>,
}

impl From<Issued> for Credentials {
    fn from(i: Issued) -> Credentials {
        Credentials { access_key_id: i.access_key_id, secret_access_key: i.secret_access_key, session_token: i.token }
    }
}

/// The container credentials endpoint, when the environment names one (None: it does not).
async fn container(http: &reqwest::Client) -> Option<Result<Credentials, String>> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let url = match (env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"), env("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
        (Some(relative), _) => format!("http://169.254.170.2{relative}"),
        (None, Some(full)) => full,
        (None, None) => return None,
    };
    let token = match (env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"), env("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
        (Some(file), _) => std::fs::read_to_string(&file).ok().map(|t| t.trim().to_string()),
        (None, token) => token,
    };
    let mut request = http.get(&url).timeout(std::time::Duration::from_secs(2));
    if let Some(t) = token {
        request = request.header("authorization", t);
    }
    let answer = async {
        let r = request.send().await.map_err(|e| format!("the container credentials endpoint did not answer: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("the container credentials endpoint answered {}", r.status()));
        }
        r.json::<Issued>().await.map(Credentials::from).map_err(|e| format!("the container credentials endpoint's answer: {e}"))
    };
    Some(answer.await)
}

/// IMDSv2: a session token, then the instance role's credentials.
async fn instance_metadata(http: &reqwest::Client) -> Result<Credentials, String> {
    let base = std::env::var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "http://169.254.169.254".into())
        .trim_end_matches('/')
        .to_string();
    let limit = std::time::Duration::from_secs(1);
    let unreachable = |e: reqwest::Error| {
        format!("no instance metadata service at {base} ({})", if e.is_timeout() { "no answer" } else { "unreachable" })
    };
    let token = http
        .put(format!("{base}/latest/api/token"))
        .header("x-aws-ec2-metadata-token-ttl-seconds", "300")
        .timeout(limit)
        .send()
        .await
        .map_err(unreachable)?
        .error_for_status()
        .map_err(|e| format!("the instance metadata service refused a session: {e}"))?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let get = |path: String| http.get(format!("{base}{path}")).header("x-aws-ec2-metadata-token", token.trim()).timeout(limit).send();
    let roles = get("/latest/meta-data/iam/security-credentials/".into())
        .await
        .map_err(unreachable)?
        .error_for_status()
        .map_err(|_| "the instance has no IAM role".to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let role = roles.lines().next().map(str::trim).filter(|r| !r.is_empty()).ok_or("the instance has no IAM role")?;
    get(format!("/latest/meta-data/iam/security-credentials/{role}"))
        .await
        .map_err(unreachable)?
        .error_for_status()
        .map_err(|e| format!("the instance role's credentials: {e}"))?
        .json::<Issued>()
        .await
        .map(Credentials::from)
        .map_err(|e| format!("the instance role's credentials: {e}"))
}
