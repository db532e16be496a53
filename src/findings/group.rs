//! The same finding reported by two tools is one finding with two tools, not two.

use std::collections::HashMap;

use super::{Finding, FindingKind};

fn key(f: &Finding) -> (String, String) {
    match f.kind {
        FindingKind::Vulnerability => (f.id.to_ascii_uppercase(), f.package.clone().unwrap_or_default().to_ascii_lowercase()),
        _ => (f.id.clone(), f.location.clone()),
    }
}

/// Groups findings, keeping the highest severity (and its reason) and every tool and report.
/// The result is sorted most severe first.
pub fn group(findings: Vec<Finding>) -> Vec<Finding> {
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut out: Vec<Finding> = Vec::with_capacity(findings.len());
    for f in findings {
        match index.get(&key(&f)) {
            Some(&i) => {
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
                index.insert(key(&f), out.len());
                out.push(f);
            }
        }
    }
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)).then_with(|| a.location.cmp(&b.location)));
    out
}
