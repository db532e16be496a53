//! Reading Prometheus' answers with a size cap, and retrying what is worth retrying.
//!
//! `prometheus-http-query` builds the requests; its `get()` reads a whole body however large (a
//! 1 GiB answer took 4 GB of memory), so answers are read here from `get_raw()` chunk by chunk and
//! refused past the source's cap, then decoded into the crate's own response types.

use std::time::Duration;

use prometheus_http_query::error::PrometheusError;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::source::{QueryError, Source};
use crate::logstore::sanitize::plain;

/// The API's envelope: `{"status":"success","data":…}` or `{"status":"error","errorType":…}`.
#[derive(Deserialize)]
#[serde(tag = "status")]
enum Envelope<D> {
    #[serde(rename = "success")]
    Success { data: D },
    #[serde(rename = "error")]
    Error(PrometheusError),
}

#[derive(Deserialize)]
struct Alerts {
    alerts: Vec<prometheus_http_query::response::Alert>,
}

/// The alerts Prometheus knows of (`/api/v1/alerts`), read like every other answer.
pub(super) async fn alerts(source: &Source, http: &reqwest::Client) -> Result<Vec<prometheus_http_query::response::Alert>, QueryError> {
    const WHAT: &str = "/api/v1/alerts";
    let url = format!("{}/api/v1/alerts", source.url.trim_end_matches('/'));
    let answer: Alerts = with_retries(source, WHAT, || {
        let request = http.get(&url);
        async move { request.send().await.map_err(|e| source.explain_http(&e)) }
    })
    .await?;
    Ok(answer.alerts)
}

/// How many times a transient failure (connection refused or reset, 502/503/504, a server-side
/// timeout) is tried again within the analysis deadline, and how long to wait before each.
const RETRY_BACKOFF: [Duration; 2] = [Duration::from_millis(200), Duration::from_millis(600)];

/// Sends a request (built anew for each attempt) and decodes the answer, retrying transient
/// failures: one 503 is not a verdict.
pub(super) async fn with_retries<D, F, Fut>(source: &Source, what: &str, mut send: F) -> Result<D, QueryError>
where
    D: DeserializeOwned,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<reqwest::Response, QueryError>>,
{
    let mut attempt = 0;
    loop {
        let result = match send().await {
            Ok(response) => decode(source, response, what).await,
            Err(e) => Err(e),
        };
        match result {
            Err(e) if e.is_transient() && attempt < RETRY_BACKOFF.len() => {
                tokio::time::sleep(RETRY_BACKOFF[attempt]).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Decodes one answer: the HTTP status first (a JSON 401 is still a 401), then the body, read
/// up to the source's cap.
pub(super) async fn decode<D: DeserializeOwned>(source: &Source, response: reqwest::Response, what: &str) -> Result<D, QueryError> {
    let status = response.status().as_u16();
    if status == 401 || status == 403 {
        return Err(QueryError::Auth { status });
    }
    let json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
    let body = read_capped(source, response).await?;
    if !json {
        return Err(if (200..300).contains(&status) {
            QueryError::Garbage { detail: format!("the answer is not JSON ({} bytes)", body.len()) }
        } else {
            QueryError::Http { status }
        });
    }
    match serde_json::from_slice::<Envelope<D>>(&body) {
        Ok(Envelope::Success { data }) => Ok(data),
        Ok(Envelope::Error(e)) if e.is_timeout() => Err(QueryError::ServerTimeout { message: plain(e.message()) }),
        Ok(Envelope::Error(e)) if e.is_bad_data() => Err(QueryError::BadQuery { query: what.into(), message: plain(e.message()) }),
        Ok(Envelope::Error(e)) if (500..600).contains(&status) => {
            Err(QueryError::Server { status, message: plain(&format!("{}: {}", e.error_type(), e.message())) })
        }
        Ok(Envelope::Error(e)) => Err(QueryError::Other(plain(&e.to_string()))),
        Err(_) if !(200..300).contains(&status) => Err(QueryError::Http { status }),
        Err(e) => Err(QueryError::Garbage { detail: plain(&e.to_string()) }),
    }
}

/// The body, refused as soon as it is known to be larger than the cap: by its announced length,
/// or when the bytes read pass it.
async fn read_capped(source: &Source, mut response: reqwest::Response) -> Result<Vec<u8>, QueryError> {
    let cap = source.max_response_bytes;
    let too_large = || QueryError::TooLarge { url: source.url.clone(), limit: cap };
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > cap {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => return Err(QueryError::Timeout { url: source.url.clone(), secs: source.timeout.as_secs() }),
            Err(e) => return Err(QueryError::Garbage { detail: format!("the answer broke off: {}", plain(&e.to_string())) }),
        }
    }
}
