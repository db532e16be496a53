//! The places notifications go, one file each, behind one trait.

mod email;
mod pagerduty;
mod slack;
mod sns;
mod webhook;

use std::time::Duration;

use futures::future::BoxFuture;

use super::{Message, Notice};
use crate::config::{SinkKind, SinkSettings};

/// Why a delivery did not happen, and whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The receiver is down, slow, busy or rate-limiting: try again (not before `after`, when it
    /// said so).
    #[error("{why}")]
    Retry { why: String, after: Option<Duration> },
    /// The receiver refused it for good (a wrong key, a malformed address): trying again cannot help.
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    pub fn retry(why: impl Into<String>) -> SendError {
        SendError::Retry { why: why.into(), after: None }
    }
}

pub trait Sink: Send + Sync {
    /// Sends one message (one notice, or a group of them: `batch`).
    fn send<'a>(&'a self, message: &'a Message, batch: &'a [Notice]) -> BoxFuture<'a, Result<(), SendError>>;
}

/// The sink a configuration describes.
pub fn build(settings: &SinkSettings, threads: std::path::PathBuf) -> Result<Box<dyn Sink>, String> {
    let http = reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
        // A redirect would carry the payload (and its credentials) somewhere not configured.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("flightdeck/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot set up HTTP for notifications: {e}"))?;
    Ok(match &settings.kind {
        SinkKind::Webhook { url, secret } => Box::new(webhook::Webhook { http, url: url.clone(), secret: secret.clone() }),
        SinkKind::Slack { webhook, token, channel, api_url } => Box::new(slack::Slack {
            http,
            webhook: webhook.clone(),
            token: token.clone(),
            channel: channel.clone(),
            api_url: api_url.clone(),
            sink: settings.name.clone(),
            threads,
        }),
        SinkKind::PagerDuty { routing_key, events_url } => {
            Box::new(pagerduty::PagerDuty { http, routing_key: routing_key.clone(), url: events_url.clone() })
        }
        SinkKind::Email(e) => Box::new(email::Email { settings: e.clone(), timeout: settings.timeout }),
        SinkKind::Sns { topic_arn, region, endpoint_url, profile } => Box::new(sns::Sns {
            http,
            topic_arn: topic_arn.clone(),
            region: region.clone(),
            endpoint_url: endpoint_url.clone(),
            profile: profile.clone(),
        }),
    })
}

/// What an HTTP answer means for a delivery: 2xx delivered; 429, 408 and 5xx try again (after
/// `Retry-After` when given); any other refusal is for good.
pub(crate) async fn judge_response(what: &str, response: Result<reqwest::Response, reqwest::Error>) -> Result<String, SendError> {
    let response = match response {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Err(SendError::retry(format!("{what} did not answer in time"))),
        Err(e) => return Err(SendError::retry(format!("cannot reach {what}: {}", crate::logstore::sanitize::plain(&without_url(&e))))),
    };
    let status = response.status();
    let after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = read_bounded(response).await;
    let said = crate::logstore::sanitize::excerpt(&crate::logstore::sanitize::plain(&body), 300);
    if status.is_success() {
        return Ok(body);
    }
    let why = format!("{what} answered {status}: {said}");
    if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
        Err(SendError::Retry { why, after })
    } else {
        Err(SendError::Permanent(why))
    }
}

/// An answer's text, at most 64 KiB of it (a hostile or broken receiver cannot fill memory).
pub(crate) async fn read_bounded(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk[..chunk.len().min((64 << 10) - body.len().min(64 << 10))]);
        if body.len() >= 64 << 10 {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// reqwest's error text names the URL, and a Slack webhook's URL is its secret.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "the configured address");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}
