//! AWS SNS: `Publish` to a topic, signed with SigV4. The idempotency key travels as a message
//! attribute, and as the deduplication id on a FIFO topic (where SNS itself drops repeats).

use futures::future::BoxFuture;

use super::{SendError, Sink};
use crate::notify::{Message, Notice};

pub struct Sns {
    pub http: reqwest::Client,
    pub topic_arn: String,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub profile: Option<String>,
}

impl Sns {
    /// The configured region, else the environment's, else the topic's own.
    fn region(&self) -> String {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        self.region
            .clone()
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| self.topic_arn.split(':').nth(3).unwrap_or("us-east-1").to_string())
    }

    fn endpoint(&self, region: &str) -> String {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        self.endpoint_url
            .clone()
            .or_else(|| env("AWS_ENDPOINT_URL_SNS"))
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| format!("https://sns.{region}.amazonaws.com"))
            .trim_end_matches('/')
            .to_string()
    }
}

/// An SNS subject: at most 100 printable ASCII characters on one line.
fn subject(title: &str) -> String {
    let s: String = title.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).take(100).collect();
    if s.trim().is_empty() { "flightdeck".into() } else { s }
}

impl Sink for Sns {
    fn send<'a>(&'a self, message: &'a Message, _batch: &'a [Notice]) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let region = self.region();
            let creds = crate::aws::credentials(&self.http, self.profile.as_deref(), &region).await.map_err(SendError::Permanent)?;
            let endpoint = self.endpoint(&region);
            let url = reqwest::Url::parse(&format!("{endpoint}/"))
                .map_err(|e| SendError::Permanent(format!("the SNS endpoint `{endpoint}`: {e}")))?;
            let Some(host) = crate::aws::host_header(&url) else {
                return Err(SendError::Permanent(format!("the SNS endpoint `{endpoint}` has no host")));
            };
            let body = {
                let mut form = form_urlencoded::Serializer::new(String::new());
                form.append_pair("Action", "Publish")
                    .append_pair("Version", "2010-03-31")
                    .append_pair("TopicArn", &self.topic_arn)
                    .append_pair("Subject", &subject(&message.title))
                    .append_pair("Message", &message.text)
                    .append_pair("MessageAttributes.entry.1.Name", "flightdeck_id")
                    .append_pair("MessageAttributes.entry.1.Value.DataType", "String")
                    .append_pair("MessageAttributes.entry.1.Value.StringValue", &message.key)
                    .append_pair("MessageAttributes.entry.2.Name", "flightdeck_event")
                    .append_pair("MessageAttributes.entry.2.Value.DataType", "String")
                    .append_pair("MessageAttributes.entry.2.Value.StringValue", &message.event);
                if self.topic_arn.ends_with(".fifo") {
                    form.append_pair("MessageGroupId", &message.subject).append_pair("MessageDeduplicationId", &message.key);
                }
                form.finish().into_bytes()
            };
            let content_type = "application/x-www-form-urlencoded; charset=utf-8";
            let post = crate::aws::sigv4::Post { region: &region, service: "sns", host: &host, content_type, extra: &[], body: &body };
            let signed = crate::aws::sigv4::sign_post(&creds, &post, jiff::Timestamp::now());
            let mut request = self.http.post(url).header("content-type", content_type).body(body);
            for (k, v) in signed {
                request = request.header(k, v);
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) if e.is_timeout() => return Err(SendError::retry("SNS did not answer in time")),
                Err(e) => {
                    return Err(SendError::retry(format!(
                        "cannot reach SNS at {endpoint}: {}",
                        crate::logstore::sanitize::plain(&e.to_string())
                    )));
                }
            };
            let status = response.status();
            let text = super::read_bounded(response).await;
            if status.is_success() {
                return Ok(());
            }
            let tag = |t: &str| crate::aws::xml_tag(&text, t).unwrap_or("").to_string();
            let (code, said) = (tag("Code"), crate::logstore::sanitize::excerpt(&crate::logstore::sanitize::plain(&tag("Message")), 300));
            let why = format!("SNS answered {status}: {code} {said}");
            if status.is_server_error() || status.as_u16() == 429 || code.contains("Throttl") || code == "RequestExpired" {
                Err(SendError::retry(why))
            } else {
                Err(SendError::Permanent(why))
            }
        })
    }
}
