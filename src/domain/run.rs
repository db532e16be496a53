use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    /// Waiting on a manual gate and nothing else is running.
    Waiting,
    Success,
    Failed,
    Cancelled,
    /// The process running it died; the run will never finish by itself.
    Interrupted,
}

impl RunStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, RunStatus::Success | RunStatus::Failed | RunStatus::Cancelled | RunStatus::Interrupted)
    }
    /// The status as one glyph, for lists and plain text (never the only signal: see `label`).
    pub fn glyph(self) -> &'static str {
        match self {
            RunStatus::Queued => "○",
            RunStatus::Running => "●",
            RunStatus::Waiting => "⏸",
            RunStatus::Success => "✓",
            RunStatus::Failed => "✗",
            RunStatus::Cancelled => "⊘",
            RunStatus::Interrupted => "⚠",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Waiting => "waiting",
            RunStatus::Success => "success",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Running,
    /// A gate waiting for a decision.
    Waiting,
    Success,
    Failed,
    /// Failed, but the stage allows failure so the run goes on.
    FailedAllowed,
    TimedOut,
    Cancelled,
    /// Not run because something it needs did not succeed.
    Skipped,
    Interrupted,
}

impl JobStatus {
    pub fn is_terminal(self) -> bool {
        !matches!(self, JobStatus::Pending | JobStatus::Running | JobStatus::Waiting)
    }
    /// Whether jobs that need this one may start.
    pub fn satisfies_needs(self) -> bool {
        matches!(self, JobStatus::Success | JobStatus::FailedAllowed)
    }
    /// Whether a retry should run this job again.
    pub fn is_retryable(self) -> bool {
        matches!(self, JobStatus::Failed | JobStatus::TimedOut | JobStatus::Cancelled | JobStatus::Skipped | JobStatus::Interrupted)
    }
    /// The status as one glyph, for lists and plain text (never the only signal: see `label`).
    pub fn glyph(self) -> &'static str {
        match self {
            JobStatus::Pending => "○",
            JobStatus::Running => "●",
            JobStatus::Waiting => "⏸",
            JobStatus::Success => "✓",
            JobStatus::Failed => "✗",
            JobStatus::FailedAllowed => "!",
            JobStatus::TimedOut => "⧗",
            JobStatus::Cancelled => "⊘",
            JobStatus::Skipped => "↷",
            JobStatus::Interrupted => "⚠",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Waiting => "waiting",
            JobStatus::Success => "success",
            JobStatus::Failed => "failed",
            JobStatus::FailedAllowed => "failed (allowed)",
            JobStatus::TimedOut => "timed out",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Skipped => "skipped",
            JobStatus::Interrupted => "interrupted",
        }
    }
}

/// Who started a run and from where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Trigger {
    pub actor: String,
    /// `tui`, `cli`, `demo` …
    pub via: String,
    /// The branch, tag or commit to run (CI services that run a repository's workflows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// The workflow's inputs (GitHub's `workflow_dispatch` inputs).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRecord {
    pub name: String,
    #[serde(default)]
    pub needs: Vec<String>,
    #[serde(default)]
    pub gate: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateDecision {
    pub approved: bool,
    pub by: String,
    pub at: Timestamp,
    #[serde(default)]
    pub comment: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// When the gate gives up waiting (if it has a timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<GateDecision>,
    /// Why the CI service itself would refuse this user's decision (not a required reviewer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_by_service: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Unique within the run: the stage name, plus the matrix values when expanded.
    pub key: String,
    pub stage: String,
    #[serde(default)]
    pub matrix: BTreeMap<String, String>,
    pub status: JobStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// How many times the job's command was started (automatic retries and manual ones).
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateInfo>,
    /// What the job's scan reports said (their full findings are stored beside the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<FindingsSummary>,
    /// The steps a CI service reports inside the job (GitHub Actions), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepRecord>,
    /// Where the CI service shows the job (its web page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// One step of a job, as a CI service reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: String,
    pub status: JobStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ReportSummary {
    pub path: String,
    pub format: String,
    pub tool: String,
    pub findings: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FindingsSummary {
    pub counts: crate::findings::Counts,
    pub reports: Vec<ReportSummary>,
    /// Reports that could not be read, with why (the gate fails closed on these).
    #[serde(default)]
    pub errors: Vec<String>,
}

impl JobRecord {
    /// `stage (a=1, b=2)` for display.
    pub fn display_name(&self) -> String {
        if self.matrix.is_empty() {
            self.stage.clone()
        } else {
            let vals: Vec<&str> = self.matrix.values().map(String::as_str).collect();
            format!("{} ({})", self.stage, vals.join(", "))
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: super::RunRef,
    pub pipeline: String,
    pub status: RunStatus,
    pub trigger: Trigger,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    pub stages: Vec<StageRecord>,
    pub jobs: Vec<JobRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Who started each retry: with the trigger's actor, the people four-eyes keeps from
    /// approving this run's gates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retried_by: Vec<String>,
    /// Changes the CI service would refuse this user (`trigger`, `cancel`, `retry` → why), known
    /// before anything is tried.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refused: BTreeMap<String, String>,
}

impl RunRecord {
    /// Everyone who started an attempt of this run.
    pub fn started_by(&self) -> Vec<String> {
        let mut all = vec![self.trigger.actor.clone()];
        all.extend(self.retried_by.iter().cloned());
        all
    }

    /// Whether this run comes before `other` in a newest-first list: the local runner's by
    /// number, runs of different providers by when they were created.
    pub fn is_newer_than(&self, other: &RunRecord) -> bool {
        match (self.id.local_number(), other.id.local_number()) {
            (Some(a), Some(b)) => a > b,
            _ => (self.created_at, &self.id) > (other.created_at, &other.id),
        }
    }

    pub fn job(&self, key: &str) -> Option<&JobRecord> {
        self.jobs.iter().find(|j| j.key == key)
    }
    pub fn job_mut(&mut self, key: &str) -> Option<&mut JobRecord> {
        self.jobs.iter_mut().find(|j| j.key == key)
    }
    pub fn jobs_of<'a>(&'a self, stage: &'a str) -> impl Iterator<Item = &'a JobRecord> + 'a {
        self.jobs.iter().filter(move |j| j.stage == stage)
    }
    /// Gates currently waiting for a decision.
    pub fn waiting_gates(&self) -> impl Iterator<Item = &JobRecord> {
        self.jobs.iter().filter(|j| j.status == JobStatus::Waiting)
    }

    /// Derives the run status from its jobs (the single rule used everywhere).
    pub fn derive_status(&self) -> RunStatus {
        let any = |s: JobStatus| self.jobs.iter().any(|j| j.status == s);
        if any(JobStatus::Running) {
            return RunStatus::Running;
        }
        if any(JobStatus::Waiting) {
            return RunStatus::Waiting;
        }
        if any(JobStatus::Pending) {
            return if self.started_at.is_some() { RunStatus::Running } else { RunStatus::Queued };
        }
        if any(JobStatus::Interrupted) {
            RunStatus::Interrupted
        } else if any(JobStatus::Cancelled) {
            RunStatus::Cancelled
        } else if any(JobStatus::Failed) || any(JobStatus::TimedOut) {
            RunStatus::Failed
        } else {
            RunStatus::Success
        }
    }
}
