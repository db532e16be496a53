//! Grype JSON: `matches[]` of a vulnerability against an artifact (package).

use serde::Deserialize;

use super::severity::judged;
use super::{Finding, FindingKind, ParsedReport, json_problem};
use crate::findings::detect::Format;

#[derive(Deserialize)]
struct Report {
    matches: Option<Vec<Match>>,
    descriptor: Option<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    name: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
struct Match {
    vulnerability: Vuln,
    artifact: ArtifactInfo,
}

#[derive(Deserialize)]
struct Vuln {
    #[serde(default)]
    id: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    urls: Vec<String>,
    description: Option<String>,
    #[serde(default)]
    cvss: Vec<Cvss>,
    fix: Option<Fix>,
}

#[derive(Deserialize)]
struct Cvss {
    metrics: Option<Metrics>,
}

#[derive(Deserialize)]
struct Metrics {
    #[serde(rename = "baseScore")]
    base_score: Option<f64>,
}

#[derive(Deserialize)]
struct Fix {
    #[serde(default)]
    versions: Vec<String>,
    state: Option<String>,
}

#[derive(Deserialize)]
struct ArtifactInfo {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    locations: Vec<Loc>,
}

#[derive(Deserialize)]
struct Loc {
    path: Option<String>,
}

pub fn parse(bytes: &[u8], shown_as: &str) -> Result<ParsedReport, String> {
    let report: Report = serde_json::from_slice(bytes).map_err(|e| json_problem(&e, "Grype report"))?;
    let matches = report.matches.ok_or("the Grype report has no `matches` list")?;
    let mut findings = Vec::with_capacity(matches.len());
    for m in matches {
        let v = &m.vulnerability;
        let score = v
            .cvss
            .iter()
            .filter_map(|c| c.metrics.as_ref()?.base_score)
            .fold(None, |acc: Option<f64>, s| Some(acc.map_or(s, |a| a.max(s))));
        let (severity, reason) = judged("Grype", &v.severity, score.map(|s| (s, "highest base score in the match")));
        let fixed = m
            .vulnerability
            .fix
            .as_ref()
            .filter(|f| f.state.as_deref() != Some("not-fixed"))
            .map(|f| f.versions.join(", "))
            .filter(|s| !s.is_empty());
        let target = m.artifact.locations.iter().find_map(|l| l.path.clone());
        findings.push(Finding {
            id: v.id.clone(),
            tools: vec!["grype".into()],
            kind: FindingKind::Vulnerability,
            severity,
            raw_severity: v.severity.clone(),
            severity_reason: reason,
            title: v
                .description
                .clone()
                .map(|d| d.lines().next().unwrap_or_default().chars().take(120).collect())
                .unwrap_or_else(|| v.id.clone()),
            description: v.description.clone().unwrap_or_default(),
            location: format!(
                "{}@{}{}",
                m.artifact.name,
                m.artifact.version,
                m.artifact.kind.as_ref().map(|k| format!(" ({k})")).unwrap_or_default()
            ),
            package: Some(m.artifact.name.clone()),
            installed: Some(m.artifact.version.clone()),
            fixed,
            target,
            url: v.urls.first().cloned(),
            suppressed: None,
            reports: vec![shown_as.to_string()],
        });
    }
    let tool = match report.descriptor {
        Some(Descriptor { name: Some(n), version: Some(v) }) => format!("{n} {v}"),
        _ => "grype".into(),
    };
    Ok(ParsedReport { tool, findings, ..ParsedReport::empty(shown_as, Format::Grype) })
}
