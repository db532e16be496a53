//! A GitHub workflow run as flightdeck's run: its jobs and steps, and each environment it waits
//! on as a gate (GitHub's deployment reviews), with the reviews already given.

use jiff::Timestamp;

use super::model::{Approval, Job, PendingDeployment, Run, Step};
use crate::domain::{GateDecision, GateInfo, JobRecord, JobStatus, RunRecord, RunRef, StageRecord, StepRecord, Trigger};
use crate::logstore::sanitize;

/// The run reference of a repository's run: `gh:owner/repo:123`.
pub fn run_ref(provider: &str, repo: &str, id: u64) -> RunRef {
    RunRef::new(provider, format!("{repo}:{id}"))
}

/// `owner/repo:123` → (`owner/repo`, 123).
pub fn split_id(id: &str) -> Option<(&str, u64)> {
    let (repo, n) = id.rsplit_once(':')?;
    repo.contains('/').then_some(())?;
    Some((repo, n.parse().ok()?))
}

/// The pipeline a run belongs to: `owner/repo:deploy.yml`.
pub fn pipeline_of(repo: &str, run: &Run) -> String {
    let path = run.path.as_deref().unwrap_or_default();
    let file = path.split('@').next().unwrap_or(path).rsplit('/').next().unwrap_or(path);
    format!("{repo}:{}", if file.is_empty() { run.workflow_id.to_string() } else { file.to_string() })
}

fn ts(s: Option<&str>) -> Option<Timestamp> {
    s.and_then(|s| s.parse().ok())
}

/// GitHub's status and conclusion of a job or step as one status.
pub fn status_of(status: &str, conclusion: Option<&str>) -> JobStatus {
    match (status, conclusion) {
        ("completed", Some("success")) => JobStatus::Success,
        ("completed", Some("skipped" | "neutral")) => JobStatus::Skipped,
        ("completed", Some("cancelled")) => JobStatus::Cancelled,
        ("completed", Some("timed_out")) => JobStatus::TimedOut,
        ("completed", Some("action_required")) => JobStatus::Waiting,
        ("completed", _) => JobStatus::Failed,
        ("in_progress", _) => JobStatus::Running,
        ("waiting", _) => JobStatus::Waiting,
        _ => JobStatus::Pending,
    }
}

fn step(s: &Step) -> StepRecord {
    StepRecord {
        name: sanitize::excerpt(&s.name, 200),
        status: status_of(&s.status, s.conclusion.as_deref()),
        started_at: ts(s.started_at.as_deref()),
        finished_at: ts(s.completed_at.as_deref()),
    }
}

/// The job's key: its name, made unique within the run (GitHub allows two jobs of one name).
fn job_key(job: &Job, taken: &[JobRecord]) -> String {
    let name = sanitize::excerpt(&job.name, 200);
    if taken.iter().any(|j| j.key == name) { format!("{name} #{}", job.id) } else { name }
}

/// The gate of a run GitHub holds until someone lets a first-time contributor's workflow run.
pub const FIRST_TIMER_GATE: &str = "let a first-time contributor's run start";

/// The key of the gate an environment review is: the environment's name, as `--gate` takes it.
pub fn gate_key(environment: &str) -> String {
    format!("environment {environment}")
}

pub struct RunParts<'a> {
    pub provider: &'a str,
    pub repo: &'a str,
    pub run: &'a Run,
    pub jobs: &'a [Job],
    pub pending: &'a [PendingDeployment],
    pub approvals: &'a [Approval],
    /// The artifacts holding the scan reports that judge the run's gates.
    pub reports: &'a [String],
    /// What the user's access to the repository does not allow.
    pub refused: &'a std::collections::BTreeMap<String, String>,
}

pub fn record(p: RunParts<'_>) -> RunRecord {
    let run = p.run;
    let actor = run.triggering_actor.as_ref().or(run.actor.as_ref()).map(|u| u.login.clone()).unwrap_or_else(|| "github".into());
    let mut jobs: Vec<JobRecord> = Vec::new();
    for j in p.jobs {
        let key = job_key(j, &jobs);
        jobs.push(JobRecord {
            key: key.clone(),
            stage: key,
            matrix: Default::default(),
            // A job GitHub holds for a review is not itself the gate: the environment is.
            status: match status_of(&j.status, j.conclusion.as_deref()) {
                JobStatus::Waiting => JobStatus::Pending,
                s => s,
            },
            exit_code: None,
            started_at: ts(j.started_at.as_deref()).filter(|_| j.status != "queued" && j.status != "waiting"),
            finished_at: ts(j.completed_at.as_deref()),
            attempts: j.run_attempt.unwrap_or(1),
            error: None,
            reports: Vec::new(),
            gate: None,
            findings: None,
            steps: j.steps.iter().map(step).collect(),
            url: Some(format!("{}/job/{}", run.html_url, j.id)),
        });
    }
    // Each environment waiting for a review is a gate; each review given, a decided one.
    for d in p.pending {
        let env = sanitize::excerpt(&d.environment.name, 100);
        let deadline = ts(d.wait_timer_started_at.as_deref())
            .filter(|_| d.wait_timer > 0)
            .map(|t| t + jiff::SignedDuration::from_secs(d.wait_timer as i64 * 60));
        let reviewers: Vec<String> = d.reviewers.iter().map(|r| r.describe()).collect();
        jobs.push(JobRecord {
            key: gate_key(&env),
            stage: gate_key(&env),
            matrix: Default::default(),
            status: JobStatus::Waiting,
            exit_code: None,
            started_at: ts(d.wait_timer_started_at.as_deref()).or(ts(run.updated_at.as_str().into())),
            finished_at: None,
            attempts: 1,
            error: Some(format!(
                "GitHub: required reviewers {}; {}",
                if reviewers.is_empty() { "none listed".into() } else { sanitize::excerpt(&reviewers.join(", "), 300) },
                if d.current_user_can_approve { "your token may approve" } else { "your token may NOT approve" }
            )),
            reports: p.reports.iter().map(|a| format!("artifact {a}")).collect(),
            gate: Some(GateInfo {
                environment: Some(env),
                deadline,
                decision: None,
                refused_by_service: (!d.current_user_can_approve).then(|| {
                    format!(
                        "GitHub: this token's user is not among the required reviewers ({})",
                        sanitize::excerpt(&reviewers.join(", "), 300)
                    )
                }),
            }),
            findings: None,
            steps: Vec::new(),
            url: Some(run.html_url.clone()),
        });
    }
    // A fork's first contribution: nothing runs until someone with write access says so.
    if run.conclusion.as_deref() == Some("action_required") && run.status.as_deref() == Some("completed") {
        jobs.push(JobRecord {
            key: FIRST_TIMER_GATE.into(),
            stage: FIRST_TIMER_GATE.into(),
            matrix: Default::default(),
            status: JobStatus::Waiting,
            exit_code: None,
            started_at: ts(Some(&run.updated_at)),
            finished_at: None,
            attempts: 1,
            error: Some(
                "GitHub holds this run from a first-time contributor's fork: nothing has run yet. Approving lets its \
                 workflow run with this repository's runners; read the change first."
                    .into(),
            ),
            reports: Vec::new(),
            gate: Some(GateInfo { environment: None, deadline: None, decision: None, refused_by_service: None }),
            findings: None,
            steps: Vec::new(),
            url: Some(run.html_url.clone()),
        });
    }
    for a in p.approvals {
        for env in &a.environments {
            let key = gate_key(&sanitize::excerpt(&env.name, 100));
            if jobs.iter().any(|j| j.key == key) {
                continue;
            }
            let approved = a.state == "approved";
            jobs.push(JobRecord {
                key: key.clone(),
                stage: key,
                matrix: Default::default(),
                status: if approved { JobStatus::Success } else { JobStatus::Failed },
                exit_code: None,
                started_at: None,
                finished_at: None,
                attempts: 1,
                error: None,
                reports: Vec::new(),
                gate: Some(GateInfo {
                    environment: Some(sanitize::excerpt(&env.name, 100)),
                    deadline: None,
                    decision: Some(GateDecision {
                        approved,
                        by: format!("github:{}", a.user.login),
                        at: ts(Some(&run.updated_at)).unwrap_or_else(Timestamp::now),
                        comment: sanitize::excerpt(&a.comment, 500),
                    }),
                    refused_by_service: None,
                }),
                findings: None,
                steps: Vec::new(),
                url: Some(run.html_url.clone()),
            });
        }
    }
    let stages = jobs
        .iter()
        .map(|j| StageRecord {
            name: j.key.clone(),
            needs: Vec::new(),
            gate: j.gate.is_some(),
            environment: j.gate.as_ref().and_then(|g| g.environment.clone()),
        })
        .collect();
    let title = run.display_title.as_deref().or(run.name.as_deref()).unwrap_or_default();
    let mut rec = RunRecord {
        id: run_ref(p.provider, p.repo, run.id),
        pipeline: pipeline_of(p.repo, run),
        status: crate::domain::RunStatus::Queued,
        trigger: Trigger {
            actor: format!("github:{actor}"),
            via: format!("github {}", sanitize::excerpt(&run.event, 40)),
            git_ref: run.head_branch.clone(),
            ..Default::default()
        },
        created_at: ts(Some(&run.created_at)).unwrap_or_else(Timestamp::now),
        started_at: ts(run.run_started_at.as_deref()),
        finished_at: (run.status.as_deref() == Some("completed")).then(|| ts(Some(&run.updated_at))).flatten(),
        stages,
        jobs,
        note: Some(format!(
            "{} · {} @ {} · attempt {}",
            sanitize::excerpt(title, 120),
            sanitize::excerpt(run.head_branch.as_deref().unwrap_or("-"), 80),
            run.head_sha.get(..7).unwrap_or(&run.head_sha),
            run.run_attempt.unwrap_or(1)
        )),
        retried_by: Vec::new(),
        refused: p.refused.clone(),
    };
    rec.status = run_status(run, &rec);
    rec
}

/// The run's status: GitHub's own while it runs or when it is done; jobs say more in between.
fn run_status(run: &Run, rec: &RunRecord) -> crate::domain::RunStatus {
    use crate::domain::RunStatus as S;
    match (run.status.as_deref(), run.conclusion.as_deref()) {
        (Some("completed"), Some("success")) => S::Success,
        (Some("completed"), Some("cancelled")) => S::Cancelled,
        (Some("completed"), Some("action_required")) => S::Waiting,
        (Some("completed"), _) => S::Failed,
        (Some("waiting"), _) => S::Waiting,
        (Some("queued" | "requested" | "pending"), _) => S::Queued,
        _ => match rec.derive_status() {
            S::Success | S::Failed | S::Cancelled | S::Interrupted => S::Running,
            s => s,
        },
    }
}
