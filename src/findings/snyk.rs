//! Snyk's JSON (`snyk test --json`, `snyk container test --json`, `--all-projects`: one project
//! object or an array of them) and `snyk iac test --json` (`infrastructureAsCodeIssues`). Snyk
//! lists a vulnerability once per dependency path that reaches it; a finding is one vulnerability
//! in one package version, with how many paths reach it. Issues the project's `.snyk` policy
//! ignores (`filtered.ignore`) are kept, exempt, with that reason. Snyk Code writes SARIF.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::severity::judged;
use super::{Finding, FindingKind, ParsedReport, json_problem};
use crate::findings::detect::Format;

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Project {
    vulnerabilities: Option<Vec<Vuln>>,
    infrastructure_as_code_issues: Option<Vec<IacIssue>>,
    filtered: Filtered,
    project_name: Option<String>,
    display_target_file: Option<String>,
    target_file: Option<String>,
    package_manager: Option<String>,
    docker: Option<serde_json::Value>,
    path: Option<String>,
    /// Set when the CLI could not test the project.
    error: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Filtered {
    ignore: Vec<Vuln>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default, rename_all = "camelCase")]
struct Vuln {
    id: String,
    title: String,
    severity: String,
    cvss_score: Option<f64>,
    package_name: String,
    version: String,
    from: Vec<String>,
    fixed_in: Vec<String>,
    description: String,
    /// CVE, CWE, GHSA … (NSP advisories are numbers).
    identifiers: BTreeMap<String, Vec<serde_json::Value>>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct IacIssue {
    id: String,
    title: String,
    severity: String,
    msg: String,
    path: Vec<serde_json::Value>,
    iac_description: IacDescription,
    line_number: Option<i64>,
    documentation: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct IacDescription {
    issue: String,
    impact: String,
    resolve: String,
}

pub fn parse(bytes: &[u8], shown_as: &str) -> Result<ParsedReport, String> {
    // An array (`--all-projects`) or one result: told apart before reading, so that a field of
    // the wrong type is named rather than lost in "no variant matched".
    let starts_array = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let projects: Vec<Project> = if starts_array {
        serde_json::from_slice(bytes).map_err(|e| json_problem(&e, "Snyk report"))?
    } else {
        vec![serde_json::from_slice(bytes).map_err(|e| json_problem(&e, "Snyk report"))?]
    };
    let mut findings = Vec::new();
    for p in &projects {
        // A project the CLI could not test has no answer: it must not read as a clean one.
        if let Some(e) = &p.error {
            return Err(format!("Snyk could not test {}: {}", target_of(p), super::excerpt(e)));
        }
        if p.vulnerabilities.is_none() && p.infrastructure_as_code_issues.is_none() {
            return Err(format!("the Snyk result for {} has neither `vulnerabilities` nor `infrastructureAsCodeIssues`", target_of(p)));
        }
        let target = target_of(p);
        for (vulns, ignored) in [(p.vulnerabilities.as_deref().unwrap_or_default(), false), (&p.filtered.ignore[..], true)] {
            findings.extend(dependency_findings(vulns, &target, ignored, shown_as));
        }
        for issue in p.infrastructure_as_code_issues.iter().flatten() {
            findings.push(iac_finding(issue, &target, shown_as));
        }
    }
    Ok(ParsedReport { tool: "snyk".into(), findings, ..ParsedReport::empty(shown_as, Format::Snyk) })
}

/// What was tested: the image, else the manifest, else the project.
fn target_of(p: &Project) -> String {
    let image = p.docker.as_ref().and_then(|d| d["image"].as_str().or(d["baseImage"].as_str())).map(str::to_string);
    image
        .or_else(|| p.display_target_file.clone())
        .or_else(|| p.target_file.clone())
        .or_else(|| p.project_name.clone())
        .or_else(|| p.path.clone())
        .unwrap_or_else(|| p.package_manager.clone().unwrap_or_else(|| "the project".into()))
}

/// One finding per vulnerability and package version, however many paths reach it.
fn dependency_findings(vulns: &[Vuln], target: &str, ignored: bool, shown_as: &str) -> Vec<Finding> {
    let mut paths: BTreeMap<(&str, &str, &str), (usize, &Vuln)> = BTreeMap::new();
    for v in vulns {
        let entry = paths.entry((v.id.as_str(), v.package_name.as_str(), v.version.as_str())).or_insert((0, v));
        entry.0 += 1;
    }
    paths
        .into_values()
        .map(|(n, v)| {
            let (severity, reason) = judged("Snyk", &v.severity, v.cvss_score.map(|s| (s, "Snyk's CVSS score")));
            let cves = v
                .identifiers
                .get("CVE")
                .map(|c| c.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", "))
                .filter(|c| !c.is_empty());
            let via = v.from.iter().skip(1).map(String::as_str).collect::<Vec<_>>().join(" > ");
            let reached = if n == 1 { format!("Reached through {via}.") } else { format!("Reached through {n} paths, e.g. {via}.") };
            let licence = v.kind.as_deref() == Some("license");
            Finding {
                id: v.id.clone(),
                tools: vec!["snyk".into()],
                kind: if licence { FindingKind::Licence } else { FindingKind::Vulnerability },
                severity,
                raw_severity: v.severity.clone(),
                severity_reason: reason,
                title: match &cves {
                    Some(c) => format!("{} ({c})", v.title),
                    None => v.title.clone(),
                },
                description: format!("{reached}\n{}", v.description.chars().take(4000).collect::<String>()),
                location: format!("{}@{}", v.package_name, v.version),
                package: Some(v.package_name.clone()),
                installed: Some(v.version.clone()),
                fixed: (!v.fixed_in.is_empty()).then(|| v.fixed_in.join(", ")),
                target: Some(target.to_string()),
                url: Some(format!("https://security.snyk.io/vuln/{}", v.id)),
                suppressed: ignored.then(|| "ignored in the project's Snyk policy (.snyk)".to_string()),
                reports: vec![shown_as.to_string()],
            }
        })
        .collect()
}

fn iac_finding(issue: &IacIssue, target: &str, shown_as: &str) -> Finding {
    let (severity, reason) = judged("Snyk", &issue.severity, None);
    let path: Vec<String> = issue.path.iter().map(|p| p.as_str().map(str::to_string).unwrap_or_else(|| p.to_string())).collect();
    let line = issue.line_number.filter(|n| *n > 0).map(|n| format!(":{n}")).unwrap_or_default();
    let d = &issue.iac_description;
    Finding {
        id: issue.id.clone(),
        tools: vec!["snyk".into()],
        kind: FindingKind::Misconfiguration,
        severity,
        raw_severity: issue.severity.clone(),
        severity_reason: reason,
        title: issue.title.clone(),
        description: [issue.msg.as_str(), d.issue.as_str(), d.impact.as_str(), d.resolve.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("\n"),
        location: format!("{target}{line} {}", path.join(".")),
        package: None,
        installed: None,
        fixed: None,
        target: Some(target.to_string()),
        url: issue.documentation.clone(),
        suppressed: None,
        reports: vec![shown_as.to_string()],
    }
}
