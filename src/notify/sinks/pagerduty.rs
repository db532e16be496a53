//! PagerDuty Events API v2: an abort, a Failed verdict or a broken freeze triggers an incident
//! keyed by the rollout, so repeats join it; the rollout fully promoted again resolves it.

use futures::future::BoxFuture;

use super::{SendError, Sink, judge_response};
use crate::metrics::Secret;
use crate::notify::{Message, Notice};

pub struct PagerDuty {
    pub http: reqwest::Client,
    pub routing_key: Secret,
    pub url: String,
}

/// One incident per subject (a rollout, a run): what triggers it and what resolves it share it.
pub fn dedup_key(subject: &str) -> String {
    format!("flightdeck/{subject}")
}

impl Sink for PagerDuty {
    fn send<'a>(&'a self, message: &'a Message, batch: &'a [Notice]) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let routing_key = self.routing_key.reveal("the PagerDuty routing key").map_err(SendError::Permanent)?;
            let first = &batch[0];
            let body = if first.is_all_clear() {
                serde_json::json!({
                    "routing_key": routing_key,
                    "event_action": "resolve",
                    "dedup_key": dedup_key(&message.subject),
                })
            } else {
                let severity = match first.event.as_str() {
                    "rollout.aborted" | "canary.failed" | "audit.failed" => "critical",
                    "freeze.broken" | "notify.failed" => "error",
                    _ => "warning",
                };
                // PagerDuty cuts summaries at 1024 characters.
                let summary: String = message.title.chars().take(1000).collect();
                let mut payload = serde_json::json!({
                    "summary": summary,
                    "source": "flightdeck",
                    "severity": severity,
                    "timestamp": first.at,
                    "component": message.subject,
                    "class": message.event,
                    "custom_details": {"id": message.key, "text": message.text, "actor": first.actor},
                });
                // Optional fields are left out rather than sent empty.
                if let Some(env) = &message.environment {
                    payload["group"] = serde_json::Value::String(env.clone());
                }
                serde_json::json!({
                    "routing_key": routing_key,
                    "event_action": "trigger",
                    "dedup_key": dedup_key(&message.subject),
                    "payload": payload,
                })
            };
            let request = self.http.post(&self.url).json(&body);
            judge_response("PagerDuty", request.send().await).await.map(|_| ())
        })
    }
}
