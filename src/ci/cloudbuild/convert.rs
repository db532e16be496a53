//! A build as a run: its trigger the pipeline, an approval (when the build needs one) a gate, and
//! each step a job whose stage waits for the steps its `waitFor` names (by default, every step
//! before it).

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::model::{Build, time};
use crate::domain::{GateDecision, GateInfo, JobRecord, JobStatus, RunRecord, RunRef, RunStatus, StageRecord, Trigger};
use crate::logstore::sanitize::{excerpt, plain};

/// The job key of a build's approval.
pub const APPROVAL: &str = "approval";

/// `us-central1/5f1c…`: the region and the build.
pub fn run_id(region: &str, build: &str) -> String {
    format!("{region}/{build}")
}

pub fn split_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('/').filter(|(r, b)| !r.is_empty() && !b.is_empty() && !b.contains('/'))
}

/// The region of `projects/P/locations/R/builds/ID` (`global` for the old form without one).
pub fn region_of(name: &str) -> &str {
    name.split('/').skip_while(|p| *p != "locations").nth(1).unwrap_or("global")
}

/// Each step's job key: its id, else `step-N` as Cloud Build numbers them (`Step #N`).
pub fn step_key(build: &Build, index: usize) -> String {
    build.steps.get(index).and_then(|s| s.id.clone()).map(|id| plain(&id)).unwrap_or_else(|| format!("step-{index}"))
}

pub fn run_status(b: &Build) -> RunStatus {
    let approval_pending = b.approval.as_ref().and_then(|a| a.state.as_deref()) == Some("PENDING");
    match b.status.as_str() {
        "PENDING" if approval_pending => RunStatus::Waiting,
        "PENDING" | "QUEUED" | "STATUS_UNKNOWN" | "" => RunStatus::Queued,
        "WORKING" => RunStatus::Running,
        "SUCCESS" => RunStatus::Success,
        "CANCELLED" | "EXPIRED" => RunStatus::Cancelled,
        _ => RunStatus::Failed,
    }
}

/// A step's status. Cloud Build fills it in only when the build finishes; until then its timing
/// says where it is (started: running; ended: done, since a failed step ends the build).
fn job_status(status: Option<&str>, allowed: bool, timing: Option<&super::model::TimeSpan>, run: RunStatus) -> JobStatus {
    let started = timing.is_some_and(|t| t.start_time.is_some());
    let ended = timing.is_some_and(|t| t.end_time.is_some());
    match status.filter(|s| !matches!(*s, "STATUS_UNKNOWN" | "PENDING" | "QUEUED")) {
        None if !run.is_terminal() && ended => JobStatus::Success,
        None if !run.is_terminal() && started => JobStatus::Running,
        Some("WORKING") => JobStatus::Running,
        Some("SUCCESS") => JobStatus::Success,
        Some("FAILURE") if allowed => JobStatus::FailedAllowed,
        Some("TIMEOUT") => JobStatus::TimedOut,
        Some("FAILURE" | "INTERNAL_ERROR") => JobStatus::Failed,
        Some("CANCELLED") => JobStatus::Cancelled,
        _ if run.is_terminal() => JobStatus::Skipped,
        _ => JobStatus::Pending,
    }
}

/// The whole run, from the build and the name of its trigger.
pub fn run(provider: &str, build: &Build, trigger: Option<&str>, environments: &BTreeMap<String, String>) -> RunRecord {
    let status = run_status(build);
    let region = region_of(&build.name);
    let pipeline = trigger.map(plain).unwrap_or_else(|| "(no trigger)".into());
    let subs = &build.substitutions;
    let repo = build.source.as_ref().and_then(|s| s.repo_source.as_ref());
    let git_ref = subs
        .get("BRANCH_NAME")
        .or_else(|| subs.get("TAG_NAME"))
        .or_else(|| repo.and_then(|r| r.branch_name.as_ref().or(r.tag_name.as_ref())))
        .or_else(|| subs.get("COMMIT_SHA"))
        .or_else(|| repo.and_then(|r| r.commit_sha.as_ref()))
        .filter(|r| !r.is_empty())
        .map(|r| excerpt(&plain(r), 80));
    let mut notes = Vec::new();
    if let Some(sha) = subs.get("SHORT_SHA").or_else(|| subs.get("COMMIT_SHA")) {
        notes.push(format!("commit {}", excerpt(&plain(sha), 12)));
    }
    if let Some(f) = build.failure_info.as_ref().and_then(|f| f.detail.as_deref()).filter(|d| !d.is_empty()) {
        notes.push(excerpt(&plain(f), 300));
    } else if let Some(d) = build.status_detail.as_deref().filter(|d| !d.is_empty()) {
        notes.push(excerpt(&plain(d), 300));
    }
    if !build.images.is_empty() {
        notes.push(format!("images: {}", excerpt(&plain(&build.images.join(", ")), 200)));
    }
    let created = time(build.create_time.as_deref()).unwrap_or(Timestamp::UNIX_EPOCH);
    let mut rec = RunRecord {
        id: RunRef::new(provider, run_id(region, &build.id)),
        pipeline: pipeline.clone(),
        status,
        trigger: Trigger {
            actor: "cloudbuild".into(),
            via: format!("cloudbuild {}", if build.build_trigger_id.is_some() { "trigger" } else { "manual" }),
            git_ref,
            // User substitutions (`_NAME`) are the run's inputs; the built-ins are said above.
            inputs: subs.iter().filter(|(k, _)| k.starts_with('_')).map(|(k, v)| (plain(k), excerpt(&plain(v), 200))).collect(),
        },
        created_at: created,
        started_at: time(build.start_time.as_deref()),
        finished_at: if status.is_terminal() { time(build.finish_time.as_deref()) } else { None },
        stages: Vec::new(),
        jobs: Vec::new(),
        note: (!notes.is_empty()).then(|| notes.join(" · ")),
        retried_by: Vec::new(),
        refused: BTreeMap::new(),
    };
    let url = build.log_url.as_deref().map(|u| excerpt(&plain(u), 500));
    if let Some(approval) = &build.approval {
        let decided = approval.result.as_ref().filter(|r| r.decision.as_deref().is_some_and(|d| d != "DECISION_UNSPECIFIED"));
        let state = approval.state.as_deref().unwrap_or("PENDING");
        rec.stages.push(StageRecord {
            name: APPROVAL.into(),
            needs: Vec::new(),
            gate: true,
            environment: environments.get(&pipeline).cloned(),
        });
        rec.jobs.push(JobRecord {
            key: APPROVAL.into(),
            stage: APPROVAL.into(),
            matrix: BTreeMap::new(),
            status: match state {
                "PENDING" if !status.is_terminal() => JobStatus::Waiting,
                "APPROVED" => JobStatus::Success,
                "REJECTED" => JobStatus::Failed,
                _ => JobStatus::Cancelled,
            },
            exit_code: None,
            started_at: Some(created),
            finished_at: decided.and_then(|r| time(r.approval_time.as_deref())),
            attempts: 1,
            error: (state == "REJECTED").then(|| "the build was rejected".into()),
            reports: Vec::new(),
            gate: Some(GateInfo {
                environment: environments.get(&pipeline).cloned(),
                // Cloud Build keeps a build waiting for approval until someone decides.
                deadline: None,
                decision: decided.map(|r| GateDecision {
                    approved: r.decision.as_deref() == Some("APPROVED"),
                    by: r.approver_account.as_deref().map(|a| excerpt(&plain(a), 120)).unwrap_or_else(|| "unknown".into()),
                    at: time(r.approval_time.as_deref()).unwrap_or(Timestamp::UNIX_EPOCH),
                    comment: r.comment.as_deref().map(|c| excerpt(&plain(c), 500)).unwrap_or_default(),
                }),
                refused_by_service: None,
            }),
            findings: None,
            steps: Vec::new(),
            url: url.clone(),
        });
    }
    let keys: Vec<String> = (0..build.steps.len()).map(|i| step_key(build, i)).collect();
    for (i, step) in build.steps.iter().enumerate() {
        let needs: Vec<String> = if step.wait_for.iter().any(|w| w == "-") {
            Vec::new()
        } else if step.wait_for.is_empty() {
            // By default a step waits for every step before it: the one before stands for them.
            keys.get(i.wrapping_sub(1)).cloned().into_iter().collect()
        } else {
            step.wait_for.iter().map(|w| plain(w)).collect()
        };
        let needs = if needs.is_empty() && build.approval.is_some() { vec![APPROVAL.to_string()] } else { needs };
        rec.stages.push(StageRecord { name: keys[i].clone(), needs, gate: false, environment: None });
        let job_status = job_status(step.status.as_deref(), step.allow_failure, step.timing.as_ref(), status);
        let timing = step.timing.as_ref();
        rec.jobs.push(JobRecord {
            key: keys[i].clone(),
            stage: keys[i].clone(),
            matrix: BTreeMap::new(),
            status: job_status,
            exit_code: step.exit_code,
            started_at: time(timing.and_then(|t| t.start_time.as_deref())),
            finished_at: time(timing.and_then(|t| t.end_time.as_deref())).filter(|_| job_status.is_terminal()),
            attempts: 1,
            error: matches!(job_status, JobStatus::Failed | JobStatus::TimedOut).then(|| {
                let code = step.exit_code.map(|c| format!(" (exit code {c})")).unwrap_or_default();
                format!("step {} failed{code}", excerpt(&plain(&step.name), 120))
            }),
            reports: Vec::new(),
            gate: None,
            findings: None,
            steps: Vec::new(),
            url: url.clone(),
        });
    }
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_split_as_cloud_build_writes_them() {
        assert_eq!(region_of("projects/p/locations/us-central1/builds/abc"), "us-central1");
        assert_eq!(region_of("projects/p/builds/abc"), "global");
        assert_eq!(split_id("us-central1/abc"), Some(("us-central1", "abc")));
        assert_eq!(split_id("abc"), None);
    }
}
