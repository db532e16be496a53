//! Bandit JSON (Python static analysis), with the tool's own severity and its confidence; files it
//! could not scan make the report fail closed.

use serde::Deserialize;

use super::severity::from_label;
use super::{Finding, FindingKind, ParsedReport, json_problem};
use crate::findings::detect::Format;

#[derive(Deserialize)]
struct Report {
    results: Option<Vec<Res>>,
    /// Files Bandit could not scan: the scan is incomplete.
    #[serde(default)]
    errors: Vec<ScanError>,
}

#[derive(Deserialize)]
struct ScanError {
    #[serde(default)]
    filename: String,
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
struct Res {
    #[serde(default)]
    filename: String,
    #[serde(default)]
    test_id: String,
    #[serde(default)]
    test_name: String,
    #[serde(default)]
    issue_severity: String,
    #[serde(default)]
    issue_confidence: String,
    #[serde(default)]
    issue_text: String,
    line_number: Option<u64>,
    more_info: Option<String>,
    issue_cwe: Option<Cwe>,
}

#[derive(Deserialize)]
struct Cwe {
    id: Option<u64>,
}

pub fn parse(bytes: &[u8], shown_as: &str) -> Result<ParsedReport, String> {
    let report: Report = serde_json::from_slice(bytes).map_err(|e| json_problem(&e, "Bandit report"))?;
    let results = report.results.ok_or("the Bandit report has no `results` list")?;
    if let Some(e) = report.errors.first() {
        return Err(format!(
            "Bandit could not scan {} file(s), so the scan is incomplete: {}: {}",
            report.errors.len(),
            super::excerpt(&e.filename),
            super::excerpt(&e.reason)
        ));
    }
    let findings = results
        .into_iter()
        .map(|r| {
            // Never below the tool's own severity; its confidence is shown beside it.
            let (severity, mut reason) = from_label("Bandit", &r.issue_severity);
            if !r.issue_confidence.is_empty() {
                reason.push_str(&format!(" (confidence {})", r.issue_confidence));
            }
            let cwe = r.issue_cwe.and_then(|c| c.id).map(|id| format!(" (CWE-{id})")).unwrap_or_default();
            Finding {
                id: r.test_id.clone(),
                tools: vec!["bandit".into()],
                kind: FindingKind::Code,
                severity,
                raw_severity: format!("{} (confidence {})", r.issue_severity, r.issue_confidence),
                severity_reason: reason,
                title: format!("{}: {}{cwe}", r.test_name, r.issue_text),
                description: r.issue_text,
                location: match r.line_number {
                    Some(l) => format!("{}:{l}", r.filename),
                    None => r.filename,
                },
                package: None,
                installed: None,
                fixed: None,
                target: None,
                url: r.more_info,
                suppressed: None,
                reports: vec![shown_as.to_string()],
            }
        })
        .collect();
    Ok(ParsedReport { tool: "bandit".into(), findings, ..ParsedReport::empty(shown_as, Format::Bandit) })
}
