//! Slack: an incoming webhook, or a bot token posting with `chat.postMessage`, which threads
//! every later message about a release under its first one.

use std::collections::BTreeMap;
use std::path::PathBuf;

use futures::future::BoxFuture;

use super::{SendError, Sink, judge_response};
use crate::metrics::Secret;
use crate::notify::{Message, Notice};

pub struct Slack {
    pub http: reqwest::Client,
    pub webhook: Option<Secret>,
    pub token: Option<Secret>,
    pub channel: Option<String>,
    pub api_url: String,
    pub sink: String,
    /// Where the first message of each release is remembered.
    pub threads: PathBuf,
}

/// Slack reads `<…>` as links and mentions (`<!channel>`) and `&` as an entity: text from outside
/// must not page a whole channel or hide a link.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The release a message belongs to: grouped run failures start no thread.
fn thread_of(message: &Message) -> Option<String> {
    // A test message (sent by `notify test`, outside the supervisor) belongs to no release, and
    // must not write the threads the supervisor keeps.
    (message.event != "notify.test" && (message.count == 1 || !message.event.starts_with("run."))).then(|| message.subject.clone())
}

impl Slack {
    fn threads(&self) -> BTreeMap<String, String> {
        std::fs::read(&self.threads).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    fn remember_thread(&self, thread: &str, ts: &str) {
        let mut all = self.threads();
        all.insert(format!("{}|{thread}", self.sink), ts.to_string());
        // Bounded: the oldest releases are forgotten first (a new message then starts a new thread).
        while all.len() > 2000 {
            let Some(oldest) = all.iter().min_by(|a, b| a.1.cmp(b.1)).map(|(k, _)| k.clone()) else { break };
            all.remove(&oldest);
        }
        if let Err(e) = crate::util::replace_file(&self.threads, &serde_json::to_vec(&all).unwrap_or_default()) {
            tracing::warn!("cannot remember the Slack thread of {thread}: {e}");
        }
    }

    async fn post_as_bot(&self, token: &str, channel: &str, message: &Message) -> Result<(), SendError> {
        let thread = thread_of(message);
        let parent = thread.as_ref().and_then(|t| self.threads().get(&format!("{}|{t}", self.sink)).cloned());
        let mut body = serde_json::json!({
            "channel": channel,
            "text": escape(&message.text),
            "unfurl_links": false,
            "unfurl_media": false,
            "metadata": {"event_type": "flightdeck_notice", "event_payload": {"id": message.key, "event": message.event}},
        });
        if let Some(ts) = &parent {
            body["thread_ts"] = serde_json::Value::String(ts.clone());
        }
        let request = self.http.post(format!("{}/chat.postMessage", self.api_url)).bearer_auth(token).json(&body);
        let answer = judge_response("Slack", request.send().await).await?;
        let answer: serde_json::Value =
            serde_json::from_str(&answer).map_err(|_| SendError::retry("Slack answered something that is not JSON"))?;
        if answer["ok"].as_bool() != Some(true) {
            let error = crate::logstore::sanitize::plain(answer["error"].as_str().unwrap_or("no reason given"));
            return Err(match error.as_str() {
                "ratelimited" | "fatal_error" | "internal_error" | "service_unavailable" | "request_timeout" => {
                    SendError::retry(format!("Slack said {error}"))
                }
                _ => SendError::Permanent(format!("Slack refused the message: {error}")),
            });
        }
        if let (Some(thread), None, Some(ts)) = (thread, parent, answer["ts"].as_str()) {
            self.remember_thread(&thread, ts);
        }
        Ok(())
    }
}

impl Sink for Slack {
    fn send<'a>(&'a self, message: &'a Message, _batch: &'a [Notice]) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            match (&self.webhook, &self.token, &self.channel) {
                (Some(webhook), _, _) => {
                    let url = webhook.reveal("the Slack webhook URL").map_err(SendError::Permanent)?;
                    if !(url.starts_with("https://") || url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost")) {
                        return Err(SendError::Permanent("the Slack webhook URL is not an https URL".into()));
                    }
                    let request = self.http.post(&url).json(&serde_json::json!({ "text": escape(&message.text) }));
                    judge_response("the Slack webhook", request.send().await).await.map(|_| ())
                }
                (None, Some(token), Some(channel)) => {
                    let token = token.reveal("the Slack bot token").map_err(SendError::Permanent)?;
                    self.post_as_bot(&token, channel, message).await
                }
                _ => Err(SendError::Permanent("the Slack sink has neither a webhook nor a bot token and channel".into())),
            }
        })
    }
}
