//! The CI seam: list pipelines and runs, trigger, cancel, retry, decide gates, read logs, watch.
//! Each provider is built with the channel it reports `RunEvent`s on; the `Registry` holds every
//! configured provider and is itself a provider, so the cockpit and the command line talk to one
//! thing and never know which provider answers.

pub mod cloudbuild;
pub mod codepipeline;
pub mod form;
pub mod github;
pub mod local;
mod registry;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::domain::{GateDecision, RunRecord, RunRef, Trigger};
use crate::logstore::RawLine;
pub use registry::Registry;

#[derive(Clone, Debug)]
pub enum RunEvent {
    /// A run was created or changed (status, a job's status …).
    Updated(Box<RunRecord>),
    /// New log lines of one job.
    Log { run: RunRef, job: String, lines: Vec<RawLine> },
    /// A job's log already held this many lines when following began: they are on disk (read
    /// through its index when shown), and the `Log` events that follow continue from there.
    LogSkipped { run: RunRef, job: String, lines: u64 },
    /// Something went wrong that the user must hear about (e.g. a log could not be written).
    Problem { run: Option<RunRef>, message: String },
}

#[derive(Debug, thiserror::Error)]
pub enum CiError {
    #[error("no pipeline named `{name}` (configured: {known})")]
    UnknownPipeline { name: String, known: String },
    #[error("run #{0} does not exist")]
    NoSuchRun(RunRef),
    #[error("run #{run} has no job `{job}`")]
    NoSuchJob { run: RunRef, job: String },
    #[error("run #{run} is {status}; {what}")]
    WrongState { run: RunRef, status: String, what: String },
    #[error("run #{run} is being executed by another flightdeck process (pid {pid})")]
    OwnedElsewhere { run: RunRef, pid: u32 },
    #[error("no CI provider named `{provider}` is configured (configured: {known})")]
    UnknownProvider { provider: String, known: String },
    #[error("`{id}` could be a run of {candidates}; say which, e.g. {example}")]
    Ambiguous { id: String, candidates: String, example: String },
    #[error("{0}")]
    AlreadyDecided(Box<DecidedGate>),
    #[error("pipeline `{name}` exists in {providers}; say which, e.g. {example}")]
    AmbiguousPipeline { name: String, providers: String, example: String },
    #[error("{context}: {source}")]
    Storage { context: String, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

impl CiError {
    pub fn storage(context: impl Into<String>, source: std::io::Error) -> CiError {
        CiError::Storage { context: context.into(), source }
    }
}

/// A gate someone else decided first.
#[derive(Debug, thiserror::Error)]
#[error("gate `{gate}` of run #{run} was already {verdict} by {by} at {at}; this decision was not applied")]
pub struct DecidedGate {
    pub run: RunRef,
    pub gate: String,
    pub verdict: String,
    pub by: String,
    pub at: String,
}

/// Why the gate `job` of `rec` cannot be decided now: someone decided it (who, when), or it is
/// not waiting — for a CI service that tells only "not pending" when a decision comes too late.
pub fn not_waiting(rec: &RunRecord, job: &str) -> CiError {
    let run = &rec.id;
    match rec.jobs.iter().find(|j| j.key == job) {
        Some(j) => match j.gate.as_ref().and_then(|g| g.decision.as_ref()) {
            Some(d) => CiError::AlreadyDecided(Box::new(DecidedGate {
                run: run.clone(),
                gate: job.to_string(),
                verdict: if d.approved { "approved".into() } else { "rejected".into() },
                by: d.by.clone(),
                at: d.at.to_string(),
            })),
            None => CiError::WrongState {
                run: run.clone(),
                status: j.status.label().to_string(),
                what: format!("`{job}` is not waiting for a decision"),
            },
        },
        None => CiError::NoSuchJob { run: run.clone(), job: job.to_string() },
    }
}

/// The text a CI service keeps with a decision (who, through flightdeck, why), cut to `limit`
/// characters.
pub fn decision_text(d: &GateDecision, limit: usize) -> String {
    let text = format!("{} by {} via flightdeck: {}", if d.approved { "approved" } else { "rejected" }, d.by, d.comment);
    text.chars().take(limit).collect()
}

/// What a retry runs again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RetryScope {
    /// The jobs that failed, were cancelled or skipped.
    #[default]
    Failed,
    /// The whole run.
    All,
    /// One job.
    Job(String),
}

impl RetryScope {
    pub fn describe(&self) -> String {
        match self {
            RetryScope::Failed => "the failed jobs".into(),
            RetryScope::All => "every job".into(),
            RetryScope::Job(j) => format!("job `{j}`"),
        }
    }
}

/// Which runs to list: newest first, at most `limit`, older than the cursor a previous page gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunQuery {
    pub pipeline: Option<String>,
    /// 0: every run.
    pub limit: usize,
    /// `RunPage::next` of the previous page.
    pub after: Option<String>,
    /// Only the runs that match every one given.
    pub filter: RunFilter,
}

/// What runs to keep besides the pipeline: a CI service asks its server for them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// The branch or tag the run is for.
    pub branch: Option<String>,
    /// What started it (`push`, `workflow_dispatch`, `pull_request`; `cli`, `tui` locally).
    pub event: Option<String>,
    /// Who started it (the provider's own name for them).
    pub actor: Option<String>,
    /// Its status (`queued`, `running`, `waiting`, `success`, `failed`, `cancelled`).
    pub status: Option<String>,
}

impl RunFilter {
    pub fn is_empty(&self) -> bool {
        self == &RunFilter::default()
    }

    /// Whether a run matches, from what its record says.
    pub fn matches(&self, r: &RunRecord) -> bool {
        let person = |s: &str| s.split('@').next().unwrap_or(s).trim_start_matches("github:").to_lowercase();
        self.branch.as_ref().is_none_or(|b| r.trigger.git_ref.as_ref() == Some(b))
            && self.event.as_ref().is_none_or(|e| r.trigger.via.rsplit(' ').next() == Some(e.as_str()))
            && self.actor.as_ref().is_none_or(|a| person(&r.trigger.actor) == person(a))
            && self.status.as_ref().is_none_or(|s| r.status.label() == s)
    }
}

/// One page of runs, newest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunPage {
    pub runs: Vec<RunRecord>,
    /// Where the next (older) page starts; None on the last page.
    pub next: Option<String>,
    /// Providers that could not be asked (the runs of the others are still listed).
    pub problems: Vec<String>,
}

/// A run's scan findings (grouped) and the reports that could not be read.
pub type RunEvidence = crate::findings::RunReports;

/// One CI backend. Run references handed to it are its own (the registry routes them).
pub trait CiProvider: Send + Sync {
    /// The provider instance's name: the prefix of its run references (`local`, `gh`).
    fn name(&self) -> &str;
    fn pipelines(&self) -> Vec<String>;
    /// Whether a bare id the user typed (`42`) can be one of this provider's runs.
    fn claims(&self, _bare_id: &str) -> bool {
        false
    }
    fn list_runs(&self, query: RunQuery) -> BoxFuture<'_, Result<RunPage, CiError>>;
    /// Reports, on the provider's event channel until `stop`, what happens from now on to runs this
    /// handle did not start itself (other processes, the CI service): new runs, changes and log
    /// lines. Runs started through this handle report on the same channel anyway.
    fn watch(&self, _stop: CancellationToken) {}
    /// One run as it is now.
    fn run(&self, run: RunRef) -> BoxFuture<'_, Result<RunRecord, CiError>>;
    fn trigger(&self, pipeline: String, trigger: Trigger) -> BoxFuture<'_, Result<RunRef, CiError>>;
    fn cancel(&self, run: RunRef) -> BoxFuture<'_, Result<(), CiError>>;
    fn retry(&self, run: RunRef, trigger: Trigger) -> BoxFuture<'_, Result<(), CiError>>;
    /// Runs again what `scope` says; a provider that retries only what failed refuses the rest.
    fn retry_scoped(&self, run: RunRef, trigger: Trigger, scope: RetryScope) -> BoxFuture<'_, Result<(), CiError>> {
        match scope {
            RetryScope::Failed => self.retry(run, trigger),
            other => {
                let why = format!("{} retries the failed, cancelled and skipped jobs of a run only, not {}", self.name(), other.describe());
                Box::pin(async move { Err(CiError::Other(why)) })
            }
        }
    }
    /// What starting `pipeline` asks for (a workflow's ref and inputs); None when only its name.
    fn trigger_form(&self, _pipeline: &str) -> BoxFuture<'_, Result<Option<form::TriggerForm>, CiError>> {
        Box::pin(async { Ok(None) })
    }
    /// The CI service's forced cancel, for a run that does not stop.
    fn force_cancel(&self, run: RunRef) -> BoxFuture<'_, Result<(), CiError>> {
        let why = format!("{} has no forced cancel: `cancel {}` ends its jobs", self.name(), run.text());
        Box::pin(async move { Err(CiError::Other(why)) })
    }
    fn decide_gate(&self, run: RunRef, job: String, decision: GateDecision) -> BoxFuture<'_, Result<(), CiError>>;
    fn read_log(&self, run: RunRef, job: String) -> BoxFuture<'_, Result<Vec<RawLine>, CiError>>;
    /// Where the job's whole log is on disk, in the job log format, when it is: the log view then
    /// reads any part of it from there, and searches it there, whatever its size.
    fn log_file(&self, _run: RunRef, _job: String) -> BoxFuture<'_, Option<std::path::PathBuf>> {
        Box::pin(async { None })
    }
    /// Who the CI service takes the user to be, for an action on `subject` (a run reference or
    /// `provider:pipeline`): `("github", "octocat")`. None where the service authenticates nobody.
    fn authenticated(&self, _subject: &str) -> BoxFuture<'_, Option<(String, String)>> {
        Box::pin(async { None })
    }
    /// The run's scan findings (grouped) and the reports that could not be read.
    fn evidence(&self, run: RunRef) -> BoxFuture<'_, Result<RunEvidence, CiError>>;
}
