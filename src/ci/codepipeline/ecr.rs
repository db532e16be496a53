//! ECR's scan of the image a pipeline built, as evidence: `DescribeImageScanFindings` for each
//! configured repository, basic (Clair-style `findings`) and enhanced (Inspector's
//! `enhancedFindings`) alike, judged by the same severity rules as a Trivy report. Which image:
//! the digest or tag a build exported (`IMAGE_DIGEST`, `IMAGE_TAG`), else the source commit as
//! the tag.

use serde_json::{Value, json};

use super::model::ActionExecutionDetail;
use crate::aws::json_rpc::{AwsError, ECR, Session};
use crate::findings::severity::judged;
use crate::findings::{Finding, FindingKind, ReportError};
use crate::logstore::sanitize::{excerpt, plain};

/// Pages of findings read per image at most (1,000 each).
const PAGES: usize = 50;

/// The image of a repository a run built: by digest, else by tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageId {
    Digest(String),
    Tag(String),
}

impl ImageId {
    fn wire(&self) -> Value {
        match self {
            ImageId::Digest(d) => json!({"imageDigest": d}),
            ImageId::Tag(t) => json!({"imageTag": t}),
        }
    }

    fn text(&self, repository: &str) -> String {
        match self {
            ImageId::Digest(d) => format!("{repository}@{d}"),
            ImageId::Tag(t) => format!("{repository}:{t}"),
        }
    }
}

/// The image the run built: what a build exported, newest first, else the source commit.
pub fn image_of(actions: &[ActionExecutionDetail], commit: Option<&str>) -> Option<ImageId> {
    let exported = |name: &str| {
        actions
            .iter()
            .rev()
            .find_map(|a| a.output.as_ref().and_then(|o| o.output_variables.get(name)).filter(|v| !v.trim().is_empty()).cloned())
    };
    if let Some(d) = exported("IMAGE_DIGEST").filter(|d| d.starts_with("sha256:")) {
        return Some(ImageId::Digest(d));
    }
    exported("IMAGE_TAG").or_else(|| commit.map(str::to_string)).map(ImageId::Tag)
}

/// The findings of `repository`'s image, or why they cannot be had (the gate then fails closed).
pub async fn findings(session: &Session, repository: &str, image: &ImageId) -> Result<Vec<Finding>, ReportError> {
    // The tag came from the build's exported variables: outside text.
    let shown = plain(&format!("ecr:{}", image.text(repository)));
    let err = |problem: String| ReportError { path: shown.clone(), problem };
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..PAGES {
        let mut input = json!({"repositoryName": repository, "imageId": image.wire(), "maxResults": 1000});
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let page = match session.call(&ECR, "DescribeImageScanFindings", &input).await {
            Ok(p) => p,
            Err(AwsError::Service { code, message, .. }) if code == "ScanNotFoundException" || code == "ImageNotFoundException" => {
                return Err(err(format!("ECR has no scan of this image ({code}: {message})")));
            }
            Err(e) => return Err(err(format!("ECR's findings could not be read: {e}"))),
        };
        let status = page["imageScanStatus"]["status"].as_str().unwrap_or("UNKNOWN");
        if !matches!(status, "COMPLETE" | "ACTIVE") {
            let why = page["imageScanStatus"]["description"].as_str().map(|d| format!(": {}", excerpt(d, 200))).unwrap_or_default();
            return Err(err(format!("ECR's scan is {}{why}", plain(status).to_lowercase())));
        }
        let scan = &page["imageScanFindings"];
        for f in scan["findings"].as_array().into_iter().flatten() {
            out.push(basic(f, &shown));
        }
        for f in scan["enhancedFindings"].as_array().into_iter().flatten() {
            out.push(enhanced(f, &shown));
        }
        match page["nextToken"].as_str() {
            Some(t) if Some(t) != token.as_deref() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(out)
}

fn attribute<'a>(f: &'a Value, key: &str) -> Option<&'a str> {
    f["attributes"].as_array()?.iter().find(|a| a["key"] == key).and_then(|a| a["value"].as_str())
}

/// A basic scan's finding: the CVE, its package in attributes, CVSS 3 (else 2) as the score.
fn basic(f: &Value, report: &str) -> Finding {
    let id = plain(f["name"].as_str().unwrap_or("unnamed"));
    let label = f["severity"].as_str().unwrap_or("UNDEFINED");
    let score = [("CVSS3_SCORE", "CVSS 3"), ("CVSS2_SCORE", "CVSS 2")]
        .iter()
        .find_map(|(k, source)| attribute(f, k).and_then(|s| s.parse::<f64>().ok()).map(|s| (s, *source)));
    let package = attribute(f, "package_name").map(plain);
    let installed = attribute(f, "package_version").map(plain);
    Finding { url: f["uri"].as_str().map(plain), ..vulnerability(f, report, id.clone(), id, label, score, package, installed) }
}

/// An enhanced (Inspector) finding: the vulnerability, its first vulnerable package with the fix,
/// the highest CVSS base score; a closed or suppressed finding is kept and marked.
fn enhanced(f: &Value, report: &str) -> Finding {
    let details = &f["packageVulnerabilityDetails"];
    let id = plain(details["vulnerabilityId"].as_str().or(f["title"].as_str()).unwrap_or("unnamed"));
    let label = f["severity"].as_str().unwrap_or("UNTRIAGED");
    let score = details["cvss"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["baseScore"].as_f64().map(|s| (s, c["source"].as_str().unwrap_or("CVSS").to_string())))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .or_else(|| f["score"].as_f64().map(|s| (s, "Inspector".to_string())));
    let package = details["vulnerablePackages"].as_array().and_then(|p| p.first()).cloned().unwrap_or(Value::Null);
    let name = package["name"].as_str().map(plain);
    let installed = package["version"].as_str().map(plain);
    let fixed = package["fixedInVersion"].as_str().filter(|v| !v.is_empty() && *v != "NotAvailable").map(plain);
    let suppressed = match f["status"].as_str() {
        Some("SUPPRESSED") => Some("suppressed in Amazon Inspector".to_string()),
        Some("CLOSED") => Some("closed by Amazon Inspector (no longer present)".to_string()),
        _ => None,
    };
    let title = excerpt(&plain(f["title"].as_str().unwrap_or(&id)), 300);
    let score = score.as_ref().map(|(s, src)| (*s, src.as_str()));
    Finding {
        fixed,
        url: details["sourceUrl"].as_str().map(plain),
        suppressed,
        ..vulnerability(f, report, id, title, label, score, name, installed)
    }
}

/// What every ECR finding holds: judged by Trivy's rules from ECR's label and the score.
#[allow(clippy::too_many_arguments)]
fn vulnerability(
    f: &Value,
    report: &str,
    id: String,
    title: String,
    label: &str,
    score: Option<(f64, &str)>,
    package: Option<String>,
    installed: Option<String>,
) -> Finding {
    let (severity, severity_reason) = judged("ECR", label, score);
    Finding {
        location: format!("{}@{}", package.as_deref().unwrap_or("?"), installed.as_deref().unwrap_or("?")),
        title,
        id,
        tools: vec!["ECR".into()],
        kind: FindingKind::Vulnerability,
        severity,
        raw_severity: plain(label),
        severity_reason,
        description: excerpt(&plain(f["description"].as_str().unwrap_or_default()), 2000),
        package,
        installed,
        fixed: None,
        target: Some(report.trim_start_matches("ecr:").to_string()),
        url: None,
        suppressed: None,
        reports: vec![report.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_score_lifts_a_label_and_an_untriaged_finding_is_not_let_through() {
        let f = json!({"name": "CVE-1", "severity": "MEDIUM", "attributes": [{"key": "CVSS3_SCORE", "value": "9.8"}, {"key": "package_name", "value": "openssl"}]});
        let got = basic(&f, "ecr:app:1");
        assert_eq!(got.severity, crate::findings::Severity::Critical, "{}", got.severity_reason);
        let e = json!({"severity": "UNTRIAGED", "packageVulnerabilityDetails": {"vulnerabilityId": "CVE-2", "vulnerablePackages": [{"name": "zlib", "version": "1.2"}]}, "status": "ACTIVE"});
        let got = enhanced(&e, "ecr:app:1");
        assert_eq!(got.severity, crate::findings::Severity::High, "{}", got.severity_reason);
        assert_eq!(got.location, "zlib@1.2");
    }
}
