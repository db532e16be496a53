//! Cloud Deploy delivery pipelines as releases: one row per target of each pipeline, showing the
//! latest rollout there — its phases (canary percentages, then stable) and jobs, its approval, its
//! verification — and the keys send Cloud Deploy's own requests (approve, advance, retry or ignore
//! a job, cancel, roll back the target, promote the release to the next target) through the same
//! safety path as every rollout.

pub mod model;
pub mod provider;
pub mod reader;
pub mod view;

pub use provider::{CLOUDDEPLOY_PROVIDER, CloudDeployProvider};
