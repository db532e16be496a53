//! SPDX 2.x JSON SBOMs (`syft -o spdx-json`, `trivy --format spdx-json`, and the predicate of
//! `cosign attest --type spdxjson`): what packages an image holds, by the same identity CycloneDX
//! components get, so either format can be compared with the other.

use serde::Deserialize;

use super::detect::Format;
use super::{ParsedReport, SbomSummary, json_problem};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    spdx_version: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    document_describes: Vec<String>,
    #[serde(default)]
    packages: Vec<Package>,
    #[serde(default)]
    relationships: Vec<Relationship>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Package {
    #[serde(rename = "SPDXID", default)]
    spdx_id: String,
    #[serde(default)]
    name: String,
    version_info: Option<String>,
    #[serde(default)]
    external_refs: Vec<ExternalRef>,
    primary_package_purpose: Option<String>,
    license_concluded: Option<String>,
    license_declared: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    #[serde(default)]
    reference_type: String,
    #[serde(default)]
    reference_locator: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    #[serde(default)]
    spdx_element_id: String,
    #[serde(default)]
    related_spdx_element: String,
    #[serde(default)]
    relationship_type: String,
}

impl Document {
    /// What the document is about (the image or directory scanned): not one of its packages.
    fn roots(&self) -> Vec<&str> {
        let described = self
            .relationships
            .iter()
            .filter(|r| r.spdx_element_id == "SPDXRef-DOCUMENT" && r.relationship_type == "DESCRIBES")
            .map(|r| r.related_spdx_element.as_str());
        self.document_describes.iter().map(String::as_str).chain(described).collect()
    }

    /// The packages an SBOM comparison counts: not the roots, not the operating system, and not
    /// the groupings some tools add (a package with neither purl nor version, as Trivy's
    /// "Application" entries).
    fn packages(&self) -> impl Iterator<Item = (&Package, String)> {
        let roots = self.roots();
        self.packages
            .iter()
            .filter(move |p| !roots.contains(&p.spdx_id.as_str()))
            .filter(|p| !matches!(p.primary_package_purpose.as_deref(), Some("OPERATING-SYSTEM" | "CONTAINER")))
            .filter_map(|p| p.identity().map(|id| (p, id)))
    }
}

impl Package {
    /// Its purl, else name@version, as CycloneDX components are known.
    fn identity(&self) -> Option<String> {
        let purl = self.external_refs.iter().find(|r| r.reference_type == "purl" && !r.reference_locator.is_empty());
        match (purl, self.version_info.as_deref().filter(|v| !v.is_empty())) {
            (Some(r), _) => Some(r.reference_locator.clone()),
            (None, Some(v)) => Some(format!("{}@{v}", self.name)),
            (None, None) => None,
        }
    }

    fn licences(&self) -> Vec<&str> {
        [self.license_declared.as_deref(), self.license_concluded.as_deref()]
            .into_iter()
            .flatten()
            .filter(|l| !matches!(*l, "" | "NOASSERTION" | "NONE"))
            .collect()
    }
}

fn read(bytes: &[u8]) -> Result<Document, String> {
    let doc: Document = serde_json::from_slice(bytes).map_err(|e| json_problem(&e, "SPDX SBOM"))?;
    check_version(&doc)?;
    Ok(doc)
}

fn check_version(doc: &Document) -> Result<(), String> {
    match doc.spdx_version.as_deref() {
        Some(v) if v.starts_with("SPDX-2.") => Ok(()),
        Some(v) => Err(format!("{v} is not supported (SPDX 2.x JSON)")),
        None => Err("the SBOM has no spdxVersion".into()),
    }
}

pub fn parse(bytes: &[u8], shown_as: &str) -> Result<ParsedReport, String> {
    let doc = read(bytes)?;
    let roots = doc.roots();
    let subject = doc
        .packages
        .iter()
        .find(|p| roots.contains(&p.spdx_id.as_str()))
        .map(|p| format!("{}{}", p.name, p.version_info.as_ref().map(|v| format!("@{v}")).unwrap_or_default()))
        .unwrap_or_else(|| doc.name.clone());
    let mut s = SbomSummary { subject, ..SbomSummary::default() };
    for (p, id) in doc.packages() {
        s.components += 1;
        s.component_ids.push(id);
        let kind = p.primary_package_purpose.as_deref().unwrap_or("package").to_ascii_lowercase();
        *s.by_type.entry(kind).or_default() += 1;
        let licences = p.licences();
        if licences.is_empty() {
            s.without_licence += 1;
        }
        let mut noted: Vec<&str> = licences.into_iter().filter(|l| super::cyclonedx::of_note(l)).collect();
        noted.dedup();
        for l in noted {
            *s.licences_of_note.entry(l.to_string()).or_default() += 1;
        }
    }
    s.component_ids.sort();
    s.component_ids.dedup();
    Ok(ParsedReport { tool: "SPDX SBOM".into(), sbom: Some(s), ..ParsedReport::empty(shown_as, Format::Spdx) })
}

/// The packages of an SPDX document (an attestation's predicate), by identity, sorted.
pub fn component_ids(doc: &serde_json::Value) -> Result<Vec<String>, String> {
    let doc = Document::deserialize(doc).map_err(|e| format!("the SBOM is not SPDX JSON: {e}"))?;
    check_version(&doc)?;
    let mut ids: Vec<String> = doc.packages().map(|(_, id)| id).collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}
