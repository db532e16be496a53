//! Backend-agnostic types shared by providers, the state store and the views.

mod run;

pub use run::{GateDecision, GateInfo, JobRecord, JobStatus, RunId, RunRecord, RunStatus, StageRecord, Trigger};
