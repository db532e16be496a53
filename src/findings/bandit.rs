//! Bandit JSON (Python static analysis). Low-confidence results are demoted one level, and the
//! reason says so.

use serde::Deserialize;

use super::severity::from_label;
use super::{Finding, FindingKind, ParsedReport, Severity, json_problem};
use crate::findings::detect::Format;

#[derive(Deserialize)]
struct Report {
    results: Option<Vec<Res>>,
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
    let findings = results
        .into_iter()
        .map(|r| {
            let (mut severity, mut reason) = from_label("Bandit", &r.issue_severity);
            if r.issue_confidence.eq_ignore_ascii_case("low") && severity > Severity::Info {
                severity = match severity {
                    Severity::Critical => Severity::High,
                    Severity::High => Severity::Medium,
                    Severity::Medium => Severity::Low,
                    _ => Severity::Info,
                };
                reason.push_str(", demoted one level for LOW confidence");
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
    Ok(ParsedReport { path: shown_as.into(), format: Format::Bandit, tool: "bandit".into(), findings, sbom: None })
}
