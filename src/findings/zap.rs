//! OWASP ZAP's JSON report (the `traditional-json` and `traditional-json-plus` templates, as the
//! baseline and full scans write them): per site, alerts with a risk (0 informational … 3 high)
//! and a confidence (0 false positive … 4 confirmed by a user). One finding per alert and site,
//! with how many places it was seen; an alert ZAP marks a false positive is kept, exempt.

use serde::Deserialize;

use super::severity::Severity;
use super::{Finding, FindingKind, ParsedReport, json_problem};
use crate::findings::detect::Format;

#[derive(Deserialize)]
struct Report {
    site: Vec<Site>,
}

#[derive(Deserialize)]
struct Site {
    #[serde(rename = "@name", default)]
    name: String,
    #[serde(default)]
    alerts: Vec<Alert>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Alert {
    pluginid: String,
    #[serde(rename = "alertRef")]
    alert_ref: String,
    alert: String,
    name: String,
    riskcode: String,
    confidence: String,
    desc: String,
    solution: String,
    reference: String,
    cweid: String,
    count: String,
    instances: Vec<Instance>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Instance {
    uri: String,
    method: String,
    param: String,
}

/// ZAP's risk codes, as its reports label them.
fn risk(code: &str) -> Result<(Severity, &'static str), String> {
    Ok(match code.trim() {
        "3" => (Severity::High, "High"),
        "2" => (Severity::Medium, "Medium"),
        "1" => (Severity::Low, "Low"),
        "0" => (Severity::Info, "Informational"),
        other => return Err(format!("an alert has risk code {}, which ZAP does not write (0 to 3)", super::excerpt(other))),
    })
}

fn confidence(code: &str) -> &'static str {
    match code.trim() {
        "0" => "False Positive",
        "1" => "Low",
        "2" => "Medium",
        "3" => "High",
        "4" => "Confirmed",
        _ => "unstated",
    }
}

/// ZAP writes descriptions as HTML paragraphs: the text without the tags.
fn text_of(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                if !out.ends_with([' ', '\n']) && !out.is_empty() {
                    out.push(' ');
                }
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

pub fn parse(bytes: &[u8], shown_as: &str) -> Result<ParsedReport, String> {
    let report: Report = serde_json::from_slice(bytes).map_err(|e| json_problem(&e, "ZAP report"))?;
    let mut findings = Vec::new();
    for site in &report.site {
        for a in &site.alerts {
            let (severity, risk_label) = risk(&a.riskcode)?;
            let confidence = confidence(&a.confidence);
            let seen = a.count.trim().parse::<usize>().unwrap_or(a.instances.len()).max(a.instances.len());
            let first = a.instances.first();
            let location = match first {
                Some(i) => {
                    let param = if i.param.is_empty() { String::new() } else { format!(" ({})", i.param) };
                    let more = if seen > 1 { format!(" +{} more", seen - 1) } else { String::new() };
                    format!("{} {}{param}{more}", i.method, i.uri).trim().to_string()
                }
                None => site.name.clone(),
            };
            let id = if a.alert_ref.is_empty() { a.pluginid.clone() } else { a.alert_ref.clone() };
            let cwe = a.cweid.trim();
            let description = [
                text_of(&a.desc),
                format!("Seen {seen} time(s) on {}.", site.name),
                text_of(&a.solution),
                if cwe.is_empty() || cwe == "-1" { String::new() } else { format!("CWE-{cwe}") },
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
            findings.push(Finding {
                id: format!("ZAP-{id}"),
                tools: vec!["zap".into()],
                kind: FindingKind::Dast,
                severity,
                raw_severity: format!("{risk_label} ({confidence})"),
                severity_reason: format!("ZAP risk {risk_label}, confidence {confidence}"),
                title: if a.alert.is_empty() { a.name.clone() } else { a.alert.clone() },
                description: description.chars().take(4000).collect(),
                location,
                package: None,
                installed: None,
                fixed: None,
                target: Some(site.name.clone()),
                url: a.reference.split(['<', '>', ' ', '\n']).find(|r| r.starts_with("http")).map(str::to_string),
                suppressed: (a.confidence.trim() == "0").then(|| "marked a false positive in ZAP".to_string()),
                reports: vec![shown_as.to_string()],
            });
        }
    }
    Ok(ParsedReport { tool: "zap".into(), findings, ..ParsedReport::empty(shown_as, Format::Zap) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_read_as_text() {
        assert_eq!(
            text_of("<p>The site is only served under HTTP.</p><p>Use HTTPS.</p>"),
            "The site is only served under HTTP. Use HTTPS."
        );
    }

    #[test]
    fn an_unknown_risk_is_refused_not_counted_low() {
        let r = br#"{"@programName":"ZAP","site":[{"@name":"x","alerts":[{"riskcode":"9"}]}]}"#;
        assert!(parse(r, "zap.json").is_err());
    }
}
