//! AWS's JSON protocol (1.1, and 1.0): a signed POST to `/` naming the operation in `X-Amz-Target`, the
//! error's code in `__type`. Throttling and server errors are retried with backoff; expired
//! credentials are looked for again once; AccessDenied keeps AWS's own words.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::credentials::Credentials;
use super::sigv4::{Post, sign_post};
use crate::logstore::sanitize::{excerpt, plain};

/// One AWS API spoken in JSON: how it signs, names operations, and is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Service {
    /// The SigV4 signing name and endpoint prefix (`codepipeline`).
    pub signing_name: &'static str,
    /// `X-Amz-Target`'s prefix (`CodePipeline_20150709`).
    pub target_prefix: &'static str,
    /// The SDKs' service id for `AWS_ENDPOINT_URL_<ID>` (`CODEPIPELINE`).
    pub env_id: &'static str,
    /// How people name it in messages.
    pub title: &'static str,
    /// The protocol's content type: JSON 1.1 for most, 1.0 for CloudWatch.
    pub content_type: &'static str,
}

const JSON_11: &str = "application/x-amz-json-1.1";

pub const CODEPIPELINE: Service = Service {
    signing_name: "codepipeline",
    target_prefix: "CodePipeline_20150709",
    env_id: "CODEPIPELINE",
    title: "CodePipeline",
    content_type: JSON_11,
};
pub const CODEBUILD: Service = Service {
    signing_name: "codebuild",
    target_prefix: "CodeBuild_20161006",
    env_id: "CODEBUILD",
    title: "CodeBuild",
    content_type: JSON_11,
};
pub const LOGS: Service = Service {
    signing_name: "logs",
    target_prefix: "Logs_20140328",
    env_id: "CLOUDWATCH_LOGS",
    title: "CloudWatch Logs",
    content_type: JSON_11,
};
pub const CODEDEPLOY: Service = Service {
    signing_name: "codedeploy",
    target_prefix: "CodeDeploy_20141006",
    env_id: "CODEDEPLOY",
    title: "CodeDeploy",
    content_type: JSON_11,
};
pub const ECS: Service = Service {
    signing_name: "ecs",
    target_prefix: "AmazonEC2ContainerServiceV20141113",
    env_id: "ECS",
    title: "ECS",
    content_type: JSON_11,
};
pub const ECR: Service = Service {
    signing_name: "ecr",
    target_prefix: "AmazonEC2ContainerRegistry_V20150921",
    env_id: "ECR",
    title: "ECR",
    content_type: JSON_11,
};
/// CloudWatch (alarms) speaks JSON 1.0 besides its older query protocol.
pub const CLOUDWATCH: Service = Service {
    signing_name: "monitoring",
    target_prefix: "GraniteServiceVersion20100801",
    env_id: "CLOUDWATCH",
    title: "CloudWatch",
    content_type: "application/x-amz-json-1.0",
};

/// Attempts per call when AWS throttles or fails on its side.
const ATTEMPTS: u32 = 5;
/// Credentials are looked for again after this long (those of a role expire within the hour).
const CREDENTIALS_KEPT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("AWS refused {service}:{operation}: {message}")]
    AccessDenied { service: &'static str, operation: String, message: String },
    #[error("the AWS credentials have expired ({code}); renew them (`aws sso login`, or new keys) and try again")]
    Expired { code: String },
    #[error("{service} kept throttling {operation} after {ATTEMPTS} attempts ({code})")]
    Throttled { service: &'static str, operation: String, code: String },
    #[error("{service} {operation}: {code}: {message}")]
    Service { service: &'static str, operation: String, code: String, message: String, status: u16 },
    #[error("cannot reach {service} at {endpoint}: {why}")]
    Unreachable { service: &'static str, endpoint: String, why: String },
    #[error("{0}")]
    Credentials(String),
}

impl AwsError {
    /// The AWS error code, when AWS answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Service { code, .. } | AwsError::Throttled { code, .. } | AwsError::Expired { code } => Some(code),
            AwsError::AccessDenied { .. } => Some("AccessDeniedException"),
            _ => None,
        }
    }
}

/// Where and as whom AWS is asked: region, profile and endpoint as the CLI takes them.
pub struct Session {
    http: reqwest::Client,
    pub region: String,
    profile: Option<String>,
    endpoint_url: Option<String>,
    credentials: tokio::sync::Mutex<Option<(Credentials, Instant)>>,
    fixed: Option<Credentials>,
}

impl Session {
    /// `region` from the configuration, else `AWS_REGION`/`AWS_DEFAULT_REGION`; `endpoint_url`
    /// from the configuration, else `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`.
    pub fn new(region: Option<String>, profile: Option<String>, endpoint_url: Option<String>) -> Result<Session, AwsError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let from_profile = || {
            let name = super::profile::profile_name(profile.as_deref());
            super::profile::config_profile(&name).ok().flatten().and_then(|p| p.get("region").cloned())
        };
        let region = region.or_else(|| env("AWS_REGION")).or_else(|| env("AWS_DEFAULT_REGION")).or_else(from_profile).ok_or_else(|| {
            AwsError::Credentials("no AWS region: set `region` in the configuration, AWS_REGION, or the profile's region".into())
        })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| AwsError::Credentials(format!("cannot make an HTTP client: {e}")))?;
        Ok(Session { http, region, profile, endpoint_url, credentials: tokio::sync::Mutex::new(None), fixed: None })
    }

    pub fn endpoint(&self, service: &Service) -> String {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        self.endpoint_url
            .clone()
            .or_else(|| env(&format!("AWS_ENDPOINT_URL_{}", service.env_id)))
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| format!("https://{}.{}.amazonaws.com", service.signing_name, self.region))
            .trim_end_matches('/')
            .to_string()
    }

    /// The endpoint the configuration names for every service, if it does.
    pub fn endpoint_override(&self) -> Option<String> {
        self.endpoint_url.clone()
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A session that always signs with `credentials` (an embedding that holds its own keys).
    pub fn with_credentials(self, credentials: Credentials) -> Session {
        Session { fixed: Some(credentials), ..self }
    }

    pub async fn credentials(&self, fresh: bool) -> Result<Credentials, AwsError> {
        if let Some(c) = &self.fixed {
            return Ok(c.clone());
        }
        let mut kept = self.credentials.lock().await;
        if !fresh && let Some((c, _)) = kept.as_ref().filter(|(_, at)| at.elapsed() < CREDENTIALS_KEPT) {
            return Ok(c.clone());
        }
        let c = super::credentials(&self.http, self.profile.as_deref(), &self.region).await.map_err(AwsError::Credentials)?;
        *kept = Some((c.clone(), Instant::now()));
        Ok(c)
    }

    /// Calls `operation` with `input`; the answer's JSON.
    pub async fn call(&self, service: &Service, operation: &str, input: &Value) -> Result<Value, AwsError> {
        let endpoint = self.endpoint(service);
        let url = reqwest::Url::parse(&format!("{endpoint}/")).map_err(|e| AwsError::Unreachable {
            service: service.title,
            endpoint: endpoint.clone(),
            why: format!("not a URL ({e})"),
        })?;
        let Some(host) = super::host_header(&url) else {
            return Err(AwsError::Unreachable { service: service.title, endpoint, why: "no host".into() });
        };
        let body = serde_json::to_vec(input).unwrap_or_default();
        let target = format!("{}.{operation}", service.target_prefix);
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let creds = self.credentials(false).await?;
            let extra = [("x-amz-target", target.clone())];
            let post = Post {
                region: &self.region,
                service: service.signing_name,
                host: &host,
                content_type: service.content_type,
                extra: &extra,
                body: &body,
            };
            let mut req = self.http.post(url.clone()).header("content-type", service.content_type).header("x-amz-target", &target);
            for (k, v) in sign_post(&creds, &post, jiff::Timestamp::now()) {
                req = req.header(k, v);
            }
            let outcome = match req.body(body.clone()).send().await {
                Ok(resp) => answer(resp).await,
                Err(e) => Err((0, "unreachable".to_string(), plain(&e.to_string()))),
            };
            let (status, code, message) = match outcome {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if status == 0 && attempt >= ATTEMPTS {
                return Err(AwsError::Unreachable { service: service.title, endpoint, why: excerpt(&message, 300) });
            }
            if is_expired(&code) {
                if renewed {
                    return Err(AwsError::Expired { code });
                }
                renewed = true;
                self.credentials(true).await?;
                continue;
            }
            if code.contains("AccessDenied") || code == "UnauthorizedOperation" || code == "UnrecognizedClientException" {
                return Err(AwsError::AccessDenied {
                    service: service.title,
                    operation: operation.into(),
                    message: excerpt(&message, 500),
                });
            }
            let transient = status == 0 || status >= 500 || is_throttling(&code);
            if !transient {
                return Err(AwsError::Service {
                    service: service.title,
                    operation: operation.into(),
                    code,
                    message: excerpt(&message, 500),
                    status,
                });
            }
            if attempt >= ATTEMPTS && is_throttling(&code) {
                return Err(AwsError::Throttled { service: service.title, operation: operation.into(), code });
            }
            if attempt >= ATTEMPTS {
                return Err(AwsError::Service {
                    service: service.title,
                    operation: operation.into(),
                    message: format!("{} (failed on AWS's side {ATTEMPTS} times)", excerpt(&message, 400)),
                    code,
                    status,
                });
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }
}

/// The body of a 2xx, else (status, code, message) of the error.
async fn answer(resp: reqwest::Response) -> Result<Value, (u16, String, String)> {
    let status = resp.status().as_u16();
    let header_code = resp.headers().get("x-amzn-errortype").and_then(|v| v.to_str().ok()).map(str::to_string);
    let bytes = resp.bytes().await.map_err(|e| (0, "unreachable".to_string(), e.to_string()))?;
    if (200..300).contains(&status) {
        if bytes.is_empty() {
            return Ok(Value::Object(Default::default()));
        }
        return serde_json::from_slice(&bytes).map_err(|e| (status, "MalformedResponse".into(), format!("not JSON ({e})")));
    }
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let raw = body["__type"].as_str().map(str::to_string).or(header_code).unwrap_or_else(|| format!("HTTP {status}"));
    // `com.amazonaws.codepipeline#ApprovalAlreadyCompletedException`, or `Code:http://…`.
    let code = raw.rsplit('#').next().unwrap_or(&raw).split(':').next().unwrap_or(&raw).to_string();
    let message = body["message"].as_str().or(body["Message"].as_str()).unwrap_or_default();
    Err((status, plain(&code), plain(message)))
}

fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "ProvisionedThroughputExceededException"
            | "RequestLimitExceeded"
            | "RequestThrottled"
            | "SlowDown"
    )
}

fn is_expired(code: &str) -> bool {
    matches!(code, "ExpiredTokenException" | "ExpiredToken" | "RequestExpired" | "TokenRefreshRequired")
}

/// Exponential, half of it random (no two clients retry in step): 100 ms × 2^n, at most 5 s.
fn backoff(attempt: u32) -> Duration {
    let cap = (100u64 << attempt.min(6)).min(5_000);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0) as u64;
    Duration::from_millis(cap / 2 + nanos % (cap / 2 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) <= Duration::from_millis(200));
        assert!(backoff(10) <= Duration::from_secs(5) && backoff(10) >= Duration::from_millis(2_500));
    }

    #[test]
    fn error_codes_are_told_apart() {
        assert!(is_throttling("ThrottlingException") && !is_throttling("LimitExceededException"));
        assert!(is_expired("ExpiredTokenException") && !is_expired("AccessDeniedException"));
    }
}
