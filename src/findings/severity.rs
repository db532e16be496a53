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
        // What the tool could not rate must not slip under a HIGH gate: held until triaged.
        "unknown" | "undefined" | "untriaged" | "" => {
            (Severity::High, format!("{tool} severity {label:?} is unknown; treated as HIGH until triaged"))
        }
        _ => (Severity::High, format!("{tool} severity {label:?} is not a known label; treated as HIGH until triaged")),
    };
    (sev, why)
}

/// Whether a label says nothing about severity (so a score alone decides).
fn unrated(label: &str) -> bool {
    matches!(label.trim().to_ascii_lowercase().as_str(), "unknown" | "undefined" | "untriaged" | "")
}

/// The tool's own label and, when the report has one, a CVSS score with where it came from. The
/// severity is never lower than the tool's own: when they disagree, the higher counts and the
/// reason shows both.
pub fn judged(tool: &str, label: &str, score: Option<(f64, &str)>) -> (Severity, String) {
    let scored = score.and_then(|(s, source)| from_score(s).map(|sev| (s, source, sev)));
    match scored {
        None => from_label(tool, label),
        Some((s, source, sev)) if unrated(label) => (sev, format!("CVSS {s:.1} ({source}); {tool} gave no severity")),
        Some((s, source, by_score)) => {
            let (by_label, _) = from_label(tool, label);
            if by_label == by_score {
                (by_score, format!("CVSS {s:.1} ({source}), {tool} severity {label}"))
            } else if by_label > by_score {
                (by_label, format!("{tool} severity {label}, above CVSS {s:.1} ({source}); the higher counts"))
            } else {
                (by_score, format!("CVSS {s:.1} ({source}), above {tool} severity {label}; the higher counts"))
            }
        }
    }
}

/// A SARIF effective level, read without regard to case; tools that write their own words
/// (`high`, `critical`) are read as those. Anything else is not a level: the report is refused
/// rather than the result quietly counted as INFO.
pub fn from_level(level: &str) -> Result<(Severity, String), String> {
    let why = |sev: Severity, what: &str| Ok((sev, format!("SARIF level {level}{what} (no security-severity score)")));
    match level.trim().to_ascii_lowercase().as_str() {
        "error" => why(Severity::High, ""),
        "warning" => why(Severity::Medium, ""),
        "note" => why(Severity::Low, ""),
        "none" => why(Severity::Info, ""),
        "critical" => why(Severity::Critical, ", not a SARIF level: read as the tool's own word"),
        "high" => why(Severity::High, ", not a SARIF level: read as the tool's own word"),
        "medium" | "moderate" => why(Severity::Medium, ", not a SARIF level: read as the tool's own word"),
        "low" => why(Severity::Low, ", not a SARIF level: read as the tool's own word"),
        _ => Err(format!(
            "a result has level {:?}, which is not a SARIF level (error, warning, note, none)",
            crate::findings::excerpt(level)
        )),
    }
}
