//! Trivy native JSON (SchemaVersion 2): vulnerabilities, failed misconfigurations and secrets, per
//! target. A secret's matched text is never copied out of the report.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::severity::{from_label, judged};
use super::{Finding, FindingKind, ParsedReport, json_problem};
use crate::findings::detect::Format;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Report {
    schema_version: Option<u64>,
    artifact_name: Option<String>,
    results: Option<Vec<TResult>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TResult {
    #[serde(default)]
    target: String,
    vulnerabilities: Option<Vec<Vuln>>,
    misconfigurations: Option<Vec<Misconf>>,
    secrets: Option<Vec<Secret>>,
    licenses: Option<Vec<Licence>>,
}

/// A licence Trivy classified (`--scanners license`): its name, Google's licence category
/// (forbidden, restricted, reciprocal, notice, permissive, unencumbered, unknown) and the
/// severity Trivy gives that category.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Licence {
    #[serde(default)]
    name: String,
    #[serde(default)]
    severity: String,
    category: Option<String>,
    pkg_name: Option<String>,
    file_path: Option<String>,
    confidence: Option<f64>,
    link: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Vuln {
    #[serde(rename = "VulnerabilityID", default)]
    vulnerability_id: String,
    #[serde(default)]
    pkg_name: String,
    #[serde(default)]
    installed_version: String,
    fixed_version: Option<String>,
    status: Option<String>,
    #[serde(default)]
    severity: String,
    severity_source: Option<String>,
    title: Option<String>,
    description: Option<String>,
    #[serde(rename = "PrimaryURL")]
    primary_url: Option<String>,
    #[serde(rename = "CVSS")]
    cvss: Option<BTreeMap<String, Cvss>>,
}

#[derive(Deserialize)]
struct Cvss {
    #[serde(rename = "V3Score")]
    v3: Option<f64>,
    #[serde(rename = "V40Score")]
    v40: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Misconf {
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(rename = "AVDID")]
    avd_id: Option<String>,
    title: Option<String>,
    description: Option<String>,
    message: Option<String>,
    resolution: Option<String>,
    #[serde(default)]
    severity: String,
    #[serde(rename = "PrimaryURL")]
    primary_url: Option<String>,
    status: Option<String>,
    cause_metadata: Option<Cause>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Cause {
    start_line: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Secret {
    #[serde(rename = "RuleID", default)]
    rule_id: String,
    category: Option<String>,
    #[serde(default)]
    severity: String,
    title: Option<String>,
    start_line: Option<u64>,
}

pub fn parse(bytes: &[u8], shown_as: &str) -> Result<ParsedReport, String> {
    let report: Report = serde_json::from_slice(bytes).map_err(|e| json_problem(&e, "Trivy report"))?;
    match report.schema_version {
        Some(2) => {}
        Some(v) => return Err(format!("Trivy SchemaVersion {v} is not supported (flightdeck reads 2)")),
        None => return Err("the Trivy report has no SchemaVersion".into()),
    }
    let results = report.results.unwrap_or_default();
    let mut findings = Vec::new();
    let tool = "trivy".to_string();
    for r in &results {
        for v in r.vulnerabilities.iter().flatten() {
            // The score from the source Trivy took the severity from, else NVD, else any; the
            // reason names the source the score really came from.
            let score = v.cvss.as_ref().and_then(|c| {
                let pick = |k: &str| c.get(k).and_then(|s| s.v40.or(s.v3)).map(|score| (score, k.to_string()));
                v.severity_source
                    .as_deref()
                    .and_then(pick)
                    .or_else(|| pick("nvd"))
                    .or_else(|| c.iter().find_map(|(k, s)| s.v40.or(s.v3).map(|score| (score, k.clone()))))
            });
            // Trivy's label comes from a source too (`SeveritySource`): say which.
            let labeller = match v.severity_source.as_deref() {
                Some(src) => format!("Trivy ({src})"),
                None => "Trivy".to_string(),
            };
            let (severity, reason) = judged(&labeller, &v.severity, score.as_ref().map(|(s, k)| (*s, k.as_str())));
            let status = Status::of(v.status.as_deref());
            let mut fixed = v.fixed_version.clone().filter(|f| !f.trim().is_empty());
            if fixed.is_none() && status == Status::Fixed {
                fixed = Some("a fixed version exists".into());
            }
            let mut description = v.description.clone().unwrap_or_default();
            if let Some(meaning) = status.meaning() {
                description = format!("Trivy status {}: {meaning}\n\n{description}", v.status.as_deref().unwrap_or_default());
            }
            findings.push(Finding {
                id: v.vulnerability_id.clone(),
                tools: vec![tool.clone()],
                kind: FindingKind::Vulnerability,
                severity,
                raw_severity: v.severity.clone(),
                severity_reason: reason,
                title: v.title.clone().unwrap_or_else(|| v.vulnerability_id.clone()),
                description,
                location: format!("{}@{} in {}", v.pkg_name, v.installed_version, r.target),
                package: Some(v.pkg_name.clone()),
                installed: Some(v.installed_version.clone()),
                fixed,
                target: Some(r.target.clone()),
                url: v.primary_url.clone(),
                // Only the vendor's or a VEX statement that the package is not affected exempts it.
                suppressed: (status == Status::NotAffected).then(|| "Trivy status not_affected (vendor or VEX: not affected)".to_string()),
                reports: vec![shown_as.to_string()],
            });
        }
        for m in r.misconfigurations.iter().flatten().filter(|m| m.status.as_deref().is_none_or(|s| s == "FAIL")) {
            let (severity, reason) = from_label("Trivy", &m.severity);
            let line = m.cause_metadata.as_ref().and_then(|c| c.start_line).map(|l| format!(":{l}")).unwrap_or_default();
            let mut description = m.message.clone().or_else(|| m.description.clone()).unwrap_or_default();
            if let Some(res) = &m.resolution {
                description.push_str(&format!("\n\nresolution: {res}"));
            }
            findings.push(Finding {
                id: m.avd_id.clone().unwrap_or_else(|| m.id.clone()),
                tools: vec![tool.clone()],
                kind: FindingKind::Misconfiguration,
                severity,
                raw_severity: m.severity.clone(),
                severity_reason: reason,
                title: m.title.clone().unwrap_or_else(|| m.id.clone()),
                description,
                location: format!("{}{line}", r.target),
                package: None,
                installed: None,
                fixed: None,
                target: Some(r.target.clone()),
                url: m.primary_url.clone(),
                suppressed: None,
                reports: vec![shown_as.to_string()],
            });
        }
        for s in r.secrets.iter().flatten() {
            let (severity, reason) = from_label("Trivy", &s.severity);
            let line = s.start_line.map(|l| format!(":{l}")).unwrap_or_default();
            findings.push(Finding {
                id: s.rule_id.clone(),
                tools: vec![tool.clone()],
                kind: FindingKind::Secret,
                severity,
                raw_severity: s.severity.clone(),
                severity_reason: reason,
                title: s.title.clone().unwrap_or_else(|| format!("{} secret", s.category.as_deref().unwrap_or("a"))),
                description: "A secret was found; its value is not shown. Rotate it and remove it from the source.".into(),
                location: format!("{}{line}", r.target),
                package: None,
                installed: None,
                fixed: None,
                target: Some(r.target.clone()),
                url: None,
                suppressed: None,
                reports: vec![shown_as.to_string()],
            });
        }
        for l in r.licenses.iter().flatten() {
            let (severity, reason) = from_label("Trivy", &l.severity);
            let category = l.category.clone().unwrap_or_else(|| "unknown".into());
            let owner = l.pkg_name.clone().filter(|p| !p.is_empty()).or_else(|| l.file_path.clone().filter(|f| !f.is_empty()));
            let confidence = l.confidence.filter(|c| *c < 1.0).map(|c| format!(" (detected with confidence {c:.2})")).unwrap_or_default();
            findings.push(Finding {
                id: l.name.clone(),
                tools: vec![tool.clone()],
                kind: FindingKind::Licence,
                severity,
                raw_severity: l.severity.clone(),
                severity_reason: reason,
                title: format!("licence {} ({category})", l.name),
                description: format!("Trivy classifies {} as {category}{confidence}.", l.name),
                location: format!("{} in {}", owner.as_deref().unwrap_or("?"), r.target),
                package: l.pkg_name.clone().filter(|p| !p.is_empty()),
                installed: None,
                fixed: None,
                target: Some(r.target.clone()),
                url: l.link.clone().filter(|u| !u.is_empty()),
                suppressed: None,
                reports: vec![shown_as.to_string()],
            });
        }
    }
    let tool = match &report.artifact_name {
        Some(a) => format!("trivy ({a})"),
        None => "trivy".into(),
    };
    Ok(ParsedReport { tool, findings, ..ParsedReport::empty(shown_as, Format::Trivy) })
}

/// Trivy's vulnerability statuses, with their documented meaning. Only `not_affected` exempts a
/// finding; `fixed` means a fix exists and the installed version is still vulnerable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Unknown,
    NotAffected,
    Affected,
    Fixed,
    UnderInvestigation,
    WillNotFix,
    FixDeferred,
    EndOfLife,
}

impl Status {
    fn of(s: Option<&str>) -> Status {
        match s.map(str::to_ascii_lowercase).as_deref() {
            Some("not_affected") => Status::NotAffected,
            Some("affected") => Status::Affected,
            Some("fixed") => Status::Fixed,
            Some("under_investigation") => Status::UnderInvestigation,
            Some("will_not_fix") => Status::WillNotFix,
            Some("fix_deferred") => Status::FixDeferred,
            Some("end_of_life") => Status::EndOfLife,
            _ => Status::Unknown,
        }
    }

    fn meaning(self) -> Option<&'static str> {
        Some(match self {
            Status::Unknown => return None,
            Status::NotAffected => "the vendor or a VEX statement says this package is not affected",
            Status::Affected => "affected, and no fix is available yet",
            Status::Fixed => "a fix exists; the installed version is still vulnerable",
            Status::UnderInvestigation => "the vendor is still investigating whether it is affected",
            Status::WillNotFix => "affected, and the vendor will not fix it",
            Status::FixDeferred => "affected, and the vendor has deferred the fix",
            Status::EndOfLife => "affected, and the package or distribution is end of life: no fix will come",
        })
    }
}
