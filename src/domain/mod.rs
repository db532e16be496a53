//! Backend-agnostic types shared by providers, the state store and the views.

mod refs;
mod run;

pub use refs::{ARGO, BadRolloutRef, BadRunRef, LOCAL, NGINX, RolloutRef, RunRef};

pub use run::{
    FindingsSummary, GateDecision, GateInfo, JobRecord, JobStatus, ReportSummary, RunRecord, RunStatus, StageRecord, StepRecord, Trigger,
};
