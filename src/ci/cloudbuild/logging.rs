//! A build's log from Cloud Logging, for builds whose logs go there only
//! (`options.logging: CLOUD_LOGGING_ONLY`, or no logs bucket): the `cloudbuild` log's entries for
//! the build, oldest first, read on from the last entry read; each line given to the step its
//! `build_step` label names, as the log object's prefixes do.

use serde::Deserialize;
use serde_json::json;

use super::{Build, CloudBuildProvider, logs};
use crate::ci::CiError;
use crate::logstore::RawLine;

/// Entries per page, and pages per read (a burst beyond this is read on the next poll).
const PAGE: u32 = 1000;
const PAGES: usize = 20;

/// Where a build's entries have been read to: the newest timestamp read, and the entries read at
/// that instant (several can share it; they are not given twice).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cursor {
    pub after: Option<String>,
    pub at_last: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Page {
    entries: Vec<Entry>,
    next_page_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Entry {
    insert_id: String,
    timestamp: String,
    text_payload: Option<String>,
    labels: std::collections::BTreeMap<String, String>,
}

/// Whether the build's log is in Cloud Logging rather than a logs bucket.
pub fn in_cloud_logging(build: &Build) -> bool {
    build.options.as_ref().and_then(|o| o.logging.as_deref()) == Some("CLOUD_LOGGING_ONLY") || build.logs_bucket.is_none()
}

impl CloudBuildProvider {
    /// The build's lines after `cursor`, each with its step, and where they end.
    pub(super) async fn log_entries(&self, build: &Build, cursor: &Cursor) -> Result<(Vec<(Option<usize>, RawLine)>, Cursor), CiError> {
        let settings = &self.inner.settings;
        let mut filter = format!(
            "logName=\"projects/{project}/logs/cloudbuild\" AND resource.type=\"build\" AND resource.labels.build_id=\"{id}\"",
            project = settings.project,
            id = build.id
        );
        if let Some(after) = &cursor.after {
            filter.push_str(&format!(" AND timestamp>=\"{after}\""));
        }
        let mut out = Vec::new();
        let mut next = cursor.clone();
        let mut token: Option<String> = None;
        for _ in 0..PAGES {
            let mut body = json!({
                "resourceNames": [format!("projects/{}", settings.project)],
                "filter": filter,
                "orderBy": "timestamp asc",
                "pageSize": PAGE,
            });
            if let Some(t) = &token {
                body["pageToken"] = json!(t);
            }
            let url = format!("{}/v2/entries:list", settings.logging_endpoint);
            let value = self.inner.session.call(reqwest::Method::POST, &url, Some(&body)).await?;
            let page: Page = serde_json::from_value(value).map_err(|e| CiError::Other(format!("Cloud Logging answered: {e}")))?;
            for e in page.entries {
                if cursor.after.as_deref() == Some(e.timestamp.as_str()) && cursor.at_last.contains(&e.insert_id) {
                    continue;
                }
                if next.after.as_deref() != Some(e.timestamp.as_str()) {
                    next = Cursor { after: Some(e.timestamp.clone()), at_last: Vec::new() };
                }
                next.at_last.push(e.insert_id.clone());
                out.push(line_of(&e));
            }
            token = page.next_page_token.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        Ok((out, next))
    }
}

/// One entry as a line of its step: its text, prefixed as the log object would prefix it.
fn line_of(e: &Entry) -> (Option<usize>, RawLine) {
    let text = e.text_payload.as_deref().unwrap_or_default().trim_end_matches(['\n', '\r']);
    let step = e.labels.get("build_step").map(String::as_str).filter(|s| s.starts_with("Step #"));
    let prefixed = match step {
        Some(step) if !text.starts_with(step) => format!("{step}: {text}"),
        _ => text.to_string(),
    };
    let ts_ms =
        e.timestamp.parse::<jiff::Timestamp>().map(|t| t.as_millisecond()).unwrap_or_else(|_| jiff::Timestamp::now().as_millisecond());
    let (mut lines, _) = logs::lines(format!("{prefixed}\n").as_bytes(), true);
    match lines.pop() {
        Some((step, line)) => (step, RawLine { ts_ms, ..line }),
        None => (None, RawLine { ts_ms, stream: crate::logstore::Stream::Meta, bytes: Vec::new() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(step: &str, text: &str) -> Entry {
        Entry {
            insert_id: "a".into(),
            timestamp: "2026-11-30T06:00:00.123Z".into(),
            text_payload: Some(text.into()),
            labels: [("build_step".to_string(), step.to_string())].into(),
        }
    }

    #[test]
    fn an_entry_goes_to_the_step_its_label_names() {
        let (step, line) = line_of(&entry("Step #1 - \"scan\"", "Total: 3 (HIGH: 1)"));
        assert_eq!((step, String::from_utf8_lossy(&line.bytes).as_ref()), (Some(1), "Total: 3 (HIGH: 1)"));
        assert_eq!(line.ts_ms, "2026-11-30T06:00:00.123Z".parse::<jiff::Timestamp>().unwrap().as_millisecond());
        let (step, line) = line_of(&entry("MAIN", "FETCHSOURCE"));
        assert_eq!((step, String::from_utf8_lossy(&line.bytes).as_ref()), (None, "FETCHSOURCE"));
        // Already prefixed (as some entries are): not prefixed twice.
        let (step, line) = line_of(&entry("Step #0", "Step #0: ok"));
        assert_eq!((step, String::from_utf8_lossy(&line.bytes).as_ref()), (Some(0), "ok"));
    }
}
