//! CycloneDX: an SBOM is summarised (subject, component counts by type, licences of note); its
//! `vulnerabilities` (Grype's, Trivy's and other tools' output, and VEX documents) become findings,
//! one per affected component, with their ratings, the VEX analysis and the recommended fix.

use serde::Deserialize;

use super::severity::judged;
use super::{Finding, FindingKind, ParsedReport, SbomSummary, json_problem};
use crate::findings::detect::Format;

#[derive(Deserialize)]
struct Bom {
    #[serde(rename = "bomFormat")]
    bom_format: Option<String>,
    #[serde(rename = "specVersion")]
    spec_version: Option<String>,
    metadata: Option<Metadata>,
    #[serde(default)]
    components: Vec<Component>,
    #[serde(default)]
    vulnerabilities: Vec<Vulnerability>,
}

#[derive(Deserialize)]
struct Vulnerability {
    #[serde(default)]
    id: String,
    source: Option<Source>,
    #[serde(default)]
    ratings: Vec<Rating>,
    description: Option<String>,
    detail: Option<String>,
    recommendation: Option<String>,
    #[serde(default)]
    advisories: Vec<Advisory>,
    #[serde(default)]
    affects: Vec<Affects>,
    analysis: Option<Analysis>,
}

#[derive(Deserialize)]
struct Source {
    name: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize)]
struct Rating {
    source: Option<Source>,
    score: Option<f64>,
    severity: Option<String>,
    method: Option<String>,
}

#[derive(Deserialize)]
struct Advisory {
    url: Option<String>,
}

#[derive(Deserialize)]
struct Affects {
    #[serde(rename = "ref", default)]
    reference: String,
    #[serde(default)]
    versions: Vec<AffectedVersion>,
}

#[derive(Deserialize)]
struct AffectedVersion {
    version: Option<String>,
    range: Option<String>,
    status: Option<String>,
}

#[derive(Deserialize)]
struct Analysis {
    state: Option<String>,
    justification: Option<String>,
    detail: Option<String>,
}

#[derive(Deserialize)]
struct Metadata {
    component: Option<Component>,
}

#[derive(Deserialize)]
struct Component {
    #[serde(rename = "bom-ref")]
    bom_ref: Option<String>,
    purl: Option<String>,
    #[serde(rename = "type", default)]
    kind: String,
    /// Maven's groupId and the like.
    group: Option<String>,
    #[serde(default)]
    name: String,
    version: Option<String>,
    #[serde(default)]
    licenses: Vec<LicenseChoice>,
}

#[derive(Deserialize)]
struct LicenseChoice {
    license: Option<License>,
    expression: Option<String>,
}

#[derive(Deserialize)]
struct License {
    id: Option<String>,
    name: Option<String>,
}

/// Licences whose obligations a release manager wants to know about.
pub(super) fn of_note(licence: &str) -> bool {
    let l = licence.to_ascii_uppercase();
    ["GPL", "AGPL", "LGPL", "MPL", "EPL", "CDDL", "SSPL", "EUPL", "OSL", "CC-BY-SA"].iter().any(|p| l.contains(p))
}

pub fn parse(bytes: &[u8], shown_as: &str) -> Result<ParsedReport, String> {
    let bom: Bom = serde_json::from_slice(bytes).map_err(|e| json_problem(&e, "CycloneDX SBOM"))?;
    if bom.bom_format.as_deref() != Some("CycloneDX") {
        return Err(format!("bomFormat is {:?}, not \"CycloneDX\"", bom.bom_format.unwrap_or_default()));
    }
    match bom.spec_version.as_deref() {
        Some("1.4" | "1.5" | "1.6" | "1.7") => {}
        Some(v) => return Err(format!("CycloneDX specVersion {v} is not supported (1.4 to 1.7)")),
        None => return Err("the SBOM has no specVersion".into()),
    }
    let mut s = SbomSummary { components: bom.components.len(), ..SbomSummary::default() };
    s.component_ids = bom.components.iter().filter_map(Component::identity).collect();
    s.component_ids.sort();
    s.component_ids.dedup();
    let subject = bom.metadata.and_then(|m| m.component);
    if let Some(c) = &subject {
        s.subject = format!("{}{}", c.name, c.version.as_ref().map(|v| format!("@{v}")).unwrap_or_default());
    }
    let findings = vulnerabilities(&bom.vulnerabilities, &bom.components, subject.as_ref(), shown_as);
    for c in &bom.components {
        *s.by_type.entry(if c.kind.is_empty() { "unknown".into() } else { c.kind.clone() }).or_default() += 1;
        let names: Vec<String> = c
            .licenses
            .iter()
            .filter_map(|l| l.expression.clone().or_else(|| l.license.as_ref().and_then(|x| x.id.clone().or(x.name.clone()))))
            .collect();
        if names.is_empty() {
            s.without_licence += 1;
        }
        for n in names.into_iter().filter(|n| of_note(n)) {
            *s.licences_of_note.entry(n).or_default() += 1;
        }
    }
    let tool = if bom.vulnerabilities.is_empty() { "CycloneDX SBOM" } else { "CycloneDX" };
    Ok(ParsedReport { tool: tool.into(), findings, sbom: Some(s), ..ParsedReport::empty(shown_as, Format::CycloneDx) })
}

/// A component's full name (`group:name` where it has a group).
fn full_name(c: &Component) -> String {
    match c.group.as_deref().filter(|g| !g.is_empty()) {
        Some(g) => format!("{g}:{}", c.name),
        None => c.name.clone(),
    }
}

/// The name people know a component by: its full name@version.
fn component_name(c: &Component) -> String {
    format!("{}{}", full_name(c), c.version.as_ref().map(|v| format!("@{v}")).unwrap_or_default())
}

/// One finding per vulnerability and affected component; a component the document says is not
/// affected (VEX) is kept, exempt, with that statement as the reason.
fn vulnerabilities(vulns: &[Vulnerability], components: &[Component], subject: Option<&Component>, shown_as: &str) -> Vec<Finding> {
    let by_ref = |r: &str| components.iter().chain(subject).find(|c| c.bom_ref.as_deref() == Some(r) || c.purl.as_deref() == Some(r));
    let mut out = Vec::new();
    for v in vulns {
        // The highest label and the highest score among the ratings, each with its source.
        let label = v
            .ratings
            .iter()
            .filter_map(|r| r.severity.as_deref())
            .max_by_key(|l| crate::findings::Severity::parse(l).map(|s| s as u8 + 1).unwrap_or(0))
            .unwrap_or("unknown");
        let score = v.ratings.iter().filter_map(|r| Some((r.score?, r))).max_by(|a, b| a.0.total_cmp(&b.0)).map(|(s, r)| {
            let source = r.source.as_ref().and_then(|x| x.name.clone()).unwrap_or_else(|| "unnamed source".into());
            (s, format!("{source}{}", r.method.as_ref().map(|m| format!(" {m}")).unwrap_or_default()))
        });
        let (severity, reason) = judged("CycloneDX", label, score.as_ref().map(|(s, src)| (*s, src.as_str())));
        let analysis = v.analysis.as_ref();
        let state = analysis.and_then(|a| a.state.as_deref()).unwrap_or("");
        // VEX: only "not affected" (or a false positive) exempts, and says who said so.
        let exempt_by_analysis = matches!(state, "not_affected" | "false_positive").then(|| {
            let why = analysis.and_then(|a| a.justification.as_deref()).map(|j| format!(", {j}")).unwrap_or_default();
            format!("VEX analysis: {state}{why}")
        });
        let mut description = v.description.clone().or_else(|| v.detail.clone()).unwrap_or_default();
        if let Some(a) = analysis.filter(|_| !state.is_empty()) {
            description = format!("analysis: {state}{}\n\n{description}", a.detail.as_ref().map(|d| format!(" — {d}")).unwrap_or_default());
        }
        let fixed = v.recommendation.clone().filter(|r| !r.trim().is_empty());
        let url = v.advisories.iter().find_map(|a| a.url.clone()).or_else(|| v.source.as_ref().and_then(|s| s.url.clone()));
        let affects: Vec<(&Affects, Option<&Component>)> = v.affects.iter().map(|a| (a, by_ref(&a.reference))).collect();
        // A vulnerability naming nothing it affects is about the document's subject.
        let targets: Vec<(Option<&Affects>, Option<&Component>)> =
            if affects.is_empty() { vec![(None, subject)] } else { affects.into_iter().map(|(a, c)| (Some(a), c)).collect() };
        for (a, c) in targets {
            let unaffected =
                a.is_some_and(|a| !a.versions.is_empty() && a.versions.iter().all(|x| x.status.as_deref() == Some("unaffected")));
            let versions: Vec<String> =
                a.iter().flat_map(|a| &a.versions).filter_map(|x| x.version.clone().or_else(|| x.range.clone())).collect();
            let name =
                c.map(component_name).or_else(|| a.map(|a| a.reference.clone())).unwrap_or_else(|| "(the document's subject)".into());
            out.push(Finding {
                id: v.id.clone(),
                tools: vec!["cyclonedx".into()],
                kind: FindingKind::Vulnerability,
                severity,
                raw_severity: label.to_string(),
                severity_reason: reason.clone(),
                title: v
                    .description
                    .as_deref()
                    .and_then(|d| d.lines().next())
                    .map(|l| l.chars().take(120).collect())
                    .unwrap_or_else(|| v.id.clone()),
                description: description.clone(),
                location: if versions.is_empty() { name.clone() } else { format!("{name} ({})", versions.join(", ")) },
                package: c.map(full_name).or_else(|| a.map(|a| a.reference.clone())),
                installed: c.and_then(|c| c.version.clone()),
                fixed: fixed.clone(),
                target: a.map(|a| a.reference.clone()),
                url: url.clone(),
                suppressed: exempt_by_analysis
                    .clone()
                    .or_else(|| unaffected.then(|| "CycloneDX affects: every listed version unaffected".into())),
                reports: vec![shown_as.to_string()],
            });
        }
    }
    out
}

impl Component {
    /// What a component is, to compare one SBOM with another: its purl, else group/name@version.
    /// The operating system is where packages live, not one of them (SPDX writers leave it out).
    fn identity(&self) -> Option<String> {
        if self.kind == "operating-system" {
            return None;
        }
        Some(match &self.purl {
            Some(p) => p.clone(),
            None => {
                let group = self.group.as_ref().map(|g| format!("{g}/")).unwrap_or_default();
                format!("{group}{}@{}", self.name, self.version.as_deref().unwrap_or("?"))
            }
        })
    }
}

/// The components of a CycloneDX document (an attestation's predicate), by identity, sorted.
pub fn component_ids(bom: &serde_json::Value) -> Result<Vec<String>, String> {
    let components: Vec<Component> = serde_json::from_value(bom.get("components").cloned().unwrap_or_default())
        .map_err(|e| format!("the SBOM's components are not CycloneDX: {e}"))?;
    let mut ids: Vec<String> = components.iter().filter_map(Component::identity).collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}
