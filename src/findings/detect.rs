//! Which format a report is, from its content (file names lie; keys do not).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Sarif,
    Trivy,
    Grype,
    Bandit,
    CycloneDx,
    Spdx,
    Snyk,
    JUnit,
    Cobertura,
    Lcov,
    DependencyCheck,
    Zap,
    K6,
    LocustJson,
    LocustCsv,
    SonarTask,
    BuildMetadata,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Sarif => "SARIF",
            Format::Trivy => "Trivy JSON",
            Format::Grype => "Grype JSON",
            Format::Bandit => "Bandit JSON",
            Format::CycloneDx => "CycloneDX SBOM",
            Format::Spdx => "SPDX SBOM",
            Format::Snyk => "Snyk JSON",
            Format::JUnit => "JUnit XML",
            Format::Cobertura => "Cobertura XML",
            Format::Lcov => "LCOV",
            Format::DependencyCheck => "Dependency-Check JSON",
            Format::Zap => "ZAP JSON",
            Format::K6 => "k6 summary",
            Format::LocustJson => "Locust JSON stats",
            Format::LocustCsv => "Locust CSV stats",
            Format::SonarTask => "SonarQube report-task.txt",
            Format::BuildMetadata => "buildx metadata",
        }
    }
}

/// Whether a JSON key appears (memchr's search: the checks below scan a large report many times).
fn has(bytes: &[u8], key: &str) -> bool {
    let needle = format!("\"{key}\"");
    memchr::memmem::find(bytes, needle.as_bytes()).is_some()
}

fn has_tag(bytes: &[u8], tag: &str) -> bool {
    memchr::memmem::find(bytes, tag.as_bytes()).is_some()
}

pub fn detect(bytes: &[u8]) -> Option<Format> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    let snyk = || {
        (has(bytes, "vulnerabilities") && (has(bytes, "packageManager") || has(bytes, "dependencyCount")))
            || has(bytes, "infrastructureAsCodeIssues")
    };
    // Test results: XML whose root is a test suite (or a list of them).
    if bytes[start] == b'<' {
        if has_tag(bytes, "<testsuites") || has_tag(bytes, "<testsuite") {
            return Some(Format::JUnit);
        }
        return (has_tag(bytes, "<coverage") && has_tag(bytes, "line-rate")).then_some(Format::Cobertura);
    }
    // An LCOV tracefile starts with a test name or a source file record.
    if bytes[start..].starts_with(b"TN:") || bytes[start..].starts_with(b"SF:") {
        return Some(Format::Lcov);
    }
    // The SonarQube scanner's report-task.txt: `key=value` lines naming the server and the task.
    if bytes[start].is_ascii_alphabetic() && has_tag(bytes, "ceTaskId=") && has_tag(bytes, "serverUrl=") {
        return Some(Format::SonarTask);
    }
    // Locust's CSV stats start with their header.
    if bytes[start..].starts_with(b"Type,Name,Request Count,Failure Count") {
        return Some(Format::LocustCsv);
    }
    // `--all-projects` writes an array of results, one per project; Locust's `--json` an array
    // of request stats.
    if bytes[start] == b'[' {
        if has(bytes, "num_requests") && has(bytes, "response_times") {
            return Some(Format::LocustJson);
        }
        return snyk().then_some(Format::Snyk);
    }
    if bytes[start] != b'{' {
        return None;
    }
    // Distinctive keys, most specific first.
    if has(bytes, "bomFormat") {
        Some(Format::CycloneDx)
    } else if has(bytes, "spdxVersion") && has(bytes, "SPDXID") {
        Some(Format::Spdx)
    } else if has(bytes, "SchemaVersion") && (has(bytes, "Results") || has(bytes, "ArtifactName")) {
        Some(Format::Trivy)
    } else if has(bytes, "runs") && (has(bytes, "tool") || has(bytes, "$schema") || has(bytes, "version")) {
        Some(Format::Sarif)
    } else if has(bytes, "matches") && (has(bytes, "descriptor") || has(bytes, "artifact")) {
        Some(Format::Grype)
    } else if has(bytes, "results") && (has(bytes, "issue_severity") || has(bytes, "generated_at")) {
        Some(Format::Bandit)
    } else if has(bytes, "reportSchema") && has(bytes, "scanInfo") && has(bytes, "dependencies") {
        Some(Format::DependencyCheck)
    } else if has(bytes, "containerimage.digest") {
        Some(Format::BuildMetadata)
    } else if has(bytes, "@programName") && has(bytes, "site") {
        Some(Format::Zap)
    } else if has(bytes, "root_group") && has(bytes, "metrics") {
        Some(Format::K6)
    } else if snyk() {
        Some(Format::Snyk)
    } else {
        None
    }
}
