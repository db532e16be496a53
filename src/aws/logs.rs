//! CloudWatch Logs read forward: a stream's events after a token, and the token to go on from.
//! At the end of what is written, CloudWatch Logs answers no events and the same token again,
//! which is how a reader knows it has caught up.

use serde_json::json;

use super::json_rpc::{AwsError, LOGS, Session};

#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    events: Vec<Event>,
    next_forward_token: Option<String>,
}

#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Event {
    #[serde(default)]
    pub timestamp: Option<i64>,
    #[serde(default)]
    pub message: String,
}

/// The events of `group`/`stream` after `token` (from the start without one), and the token to
/// go on from. A stream that does not exist yet has no events.
pub async fn forward(
    session: &Session,
    group: &str,
    stream: &str,
    token: Option<String>,
) -> Result<(Vec<Event>, Option<String>), AwsError> {
    let mut input = json!({"logGroupName": group, "logStreamName": stream, "startFromHead": true});
    if let Some(t) = &token {
        input["nextToken"] = json!(t);
    }
    let got = match session.call(&LOGS, "GetLogEvents", &input).await {
        Ok(v) => v,
        Err(AwsError::Service { code, .. }) if code == "ResourceNotFoundException" => return Ok((Vec::new(), token)),
        Err(e) => return Err(e),
    };
    let page: Page = serde_json::from_value(got).map_err(|e| AwsError::Service {
        service: "CloudWatch Logs",
        operation: "GetLogEvents".into(),
        code: "MalformedResponse".into(),
        message: e.to_string(),
        status: 200,
    })?;
    Ok((page.events, page.next_forward_token.or(token)))
}

/// Everything written so far: pages followed until the token stops moving (at most `pages`).
pub async fn all(session: &Session, group: &str, stream: &str, pages: usize) -> Result<Vec<Event>, AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    for _ in 0..pages {
        let (mut events, next) = forward(session, group, stream, token.clone()).await?;
        let done = events.is_empty() || next == token;
        out.append(&mut events);
        token = next;
        if done {
            break;
        }
    }
    Ok(out)
}
