//! CycloneDX SBOM: summarised (subject, component counts by type, licences of note), not turned
//! into findings.

use serde::Deserialize;

use super::{ParsedReport, SbomSummary, json_problem};
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
}

#[derive(Deserialize)]
struct Metadata {
    component: Option<Component>,
}

#[derive(Deserialize)]
struct Component {
    #[serde(rename = "type", default)]
    kind: String,
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
fn of_note(licence: &str) -> bool {
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
    if let Some(c) = bom.metadata.and_then(|m| m.component) {
        s.subject = format!("{}{}", c.name, c.version.map(|v| format!("@{v}")).unwrap_or_default());
    }
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
    Ok(ParsedReport {
        path: shown_as.into(),
        format: Format::CycloneDx,
        tool: "CycloneDX SBOM".into(),
        findings: Vec::new(),
        sbom: Some(s),
    })
}
