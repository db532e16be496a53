//! One Prometheus-compatible source (Prometheus, Thanos, Mimir, VictoriaMetrics): how to reach it,
//! and errors that say what went wrong in words an on-call engineer can act on. Secrets come from
//! the environment or a file and are never shown.

use std::path::PathBuf;
use std::time::Duration;

use prometheus_http_query::Client;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

use crate::logstore::sanitize::plain;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Secret {
    Env(String),
    File(PathBuf),
}

impl Secret {
    /// The secret's value, for `what` it is (said in the error, never the value).
    pub fn reveal(&self, what: &str) -> Result<String, String> {
        match self {
            Secret::Env(var) => match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
                _ => Err(format!("the environment variable {var} ({what}) is not set")),
            },
            Secret::File(p) => {
                std::fs::read_to_string(p).map(|s| s.trim().to_string()).map_err(|e| format!("cannot read {} ({what}): {e}", p.display()))
            }
        }
    }

    fn read(&self) -> Result<String, QueryError> {
        match self {
            Secret::Env(var) => std::env::var(var)
                .map_err(|_| QueryError::Config(format!("the environment variable {var} (a Prometheus credential) is not set"))),
            Secret::File(p) => std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|e| QueryError::Config(format!("cannot read the Prometheus credential file {}: {e}", p.display()))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    None,
    Bearer(Secret),
    Basic { username: String, password: Secret },
}

impl Auth {
    /// The environment variable holding the credential, when it comes from one.
    pub fn env_var(&self) -> Option<&str> {
        match self {
            Auth::Bearer(Secret::Env(v)) | Auth::Basic { password: Secret::Env(v), .. } => Some(v),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub url: String,
    pub timeout: Duration,
    pub auth: Auth,
    pub headers: Vec<(String, String)>,
    pub ca_file: Option<PathBuf>,
    pub insecure: bool,
    /// Answers larger than this are refused rather than read (a runaway query or a hostile
    /// endpoint must not take the cockpit's memory).
    pub max_response_bytes: usize,
}

/// The default cap on one answer: a range query of a canary analysis is kilobytes; 32 MiB holds
/// thousands of series over the longest chart window.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 << 20;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("cannot reach Prometheus at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("Prometheus at {url} did not answer within {secs}s")]
    Timeout { url: String, secs: u64 },
    #[error("Prometheus gave up evaluating the query (its own query timeout): {message}")]
    ServerTimeout { message: String },
    #[error("Prometheus at {url} answered with more than {} MiB; refused (max_response_bytes)", limit >> 20)]
    TooLarge { url: String, limit: usize },
    #[error("Prometheus answered HTTP {status}: {message}")]
    Server { status: u16, message: String },
    #[error("Prometheus refused the credentials (HTTP {status}); check the token or password configured for it")]
    Auth { status: u16 },
    #[error("Prometheus answered HTTP {status}")]
    Http { status: u16 },
    #[error("Prometheus rejected the query: {message} — query: {query}")]
    BadQuery { query: String, message: String },
    #[error("Prometheus answered with something that is not a Prometheus API response: {detail}")]
    Garbage { detail: String },
    #[error("{0}")]
    Config(String),
    #[error("Prometheus: {0}")]
    Other(String),
    #[error("CloudWatch: {0}")]
    CloudWatch(String),
}

impl QueryError {
    /// Worth asking again within the same deadline: the server or the way to it may be back in
    /// a moment. A refused credential, a bad query or an oversized answer will not change.
    pub fn is_transient(&self) -> bool {
        match self {
            QueryError::Unreachable { .. } | QueryError::ServerTimeout { .. } => true,
            QueryError::Http { status } | QueryError::Server { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }
}

impl Source {
    /// Builds the Prometheus client over `http()`.
    pub fn client(&self) -> Result<Client, QueryError> {
        let http = self.http()?;
        Client::from(http, &self.url).map_err(|e| QueryError::Config(format!("`{}` is not a usable Prometheus URL: {e}", self.url)))
    }

    /// Builds the HTTP client (timeouts, auth, extra headers, TLS settings).
    pub fn http(&self) -> Result<reqwest::Client, QueryError> {
        let mut headers = HeaderMap::new();
        match &self.auth {
            Auth::None => {}
            Auth::Bearer(s) => {
                let mut v = HeaderValue::from_str(&format!("Bearer {}", s.read()?))
                    .map_err(|_| QueryError::Config("the bearer token contains characters a header cannot carry".into()))?;
                v.set_sensitive(true);
                headers.insert(AUTHORIZATION, v);
            }
            Auth::Basic { username, password } => {
                use base64_lite::encode;
                let mut v = HeaderValue::from_str(&format!("Basic {}", encode(format!("{username}:{}", password.read()?).as_bytes())))
                    .map_err(|_| QueryError::Config("the basic-auth credentials contain characters a header cannot carry".into()))?;
                v.set_sensitive(true);
                headers.insert(AUTHORIZATION, v);
            }
        }
        for (k, v) in &self.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| QueryError::Config(format!("`{k}` is not a valid header name")))?;
            let value = HeaderValue::from_str(v).map_err(|_| QueryError::Config(format!("the value of header `{k}` is not valid")))?;
            headers.insert(name, value);
        }
        let mut builder = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(5)))
            .default_headers(headers);
        if let Some(ca) = &self.ca_file {
            let pem = std::fs::read(ca).map_err(|e| QueryError::Config(format!("cannot read the CA file {}: {e}", ca.display())))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| QueryError::Config(format!("{} is not a PEM certificate: {e}", ca.display())))?;
            builder = builder.add_root_certificate(cert);
        }
        if self.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        builder.build().map_err(|e| QueryError::Config(format!("cannot set up the HTTP client: {e}")))
    }

    /// Turns a client error into one that says what happened.
    pub fn explain(&self, e: prometheus_http_query::Error, query: &str) -> QueryError {
        use prometheus_http_query::Error as E;
        match e {
            E::Prometheus(p) if p.is_bad_data() => QueryError::BadQuery { query: query.into(), message: plain(p.message()) },
            E::Prometheus(p) if p.is_timeout() => QueryError::Timeout { url: self.url.clone(), secs: self.timeout.as_secs() },
            E::Prometheus(p) => QueryError::Other(plain(p.message())),
            E::Client(c) => match c.inner() {
                Some(r) => self.explain_http(r),
                None => QueryError::Garbage { detail: plain(&c.to_string()) },
            },
            other => QueryError::Other(other.to_string()),
        }
    }
}

impl Source {
    /// Turns an HTTP client error into one that says what happened.
    pub fn explain_http(&self, r: &reqwest::Error) -> QueryError {
        match r.status() {
            Some(s) if s.as_u16() == 401 || s.as_u16() == 403 => QueryError::Auth { status: s.as_u16() },
            Some(s) => QueryError::Http { status: s.as_u16() },
            None if r.is_timeout() => QueryError::Timeout { url: self.url.clone(), secs: self.timeout.as_secs() },
            None if r.is_connect() => QueryError::Unreachable { url: self.url.clone(), detail: root_cause(r) },
            None if r.is_decode() || r.is_body() => QueryError::Garbage { detail: root_cause(r) },
            None => QueryError::Unreachable { url: self.url.clone(), detail: root_cause(r) },
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    plain(&cur.to_string())
}

/// Base64 for the basic-auth header (tiny, to avoid a dependency for eight lines).
mod base64_lite {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    pub fn encode(input: &[u8]) -> String {
        let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
        for chunk in input.chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[cfg(test)]
    #[test]
    fn known_values() {
        assert_eq!(encode(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(encode(b"a"), "YQ==");
        assert_eq!(encode(b"ab"), "YWI=");
    }
}
