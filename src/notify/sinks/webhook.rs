//! A generic webhook: the notice as JSON, signed so the receiver can tell it came from us.
//!
//! Headers: `X-Flightdeck-Delivery` (the idempotency key), `X-Flightdeck-Event`,
//! `X-Flightdeck-Timestamp` (Unix seconds) and `X-Flightdeck-Signature: sha256=HEX`, where HEX is
//! HMAC-SHA256 with the shared secret over `TIMESTAMP.BODY`. A receiver recomputes it, compares in
//! constant time, and refuses timestamps more than a few minutes old (replays).

use futures::future::BoxFuture;
use hmac::{KeyInit, Mac};

use super::{SendError, Sink, judge_response};
use crate::metrics::Secret;
use crate::notify::{Message, Notice};

pub struct Webhook {
    pub http: reqwest::Client,
    pub url: String,
    pub secret: Secret,
}

/// `sha256=HEX` over `timestamp.body`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Sink for Webhook {
    fn send<'a>(&'a self, message: &'a Message, batch: &'a [Notice]) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let secret = self.secret.reveal("the webhook's signing secret").map_err(SendError::Permanent)?;
            let body = serde_json::to_vec(&serde_json::json!({
                "id": message.key,
                "event": message.event,
                "environment": message.environment,
                "subject": message.subject,
                "title": message.title,
                "text": message.text,
                "count": message.count,
                "notices": batch,
            }))
            .map_err(|e| SendError::Permanent(e.to_string()))?;
            let timestamp = jiff::Timestamp::now().as_second();
            let request = self
                .http
                .post(&self.url)
                .header("content-type", "application/json")
                .header("x-flightdeck-delivery", &message.key)
                .header("x-flightdeck-event", &message.event)
                .header("x-flightdeck-timestamp", timestamp.to_string())
                .header("x-flightdeck-signature", signature(secret.as_bytes(), timestamp, &body))
                .body(body);
            judge_response("the webhook", request.send().await).await.map(|_| ())
        })
    }
}
