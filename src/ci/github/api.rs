//! GitHub's REST API as flightdeck uses it: conditional requests (a 304 costs no rate limit), the
//! rate-limit budget read from every answer, secondary limits honoured before the next request,
//! and log downloads whose redirect is followed without the token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::logstore::sanitize;

const API_VERSION: &str = "2022-11-28";
/// Longest a request may take before the server is taken to hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most a log or artifact download held in memory may be.
pub const DOWNLOAD_LIMIT: u64 = 512 * 1024 * 1024;
/// The most a job's log spooled to disk may be (it is written as it arrives, never held whole).
pub const SPOOL_LIMIT: u64 = 8 * 1024 * 1024 * 1024;
/// Without a Retry-After, how long a secondary limit is waited out.
const SECONDARY_BACKOFF: Duration = Duration::from_secs(60);

pub use crate::util::Token;

#[derive(Debug, Clone, thiserror::Error)]
pub enum GhError {
    #[error("GitHub refused the token (401): {0}; set GH_TOKEN, or run `gh auth login`")]
    Unauthorized(String),
    #[error("GitHub says the token may not do this (403): {0}")]
    Forbidden(String),
    #[error("not found on GitHub (404): {0}")]
    NotFound(String),
    #[error("GitHub's rate limit is spent; it resets at {0}")]
    RateLimited(String),
    #[error("GitHub refused the request ({0}): {1}")]
    Refused(u16, String),
    #[error("GitHub answered {0}: {1}")]
    Server(u16, String),
    #[error("cannot reach GitHub: {0}")]
    Unreachable(String),
    #[error("GitHub's answer is not understood: {0}")]
    Decode(String),
    #[error("{0}")]
    TooLarge(String),
}

/// The rate-limit budget as the last answer told it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Budget {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// When the budget resets (Unix seconds).
    pub reset: Option<i64>,
    /// Requests sent, and how many of them cost budget (a 304 does not).
    pub sent: u64,
    pub spent: u64,
}

impl Budget {
    /// "budget 312/5000 until 14:05" when it runs low (under a tenth left), else None.
    pub fn low(&self) -> Option<String> {
        let (limit, remaining) = (self.limit?, self.remaining?);
        (remaining * 10 < limit).then(|| {
            let at = self.reset.and_then(|r| jiff::Timestamp::from_second(r).ok()).map(|t| t.strftime("%H:%M UTC").to_string());
            format!("GitHub budget {remaining}/{limit}{}", at.map(|a| format!(" until {a}")).unwrap_or_default())
        })
    }
}

struct Cached {
    etag: String,
    body: bytes::Bytes,
}

pub struct Api {
    http: reqwest::Client,
    /// The client for downloads that were redirected away from the API: no token, ever.
    storage: reqwest::Client,
    base: String,
    token: Option<Token>,
    cache: Mutex<HashMap<String, Cached>>,
    budget: Mutex<Budget>,
    /// Set by a secondary limit or a spent budget: no request leaves before it.
    blocked_until: Mutex<Option<(Instant, String)>>,
}

impl Api {
    pub fn new(base: &str, token: Option<Token>) -> Result<Api, GhError> {
        let build = |redirects: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .user_agent(concat!("flightdeck/", env!("CARGO_PKG_VERSION")))
                .timeout(REQUEST_TIMEOUT)
                .redirect(redirects)
                .build()
                .map_err(|e| GhError::Unreachable(e.to_string()))
        };
        Ok(Api {
            http: build(reqwest::redirect::Policy::none())?,
            storage: build(reqwest::redirect::Policy::limited(5))?,
            base: base.trim_end_matches('/').to_string(),
            token,
            cache: Mutex::new(HashMap::new()),
            budget: Mutex::new(Budget::default()),
            blocked_until: Mutex::new(None),
        })
    }

    pub fn budget(&self) -> Budget {
        self.budget.lock().map(|b| b.clone()).unwrap_or_default()
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", API_VERSION);
        if let Some(t) = &self.token {
            r = r.bearer_auth(t.reveal());
        }
        r
    }

    fn check_blocked(&self) -> Result<(), GhError> {
        let mut blocked = self.blocked_until.lock().map_err(|_| GhError::Decode("lock".into()))?;
        match &*blocked {
            Some((until, why)) if Instant::now() < *until => Err(GhError::RateLimited(why.clone())),
            Some(_) => {
                *blocked = None;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Reads the budget headers, and blocks further requests after a rate-limit answer.
    fn account(&self, resp: &reqwest::Response) {
        let h = resp.headers();
        let num = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i64>().ok());
        if let Ok(mut b) = self.budget.lock() {
            b.sent += 1;
            if resp.status() != StatusCode::NOT_MODIFIED {
                b.spent += 1;
            }
            if let Some(l) = num("x-ratelimit-limit") {
                b.limit = Some(l.max(0) as u64);
            }
            if let Some(r) = num("x-ratelimit-remaining") {
                b.remaining = Some(r.max(0) as u64);
            }
            if let Some(r) = num("x-ratelimit-reset") {
                b.reset = Some(r);
            }
        }
        let status = resp.status();
        if status == StatusCode::FORBIDDEN || status == StatusCode::TOO_MANY_REQUESTS {
            let wait = match (num("retry-after"), num("x-ratelimit-remaining"), num("x-ratelimit-reset")) {
                (Some(secs), _, _) => Some(Duration::from_secs(secs.max(1) as u64)),
                (None, Some(0), Some(reset)) => Some(Duration::from_secs((reset - jiff::Timestamp::now().as_second()).max(1) as u64)),
                (None, _, _) if status == StatusCode::TOO_MANY_REQUESTS => Some(SECONDARY_BACKOFF),
                _ => None,
            };
            if let (Some(wait), Ok(mut blocked)) = (wait, self.blocked_until.lock()) {
                let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(wait.as_secs() as i64);
                *blocked = Some((Instant::now() + wait, at.strftime("%H:%M:%S UTC").to_string()));
            }
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, GhError> {
        self.check_blocked()?;
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                GhError::Unreachable(format!("no answer within {}s", REQUEST_TIMEOUT.as_secs()))
            } else {
                GhError::Unreachable(sanitize::excerpt(&without_url_secrets(&e.to_string()), 300))
            }
        })?;
        self.account(&resp);
        Ok(resp)
    }

    /// GET, conditional on the last answer's ETag: an unchanged resource is answered from memory
    /// (and costs no rate limit).
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, GhError> {
        let etag = self.cache.lock().ok().and_then(|c| c.get(path).map(|c| c.etag.clone()));
        let mut req = self.request(Method::GET, path);
        if let Some(e) = &etag {
            req = req.header(header::IF_NONE_MATCH, e);
        }
        let resp = self.send(req).await?;
        if resp.status() == StatusCode::NOT_MODIFIED {
            let body = self.cache.lock().ok().and_then(|c| c.get(path).map(|c| c.body.clone()));
            if let Some(body) = body {
                return serde_json::from_slice(&body).map_err(|e| GhError::Decode(e.to_string()));
            }
        }
        let new_etag = resp.headers().get(header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = ok_body(resp).await?;
        let value = serde_json::from_slice(&body).map_err(|e| GhError::Decode(format!("{path}: {e}")))?;
        if let (Some(etag), Ok(mut cache)) = (new_etag, self.cache.lock()) {
            cache.insert(path.to_string(), Cached { etag, body });
        }
        Ok(value)
    }

    /// POST (or another method) with a JSON body; the answer's body, possibly empty.
    pub async fn call(&self, method: Method, path: &str, body: Option<&serde_json::Value>) -> Result<bytes::Bytes, GhError> {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req.json(b);
        }
        ok_body(self.send(req).await?).await
    }

    /// Downloads what the API redirects to (a job's log, an artifact's zip): the API is asked with
    /// the token, the storage host without it. At most `limit` bytes.
    pub async fn download(&self, path: &str, limit: u64) -> Result<bytes::Bytes, GhError> {
        let mut out = Vec::new();
        self.download_into(path, limit, &mut |chunk| {
            out.extend_from_slice(chunk);
            Ok(())
        })
        .await?;
        Ok(out.into())
    }

    /// Downloads `path` a chunk at a time into `sink` (which may refuse one), at most `limit` bytes.
    pub async fn download_into(
        &self,
        path: &str,
        limit: u64,
        sink: &mut (dyn FnMut(&[u8]) -> Result<(), GhError> + Send),
    ) -> Result<(), GhError> {
        let resp = self.send(self.request(Method::GET, path)).await?;
        let resp = if resp.status().is_redirection() {
            let location = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| GhError::Decode("a redirect without a Location".into()))?
                .to_string();
            self.storage
                .get(location)
                .send()
                .await
                .map_err(|e| GhError::Unreachable(sanitize::excerpt(&without_url_secrets(&e.to_string()), 300)))?
        } else {
            resp
        };
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(GhError::TooLarge(format!("{path} is larger than {} MiB", limit / (1024 * 1024))));
        }
        let status = resp.status();
        if !status.is_success() {
            return Err(error_of(status, &resp.bytes().await.unwrap_or_default()));
        }
        let mut received = 0u64;
        let mut resp = resp;
        while let Some(chunk) = resp.chunk().await.map_err(|e| GhError::Unreachable(e.to_string()))? {
            received += chunk.len() as u64;
            if received > limit {
                return Err(GhError::TooLarge(format!("{path} is larger than {} MiB", limit / (1024 * 1024))));
            }
            sink(&chunk)?;
        }
        Ok(())
    }
}

async fn ok_body(resp: reqwest::Response) -> Result<bytes::Bytes, GhError> {
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| GhError::Unreachable(e.to_string()))?;
    if status.is_success() { Ok(body) } else { Err(error_of(status, &body)) }
}

/// GitHub's `message` (and its first error), sanitised and cut short.
fn error_of(status: StatusCode, body: &[u8]) -> GhError {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let mut message = v["message"].as_str().map(str::to_string).unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    if let Some(first) = v["errors"].get(0) {
        let detail = first["message"].as_str().map(str::to_string).unwrap_or_else(|| first.to_string());
        message.push_str(&format!(" ({detail})"));
    }
    let message = sanitize::excerpt(&message, 300);
    match status.as_u16() {
        401 => GhError::Unauthorized(message),
        403 if message.to_lowercase().contains("rate limit") => GhError::RateLimited(message),
        403 => GhError::Forbidden(message),
        429 => GhError::RateLimited(message),
        404 => GhError::NotFound(message),
        c @ 400..=499 => GhError::Refused(c, message),
        c => GhError::Server(c, message),
    }
}

/// An error text without the query of any URL in it (signed storage URLs carry credentials there).
fn without_url_secrets(text: &str) -> String {
    text.split_whitespace()
        .map(|w| if w.contains("://") { w.split('?').next().unwrap_or(w).to_string() } else { w.to_string() })
        .collect::<Vec<_>>()
        .join(" ")
}
