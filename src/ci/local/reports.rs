//! A stage's declared reports, read when it ends: parsed off the async threads, completed from
//! the servers they point to (a SonarQube analysis, an image's registry), stored with the run, and
//! summarised for the job record.

use std::time::Duration;

use jiff::Timestamp;

use super::*;

/// Parses the job's declared reports (off the async threads), stores them with the run, and
/// summarises them for the job record.
pub(super) async fn read_reports(
    inner: &Arc<Inner>,
    rec: &RunRecord,
    key: &str,
    cwd: &std::path::Path,
    reports: &[String],
    since: Option<Timestamp>,
) -> crate::domain::FindingsSummary {
    let (inner2, cwd2, reports2) = (inner.clone(), cwd.to_path_buf(), reports.to_vec());
    let parsed = tokio::task::spawn_blocking(move || {
        let max = inner2.config.findings.max_report_bytes;
        let mut jf = store::JobFindings::default();
        for r in &reports2 {
            if let Some(stale) = since.and_then(|s| stale_report(&cwd2.join(r), s)) {
                jf.errors.push(crate::findings::ReportError { path: r.clone(), problem: stale });
                continue;
            }
            match crate::findings::read_report(&cwd2.join(r), r, max) {
                Ok(p) => jf.reports.push(p),
                Err(e) => jf.errors.push(e),
            }
        }
        jf
    })
    .await
    .unwrap_or_else(|e| store::JobFindings {
        reports: vec![],
        errors: vec![crate::findings::ReportError { path: reports.join(", "), problem: format!("internal error: {e}") }],
    });
    let mut parsed = parsed;
    // A SonarQube analysis is judged on its server: asked once, when the stage ends, and kept.
    crate::findings::sonar::resolve_all(&mut parsed.reports, crate::findings::sonar::ANALYSIS_WAIT).await;
    // The image the build pushed: its signatures and attestations, as the registry holds them now.
    crate::findings::registry::read_all(
        &mut parsed.reports,
        &crate::findings::registry_auth::Keychain::from_env(),
        Duration::from_secs(20),
    )
    .await;
    if parsed.reports.iter().any(|r| r.coverage.is_some())
        && let Some(base) = inner.config.findings.diff_base.clone()
    {
        let diff = changes_since(cwd, &base).await;
        for c in parsed.reports.iter_mut().filter_map(|r| r.coverage.as_mut()) {
            match &diff {
                Ok(added) => c.judge_changed(added, &base),
                Err(e) => {
                    c.changed =
                        Some(crate::findings::ChangedCoverage { base: base.clone(), problem: Some(e.clone()), ..Default::default() });
                    c.per_file.clear();
                }
            }
        }
    }
    let (inner2, rec2, key2) = (inner.clone(), rec.clone(), key.to_string());
    let saved = tokio::task::spawn_blocking(move || {
        let result = inner2.store.save_findings(&rec2, &key2, &parsed).map_err(|e| e.to_string());
        (parsed, result)
    })
    .await;
    let mut parsed = match saved {
        Ok((mut parsed, Err(e))) => {
            parsed.errors.push(crate::findings::ReportError { path: reports.join(", "), problem: e });
            parsed
        }
        Ok((parsed, Ok(()))) => parsed,
        Err(e) => store::JobFindings {
            reports: vec![],
            errors: vec![crate::findings::ReportError { path: reports.join(", "), problem: format!("internal error: {e}") }],
        },
    };
    let reports = parsed
        .reports
        .iter()
        .map(|r| crate::domain::ReportSummary {
            path: r.path.clone(),
            format: r.format.name().into(),
            tool: r.tool.clone(),
            findings: r.findings.len(),
        })
        .collect();
    // The findings are stored; what stays is their counts (taken, not copied: a large report is
    // not held twice).
    let mut all: Vec<crate::findings::Finding> = Vec::new();
    for r in &mut parsed.reports {
        if all.is_empty() {
            all = std::mem::take(&mut r.findings);
        } else {
            all.append(&mut r.findings);
        }
    }
    crate::domain::FindingsSummary {
        counts: crate::findings::Counts::of(crate::findings::group(all).iter().filter(|f| f.suppressed.is_none())),
        reports,
        errors: parsed.errors.iter().map(|e| e.to_string()).collect(),
    }
}

/// Why a report is a leftover: written before the stage started (by an earlier run), so it says
/// nothing about this one. A second of slack covers coarse file-system clocks.
fn stale_report(path: &std::path::Path, stage_started: Timestamp) -> Option<String> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let written = Timestamp::try_from(modified).ok()?;
    (written.as_second() + 1 < stage_started.as_second()).then(|| {
        format!(
            "the report was written at {}, before this stage started at {}: it is left from an earlier run, so it was not used \
             (the stage must write it, or set reports_may_predate = true)",
            written.strftime("%Y-%m-%d %H:%M:%S UTC"),
            stage_started.strftime("%H:%M:%S UTC")
        )
    })
}

/// The lines the workspace adds since `base` (committed or not), from git.
async fn changes_since(cwd: &std::path::Path, base: &str) -> Result<std::collections::BTreeMap<String, Vec<u64>>, String> {
    if base.starts_with('-') {
        return Err(format!("`{base}` is not a revision"));
    }
    let run = tokio::process::Command::new("git")
        .arg("-C")
        .arg(cwd)
        .args(["diff", "--unified=0", "--no-color", "--no-ext-diff", "--no-renames", base, "--"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .map_err(|_| "git diff took over 60 s".to_string())?
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        let said = crate::logstore::sanitize::excerpt(String::from_utf8_lossy(&out.stderr).trim(), 200);
        return Err(format!("git diff {base} failed: {said}"));
    }
    Ok(crate::findings::added_lines(&String::from_utf8_lossy(&out.stdout)))
}
