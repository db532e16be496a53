//! The CI seam: list pipelines and runs, trigger, cancel, retry, decide gates, read logs. Providers
//! report progress as `RunEvent`s on the channel they were given; the core never knows which
//! provider it talks to.

pub mod local;

use futures::future::BoxFuture;

use crate::domain::{GateDecision, RunId, RunRecord, Trigger};
use crate::logstore::RawLine;

#[derive(Clone, Debug)]
pub enum RunEvent {
    /// A run was created or changed (status, a job's status …).
    Updated(Box<RunRecord>),
    /// New log lines of one job.
    Log { run: RunId, job: String, lines: Vec<RawLine> },
    /// Something went wrong that the user must hear about (e.g. a log could not be written).
    Problem { run: Option<RunId>, message: String },
}

#[derive(Debug, thiserror::Error)]
pub enum CiError {
    #[error("no pipeline named `{name}` (configured: {known})")]
    UnknownPipeline { name: String, known: String },
    #[error("run #{0} does not exist")]
    NoSuchRun(RunId),
    #[error("run #{run} has no job `{job}`")]
    NoSuchJob { run: RunId, job: String },
    #[error("run #{run} is {status}; {what}")]
    WrongState { run: RunId, status: String, what: String },
    #[error("run #{run} is being executed by another flightdeck process (pid {pid})")]
    OwnedElsewhere { run: RunId, pid: u32 },
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

/// A run's scan findings (grouped) and the reports that could not be read.
pub type RunEvidence = (Vec<crate::findings::Finding>, Vec<crate::findings::ReportError>);

/// One CI backend.
pub trait CiProvider: Send + Sync {
    fn name(&self) -> &str;
    fn pipelines(&self) -> Vec<String>;
    fn list_runs(&self) -> BoxFuture<'_, Result<Vec<RunRecord>, CiError>>;
    fn trigger(&self, pipeline: String, trigger: Trigger) -> BoxFuture<'_, Result<RunId, CiError>>;
    fn cancel(&self, run: RunId) -> BoxFuture<'_, Result<(), CiError>>;
    fn retry(&self, run: RunId, trigger: Trigger) -> BoxFuture<'_, Result<(), CiError>>;
    fn decide_gate(&self, run: RunId, job: String, decision: GateDecision) -> BoxFuture<'_, Result<(), CiError>>;
    fn read_log(&self, run: RunId, job: String) -> BoxFuture<'_, Result<Vec<RawLine>, CiError>>;
    /// The run's scan findings (grouped) and the reports that could not be read.
    fn evidence(&self, run: RunId) -> BoxFuture<'_, Result<RunEvidence, CiError>>;
}
