//! OWASP Dependency-Check's JSON report (`--format JSON`): per dependency (a file it found), the
//! vulnerabilities matched to it, and those the project's suppression file hides
//! (`suppressedVulnerabilities`, kept exempt). A scan with analysis exceptions (a data source that
//! could not be reached, an analyzer that failed) may have missed vulnerabilities: it is refused,
//! so a gate over it fails closed.

use serde::Deserialize;

use super::severity::judged;
use super::{Finding, FindingKind, ParsedReport, json_problem};
use crate::findings::detect::Format;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    scan_info: ScanInfo,
    dependencies: Vec<Dependency>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ScanInfo {
    engine_version: String,
    analysis_exceptions: Vec<serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Dependency {
    file_name: String,
    file_path: String,
    packages: Vec<Package>,
    vulnerabilities: Vec<Vuln>,
    suppressed_vulnerabilities: Vec<Vuln>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Package {
    id: String,
    url: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Vuln {
    source: String,
    name: String,
    severity: String,
    cvssv2: Option<Score>,
    cvssv3: Option<Score>,
    cvssv4: Option<Score>,
    cwes: Vec<String>,
    description: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Score {
    base_score: Option<f64>,
    score: Option<f64>,
}

/// The first message of an analysis exception (and of its cause), for the refusal.
fn exception_message(e: &serde_json::Value) -> String {
    let message = e["exception"]["message"].as_str().unwrap_or("(no message)");
    let message = message.rsplit(": ").next().unwrap_or(message);
    let cause = e["exception"]["cause"]["message"].as_str().map(|c| format!(" ({})", super::excerpt(c))).unwrap_or_default();
    format!("{}{cause}", super::excerpt(message))
}

pub fn parse(bytes: &[u8], shown_as: &str) -> Result<ParsedReport, String> {
    let report: Report = serde_json::from_slice(bytes).map_err(|e| json_problem(&e, "Dependency-Check report"))?;
    if let Some(first) = report.scan_info.analysis_exceptions.first() {
        return Err(format!(
            "Dependency-Check {} did not complete its analysis ({} exception(s), first: {}); its findings may be incomplete",
            super::excerpt(&report.scan_info.engine_version),
            report.scan_info.analysis_exceptions.len(),
            exception_message(first)
        ));
    }
    let mut findings = Vec::new();
    for d in &report.dependencies {
        for (vulns, suppressed) in [(&d.vulnerabilities, false), (&d.suppressed_vulnerabilities, true)] {
            findings.extend(vulns.iter().map(|v| finding(d, v, suppressed, shown_as)));
        }
    }
    Ok(ParsedReport { tool: "dependency-check".into(), findings, ..ParsedReport::empty(shown_as, Format::DependencyCheck) })
}

fn finding(d: &Dependency, v: &Vuln, suppressed: bool, shown_as: &str) -> Finding {
    // The newest CVSS version the report carries scores it; the tool's own label is kept beside.
    let score = [(&v.cvssv4, "CVSS v4"), (&v.cvssv3, "CVSS v3"), (&v.cvssv2, "CVSS v2")]
        .into_iter()
        .find_map(|(s, which)| s.as_ref().and_then(|s| s.base_score.or(s.score)).map(|s| (s, which)));
    let (severity, reason) = judged("Dependency-Check", &v.severity, score);
    let package = d.packages.first();
    // `pkg:maven/group/name@version`: the coordinates and version, where the purl has them.
    let (name, version) = package
        .and_then(|p| p.id.rsplit_once('@'))
        .map(|(n, ver)| {
            // `pkg:maven/group/name` → `group/name`: the ecosystem is the dependency's file.
            let n = n.strip_prefix("pkg:").and_then(|n| n.split_once('/')).map_or(n, |(_, rest)| rest);
            (n.to_string(), Some(ver.to_string()))
        })
        .unwrap_or_else(|| (d.file_name.clone(), None));
    let cwes = if v.cwes.is_empty() { String::new() } else { format!("\n{}", v.cwes.join(", ")) };
    Finding {
        id: v.name.clone(),
        tools: vec!["dependency-check".into()],
        kind: FindingKind::Vulnerability,
        severity,
        raw_severity: v.severity.clone(),
        severity_reason: reason,
        title: v.description.lines().next().unwrap_or_default().chars().take(200).collect(),
        description: format!(
            "{}{cwes}\nFound in {} (source: {}).",
            v.description.chars().take(4000).collect::<String>(),
            d.file_path,
            v.source
        ),
        location: match &version {
            Some(ver) => format!("{name}@{ver}"),
            None => d.file_name.clone(),
        },
        package: Some(name),
        installed: version,
        fixed: None,
        target: Some(d.file_name.clone()),
        url: package.and_then(|p| p.url.clone()),
        suppressed: suppressed.then(|| "suppressed in the project's Dependency-Check suppression file".to_string()),
        reports: vec![shown_as.to_string()],
    }
}
