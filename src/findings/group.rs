//! The same finding reported by two tools is one finding with two tools, not two; grouping never
//! hides a finding (another version, or another copy the same tool found, stays separate).

use std::collections::HashMap;

use super::{Finding, FindingKind};

/// What makes two reports the same finding: the id and, for a vulnerability, the package and its
/// installed version (another version is another finding, which a fix or an acceptance treats
/// apart); for code, the location. Compared case-insensitively for vulnerabilities, without
/// copying anything: a report may hold 100,000 findings.
fn same_key(a: &Finding, b: &Finding) -> bool {
    match (a.kind, b.kind) {
        (FindingKind::Vulnerability, FindingKind::Vulnerability) => {
            let eq = |x: &Option<String>, y: &Option<String>| x.as_deref().unwrap_or("").eq_ignore_ascii_case(y.as_deref().unwrap_or(""));
            a.id.eq_ignore_ascii_case(&b.id) && eq(&a.package, &b.package) && eq(&a.installed, &b.installed)
        }
        (FindingKind::Vulnerability, _) | (_, FindingKind::Vulnerability) => false,
        _ => a.id == b.id && a.location == b.location,
    }
}

/// A hash agreeing with `same_key`.
fn key_hash(f: &Finding) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let folded = |s: &str, h: &mut std::collections::hash_map::DefaultHasher| {
        for b in s.bytes() {
            b.to_ascii_lowercase().hash(h);
        }
        0xffu8.hash(h);
    };
    match f.kind {
        FindingKind::Vulnerability => {
            folded(&f.id, &mut h);
            folded(f.package.as_deref().unwrap_or(""), &mut h);
            folded(f.installed.as_deref().unwrap_or(""), &mut h);
        }
        _ => (1u8, &f.id, &f.location).hash(&mut h),
    }
    h.finish()
}

/// Whether `f` joins the group `g` of the same key: another tool's report of it does; the same
/// tool's report of another copy (another target or path) stays a finding of its own.
fn joins(g: &Finding, f: &Finding) -> bool {
    !(g.tools.iter().any(|t| t == f.tool()) && (g.target != f.target || g.location != f.location))
}

/// Groups findings, keeping the highest severity (and its reason) and every tool and report.
/// The result is sorted most severe first. Works in place: a report of 100,000 findings is not
/// held twice.
pub fn group(mut findings: Vec<Finding>) -> Vec<Finding> {
    // Each key hash names the first and the last group opened under it, and `later` chains the
    // groups of one hash in the order they were opened: a few numbers per finding, no list per
    // key. Candidates are tried oldest first.
    const NONE: u32 = u32::MAX;
    let mut index: HashMap<u64, (u32, u32)> = HashMap::with_capacity(findings.len());
    let mut later: Vec<u32> = vec![NONE; findings.len()];
    let mut keep = vec![true; findings.len()];
    for i in 0..findings.len() {
        let k = key_hash(&findings[i]);
        let mut candidate = index.get(&k).map_or(NONE, |&(first, _)| first);
        let mut found = None;
        while candidate != NONE {
            let j = candidate as usize;
            if same_key(&findings[j], &findings[i]) && joins(&findings[j], &findings[i]) {
                found = Some(j);
                break;
            }
            candidate = later[j];
        }
        match found {
            Some(j) => {
                // j < i: the group was opened by an earlier finding.
                let (before, from_i) = findings.split_at_mut(i);
                merge(&mut before[j], &from_i[0]);
                keep[i] = false;
            }
            None => match index.get_mut(&k) {
                Some((_, last)) => {
                    later[*last as usize] = i as u32;
                    *last = i as u32;
                }
                None => {
                    index.insert(k, (i as u32, i as u32));
                }
            },
        }
    }
    drop(later);
    drop(index);
    let mut kept = keep.into_iter();
    findings.retain(|_| kept.next().unwrap_or(true));
    // In place (a stable sort would borrow half the findings' size again), ordered fully enough
    // that equal-looking findings still come out the same way every time.
    findings.sort_unstable_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.location.cmp(&b.location))
            .then_with(|| a.package.cmp(&b.package))
            .then_with(|| a.installed.cmp(&b.installed))
            .then_with(|| a.target.cmp(&b.target))
            .then_with(|| a.tools.cmp(&b.tools))
            .then_with(|| a.title.cmp(&b.title))
    });
    findings
}

/// Folds `f` into its group `g`.
fn merge(g: &mut Finding, f: &Finding) {
    for t in &f.tools {
        if !g.tools.contains(t) {
            g.tools.push(t.clone());
        }
    }
    for r in &f.reports {
        if !g.reports.contains(r) {
            g.reports.push(r.clone());
        }
    }
    if f.severity > g.severity {
        g.severity = f.severity;
        g.severity_reason = f.severity_reason.clone();
        g.raw_severity = f.raw_severity.clone();
    }
    if g.fixed.is_none() {
        g.fixed = f.fixed.clone();
    }
    if g.url.is_none() {
        g.url = f.url.clone();
    }
    // Suppressed only if every tool says so.
    if f.suppressed.is_none() {
        g.suppressed = None;
    }
}
