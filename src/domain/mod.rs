//! Backend-agnostic types shared by providers, the state store and the views.

mod refs;
mod run;

pub use refs::{BadRunRef, LOCAL, RunRef};

pub use run::{FindingsSummary, GateDecision, GateInfo, JobRecord, JobStatus, ReportSummary, RunRecord, RunStatus, StageRecord, Trigger};
