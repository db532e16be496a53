//! The same finding reported by two tools is one finding with two tools, not two; grouping never
//! hides a finding (another version, or another copy the same tool found, stays separate).

use std::collections::HashMap;

use super::{Finding, FindingKind};

/// What makes two reports the same finding: the id and, for a vulnerability, the package and its
/// installed version (another version is another finding, which a fix or an acceptance treats
/// apart); for code, the location.
fn key(f: &Finding) -> (String, String) {
    match f.kind {
        FindingKind::Vulnerability => (
            f.id.to_ascii_uppercase(),
            format!(
                "{}@{}",
                f.package.clone().unwrap_or_default().to_ascii_lowercase(),
                f.installed.clone().unwrap_or_default().to_ascii_lowercase()
            ),
        ),
        _ => (f.id.clone(), f.location.clone()),
    }
}

/// Whether `f` joins the group `g` of the same key: another tool's report of it does; the same
/// tool's report of another copy (another target or path) stays a finding of its own.
fn joins(g: &Finding, f: &Finding) -> bool {
    !(g.tools.iter().any(|t| t == f.tool()) && (g.target != f.target || g.location != f.location))
}

/// Groups findings, keeping the highest severity (and its reason) and every tool and report.
/// The result is sorted most severe first.
pub fn group(findings: Vec<Finding>) -> Vec<Finding> {
    let mut index: HashMap<(String, String), Vec<usize>> = HashMap::new();
    let mut out: Vec<Finding> = Vec::with_capacity(findings.len());
    for f in findings {
        let k = key(&f);
        let found = index.get(&k).and_then(|candidates| candidates.iter().copied().find(|&i| joins(&out[i], &f)));
        match found {
            Some(i) => {
                let g = &mut out[i];
                for t in f.tools {
                    if !g.tools.contains(&t) {
                        g.tools.push(t);
                    }
                }
                for r in f.reports {
                    if !g.reports.contains(&r) {
                        g.reports.push(r);
                    }
                }
                if f.severity > g.severity {
                    g.severity = f.severity;
                    g.severity_reason = f.severity_reason;
                    g.raw_severity = f.raw_severity;
                }
                if g.fixed.is_none() {
                    g.fixed = f.fixed;
                }
                if g.url.is_none() {
                    g.url = f.url;
                }
                // Suppressed only if every tool says so.
                if f.suppressed.is_none() {
                    g.suppressed = None;
                }
            }
            None => {
                index.entry(k).or_default().push(out.len());
                out.push(f);
            }
        }
    }
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)).then_with(|| a.location.cmp(&b.location)));
    out
}
