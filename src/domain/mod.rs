//! Backend-agnostic types shared by providers, the state store and the views.

mod run;

pub use run::{
    FindingsSummary, GateDecision, GateInfo, JobRecord, JobStatus, ReportSummary, RunId, RunRecord, RunStatus, StageRecord, Trigger,
};
