//! SonarQube's quality gate for the analysed revision. The scanner leaves `report-task.txt`
//! (`serverUrl`, `projectKey`, `ceTaskId`, `dashboardUrl`) among a stage's reports; the server's
//! Web API then says how the analysis went (`api/ce/task`) and what the quality gate made of it
//! (`api/qualitygates/project_status?analysisId=`). The token comes from `SONAR_TOKEN` and is
//! never shown. A gate that could not be asked is not a passed one: the rule fails closed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ParsedReport;
use crate::findings::detect::Format;
use crate::logstore::sanitize::excerpt;

/// The quality gate of one analysis, as the server judged it (or why it could not be read).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityGate {
    pub server_url: String,
    pub project_key: String,
    pub ce_task_id: String,
    #[serde(default)]
    pub dashboard_url: Option<String>,
    #[serde(default)]
    pub analysis_id: Option<String>,
    /// `OK`, `ERROR` (`WARN` on old servers, `NONE` without a gate); empty until read.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Why the status could not be read (server unreachable, task failed, no token…).
    #[serde(default)]
    pub problem: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Condition {
    pub status: String,
    pub metric_key: String,
    pub comparator: String,
    pub error_threshold: Option<String>,
    pub actual_value: Option<String>,
}

impl QualityGate {
    pub fn passed(&self) -> bool {
        self.problem.is_none() && self.status == "OK"
    }

    /// One line: the status and the conditions that failed.
    pub fn text(&self) -> String {
        if let Some(p) = &self.problem {
            return format!("{}: not known — {p}", self.project_key);
        }
        let failed: Vec<String> = self
            .conditions
            .iter()
            .filter(|c| c.status == "ERROR" || c.status == "WARN")
            .map(|c| {
                let op = if c.comparator == "LT" { "<" } else { ">" };
                format!(
                    "{} {} ({op} {} allowed)",
                    c.metric_key,
                    c.actual_value.as_deref().unwrap_or("?"),
                    c.error_threshold.as_deref().unwrap_or("?")
                )
            })
            .collect();
        let conditions = if failed.is_empty() { String::new() } else { format!(": {}", failed.join(", ")) };
        format!("{} quality gate {}{conditions}", self.project_key, self.status)
    }
}

/// `report-task.txt`: `key=value` lines. The gate itself is read from the server afterwards.
pub fn parse_task(bytes: &[u8], shown_as: &str) -> Result<ParsedReport, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("report-task.txt is not UTF-8: {e}"))?;
    let value = |key: &str| {
        text.lines().find_map(|l| l.trim().strip_prefix(key).and_then(|rest| rest.strip_prefix('='))).map(|v| v.trim().to_string())
    };
    let need = |key: &str| value(key).filter(|v| !v.is_empty()).ok_or_else(|| format!("report-task.txt has no `{key}`"));
    let server_url = need("serverUrl")?;
    if !(server_url.starts_with("http://") || server_url.starts_with("https://")) {
        return Err(format!("serverUrl {} is not an http(s) address", excerpt(&server_url, 80)));
    }
    let gate = QualityGate {
        server_url: server_url.trim_end_matches('/').to_string(),
        project_key: excerpt(&need("projectKey")?, 200),
        ce_task_id: need("ceTaskId")?,
        dashboard_url: value("dashboardUrl"),
        problem: Some("the server has not been asked yet".into()),
        ..QualityGate::default()
    };
    // Only letters, digits, `-` and `_` in the task id: it goes into a URL.
    if !gate.ce_task_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!("ceTaskId {} is not a task id", excerpt(&gate.ce_task_id, 80)));
    }
    Ok(ParsedReport { tool: "sonarqube".into(), quality: Some(gate), ..ParsedReport::empty(shown_as, Format::SonarTask) })
}

/// How long the server's analysis may take before the gate is read as unknown.
pub const ANALYSIS_WAIT: Duration = Duration::from_secs(300);

/// Asks the servers of every SonarQube analysis among `reports`, with the token in `SONAR_TOKEN`.
pub async fn resolve_all(reports: &mut [ParsedReport], wait: Duration) {
    let token = std::env::var("SONAR_TOKEN").ok().filter(|t| !t.is_empty());
    for gate in reports.iter_mut().filter_map(|r| r.quality.as_mut()) {
        resolve(gate, token.as_deref(), wait, Duration::from_secs(2)).await;
    }
}

/// Asks the server: waits (polling) for the analysis task to finish, then reads the gate of that
/// analysis. Whatever goes wrong is kept in `problem`, in words an engineer can act on.
pub async fn resolve(gate: &mut QualityGate, token: Option<&str>, wait: Duration, poll: Duration) {
    match ask(gate, token, wait, poll).await {
        Ok(()) => gate.problem = None,
        Err(e) => gate.problem = Some(excerpt(&crate::logstore::sanitize::redact_credentials(&e), 300)),
    }
}

async fn ask(gate: &mut QualityGate, token: Option<&str>, wait: Duration, poll: Duration) -> Result<(), String> {
    let client = reqwest::Client::builder()
        // A server that hangs must not hold the stage longer than the analysis may take.
        .timeout(wait.clamp(Duration::from_secs(1), Duration::from_secs(20)))
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let server = gate.server_url.clone();
    let get = |path: String| {
        let mut req = client.get(format!("{server}{path}"));
        let server = &server;
        // A token is the user name with an empty password (every SonarQube version takes that).
        if let Some(t) = token {
            req = req.basic_auth(t, Some(""));
        }
        async move {
            let resp = req.send().await.map_err(|e| format!("SonarQube at {server} did not answer: {e}"))?;
            let status = resp.status();
            let body = resp.text().await.map_err(|e| format!("SonarQube's answer was cut off: {e}"))?;
            match status.as_u16() {
                200 => serde_json::from_str::<serde_json::Value>(&body).map_err(|e| format!("SonarQube's answer is not JSON: {e}")),
                401 => Err(format!("SonarQube refused the token (401){}", if token.is_none() { "; set SONAR_TOKEN" } else { "" })),
                403 => Err("the token may not browse this project (403)".into()),
                code => Err(format!("SonarQube answered {code}: {}", excerpt(&errors_of(&body), 200))),
            }
        }
    };
    let deadline = tokio::time::Instant::now() + wait;
    let task = loop {
        let v = get(format!("/api/ce/task?id={}", gate.ce_task_id)).await?;
        let task = v.get("task").cloned().ok_or("SonarQube's task answer has no `task`")?;
        match task["status"].as_str().unwrap_or_default() {
            "SUCCESS" => break task,
            s @ ("FAILED" | "CANCELED") => {
                let why = task["errorMessage"].as_str().map(|m| format!(": {}", excerpt(m, 200))).unwrap_or_default();
                return Err(format!("the analysis task {s}{why}"));
            }
            _ if tokio::time::Instant::now() >= deadline => {
                return Err(format!("the analysis was still {} after {} s", task["status"].as_str().unwrap_or("pending"), wait.as_secs()));
            }
            _ => tokio::time::sleep(poll).await,
        }
    };
    let analysis = task["analysisId"].as_str().ok_or("the finished task names no analysis")?.to_string();
    if !analysis.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!("analysis id {} is not an id", excerpt(&analysis, 80)));
    }
    let v = get(format!("/api/qualitygates/project_status?analysisId={analysis}")).await?;
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Status {
        status: String,
        #[serde(default)]
        conditions: Vec<Condition>,
    }
    let s: Status =
        serde_json::from_value(v["projectStatus"].clone()).map_err(|e| format!("SonarQube's gate answer is not as documented: {e}"))?;
    gate.analysis_id = Some(analysis);
    gate.status = excerpt(&s.status, 20);
    gate.conditions = s
        .conditions
        .into_iter()
        .map(|c| Condition {
            status: excerpt(&c.status, 20),
            metric_key: excerpt(&c.metric_key, 80),
            comparator: excerpt(&c.comparator, 8),
            error_threshold: c.error_threshold.map(|t| excerpt(&t, 40)),
            actual_value: c.actual_value.map(|t| excerpt(&t, 40)),
        })
        .collect();
    Ok(())
}

/// SonarQube's error body: `{"errors":[{"msg":…}]}`.
fn errors_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["errors"].as_array().map(|e| e.iter().filter_map(|m| m["msg"].as_str()).collect::<Vec<_>>().join("; ")))
        .unwrap_or_else(|| body.to_string())
}
