//! What every Google Cloud API flightdeck speaks needs: Application Default Credentials with the
//! token refreshed before it expires, and JSON over REST with Google's errors, retries on 429 and
//! 503 with backoff, and one fresh token after a 401.

pub mod adc;
mod federated;

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use crate::logstore::sanitize::plain;

#[derive(Debug, Clone, thiserror::Error)]
pub enum GcpError {
    #[error("{0}")]
    Credentials(String),
    #[error("Google Cloud did not accept the credentials of {who} (HTTP 401: {message}); they may be revoked or expired")]
    Unauthenticated { who: String, message: String },
    #[error("Google Cloud refused {who}: {message}")]
    PermissionDenied { who: String, message: String },
    #[error("Google Cloud is throttling requests (HTTP {status}) and kept doing so after {tries} tries: {message}")]
    Throttled { status: u16, tries: usize, message: String },
    #[error("cannot reach {url}: {why}")]
    Unreachable { url: String, why: String },
    #[error("Google Cloud answered HTTP {status} {code}: {message}")]
    Api { status: u16, code: String, message: String },
}

impl GcpError {
    /// Google's status word (`NOT_FOUND`, `FAILED_PRECONDITION`, `PERMISSION_DENIED`…).
    pub fn code(&self) -> Option<&str> {
        match self {
            GcpError::Api { code, .. } => Some(code),
            GcpError::PermissionDenied { .. } => Some("PERMISSION_DENIED"),
            GcpError::Unauthenticated { .. } => Some("UNAUTHENTICATED"),
            GcpError::Throttled { .. } => Some("RESOURCE_EXHAUSTED"),
            _ => None,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ErrorDetail {
    message: String,
    status: String,
}

/// A token is renewed this long before Google says it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// Waits before asking again after a 429 or a 503.
const BACKOFF: [Duration; 4] = [Duration::from_millis(500), Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(4)];

/// The credentials and the HTTP client every Google API call of one provider shares.
pub struct Session {
    http: reqwest::Client,
    source: tokio::sync::Mutex<Option<adc::Source>>,
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

impl Session {
    pub fn new() -> Session {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Session { http, source: tokio::sync::Mutex::new(None), token: tokio::sync::Mutex::new(None) }
    }

    /// A session with these credentials rather than those ADC would find.
    pub fn with_source(source: adc::Source) -> Session {
        let session = Session::new();
        Session { source: tokio::sync::Mutex::new(Some(source)), ..session }
    }

    async fn source(&self) -> Result<adc::Source, GcpError> {
        let mut kept = self.source.lock().await;
        if let Some(s) = kept.as_ref() {
            return Ok(s.clone());
        }
        let found = adc::find()?;
        *kept = Some(found.clone());
        Ok(found)
    }

    /// An access token valid for at least a few more minutes (`fresh`: a new one regardless).
    async fn bearer(&self, fresh: bool) -> Result<String, GcpError> {
        let mut kept = self.token.lock().await;
        if !fresh && let Some((t, _)) = kept.as_ref().filter(|(_, until)| Instant::now() + RENEW_BEFORE < *until) {
            return Ok(t.clone());
        }
        let source = self.source().await?;
        let token = adc::token(&self.http, &source).await?;
        *kept = Some((token.secret.clone(), Instant::now() + token.lifetime));
        Ok(token.secret)
    }

    /// Who the calls act as (for the journal).
    pub async fn principal(&self) -> String {
        match self.source().await {
            Ok(s) => adc::principal(&self.http, &s).await,
            Err(e) => format!("unknown ({e})"),
        }
    }

    async fn who(&self) -> String {
        self.source().await.map(|s| s.describe()).unwrap_or_else(|e| e.to_string())
    }

    /// `method url` with `body` as JSON; the answer's JSON (Null when empty).
    pub async fn call(&self, method: reqwest::Method, url: &str, body: Option<&Value>) -> Result<Value, GcpError> {
        let bytes = self.send(method, url, body, None).await?.1;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| GcpError::Api {
            status: 200,
            code: "MALFORMED".into(),
            message: format!("not JSON: {e}"),
        })
    }

    /// The bytes of `url` from `offset` on (a ranged read); empty when there is nothing past it.
    pub async fn bytes_from(&self, url: &str, offset: u64) -> Result<Vec<u8>, GcpError> {
        match self.send(reqwest::Method::GET, url, None, Some(offset)).await {
            Ok((_, b)) => Ok(b),
            Err(GcpError::Api { status: 416, .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    async fn send(&self, method: reqwest::Method, url: &str, body: Option<&Value>, from: Option<u64>) -> Result<(u16, Vec<u8>), GcpError> {
        let (mut renewed, mut fresh) = (false, false);
        let mut tries = 0;
        loop {
            tries += 1;
            let token = self.bearer(std::mem::take(&mut fresh)).await?;
            let mut request = self.http.request(method.clone(), url).bearer_auth(&token);
            if let Some(b) = body {
                request = request.json(b);
            }
            if let Some(offset) = from {
                request = request.header(reqwest::header::RANGE, format!("bytes={offset}-"));
            }
            let response = request.send().await.map_err(|e| GcpError::Unreachable { url: url.into(), why: plain(&root(&e)) })?;
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            let bytes = response.bytes().await.map_err(|e| GcpError::Unreachable { url: url.into(), why: plain(&root(&e)) })?.to_vec();
            if (200..300).contains(&status) {
                return Ok((status, bytes));
            }
            let detail = serde_json::from_slice::<ErrorBody>(&bytes).map(|b| b.error).unwrap_or_default();
            let message = plain(if detail.message.is_empty() { "no message" } else { &detail.message });
            match status {
                // A token revoked or expired early: one new one, then it is said.
                401 if !renewed => (renewed, fresh) = (true, true),
                401 => return Err(GcpError::Unauthenticated { who: self.who().await, message }),
                403 => return Err(GcpError::PermissionDenied { who: self.who().await, message }),
                429 | 503 if tries <= BACKOFF.len() => {
                    let wait = retry_after.map(Duration::from_secs).unwrap_or(BACKOFF[tries - 1]).min(Duration::from_secs(10));
                    tokio::time::sleep(wait).await;
                }
                429 | 503 => return Err(GcpError::Throttled { status, tries, message }),
                _ => return Err(GcpError::Api { status, code: plain(&detail.status), message }),
            }
        }
    }
}

fn root(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
