//! One severity scale for every tool, keeping what the tool said and why it was mapped so.
//!
//! Evidence in order: a numeric score (CVSS bands: ≥ 9.0 critical, 7.0–8.9 high, 4.0–6.9 medium,
//! 0.1–3.9 low), then the tool's own label, then a SARIF level (error → high, warning → medium,
//! note → low, none → info).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
            Severity::Info => "INFO",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "critical" | "c" => Severity::Critical,
            "high" | "h" => Severity::High,
            "medium" | "moderate" | "m" => Severity::Medium,
            "low" | "l" => Severity::Low,
            "info" | "informational" | "none" | "i" => Severity::Info,
            _ => return None,
        })
    }
}

/// CVSS qualitative bands; `None` for 0 or out-of-range scores.
pub fn from_score(score: f64) -> Option<Severity> {
    match score {
        s if !(0.0..=10.0).contains(&s) || s.is_nan() => None,
        s if s >= 9.0 => Some(Severity::Critical),
        s if s >= 7.0 => Some(Severity::High),
        s if s >= 4.0 => Some(Severity::Medium),
        s if s > 0.0 => Some(Severity::Low),
        _ => None,
    }
}

/// A tool's label (Trivy, Grype, Bandit, CycloneDX). Unknown labels are kept as MEDIUM so they are
/// not silently dropped below a gate, and the reason says so.
pub fn from_label(tool: &str, label: &str) -> (Severity, String) {
    let l = label.trim().to_ascii_lowercase();
    let (sev, why) = match l.as_str() {
        "critical" => (Severity::Critical, format!("{tool} severity {label}")),
        "high" => (Severity::High, format!("{tool} severity {label}")),
        "medium" | "moderate" => (Severity::Medium, format!("{tool} severity {label}")),
        "low" => (Severity::Low, format!("{tool} severity {label}")),
        "negligible" => (Severity::Low, format!("{tool} severity {label} (negligible counts as low)")),
        "info" | "informational" | "none" => (Severity::Info, format!("{tool} severity {label}")),
        "unknown" | "undefined" | "" => {
            (Severity::Medium, format!("{tool} severity {label:?} is unknown; treated as MEDIUM until triaged"))
        }
        _ => (Severity::Medium, format!("{tool} severity {label:?} is not a known label; treated as MEDIUM")),
    };
    (sev, why)
}

/// A SARIF effective level.
pub fn from_level(level: &str) -> (Severity, String) {
    match level {
        "error" => (Severity::High, "SARIF level error (no security-severity score)".into()),
        "warning" => (Severity::Medium, "SARIF level warning (no security-severity score)".into()),
        "note" => (Severity::Low, "SARIF level note (no security-severity score)".into()),
        _ => (Severity::Info, format!("SARIF level {level}")),
    }
}
