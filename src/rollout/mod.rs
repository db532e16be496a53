//! Progressive delivery outside Kubernetes: a canary behind NGINX weighted upstreams, moved through
//! steps (weights, pauses, analysis) like an Argo Rollouts canary. `record` is the persisted state,
//! `nginx` writes weights safely, `controller` runs the steps and the actions.

pub mod controller;
pub mod nginx;
pub mod record;

use std::path::PathBuf;
use std::time::Duration;

pub use controller::{Controller, Seen};
pub use record::{Phase, Record};

/// One step of a canary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this percentage of traffic to the canary.
    SetWeight(u8),
    /// Wait this long, or until promoted when `None`.
    Pause(Option<Duration>),
    /// Judge the canary for this long; Failed aborts (or pauses), Inconclusive pauses.
    Analysis(Duration),
}

impl Step {
    pub fn describe(&self) -> String {
        match self {
            Step::SetWeight(w) => format!("set weight {w} %"),
            Step::Pause(Some(d)) => format!("pause {}", crate::util::format_duration(*d)),
            Step::Pause(None) => "pause until promoted".into(),
            Step::Analysis(d) => format!("analysis for {}", crate::util::format_duration(*d)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFailure {
    Abort,
    Pause,
}

/// How to reach and drive one NGINX upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NginxSpec {
    /// The include file flightdeck owns; it holds the upstream block.
    pub include: PathBuf,
    pub upstream: String,
    pub stable: Vec<String>,
    pub canary: Vec<String>,
    /// Command that validates the whole configuration (default `nginx -t -q [-c CONF]`).
    pub validate: Vec<String>,
    /// Command that reloads NGINX (default `nginx -s reload [-c CONF]`).
    pub reload: Vec<String>,
    /// Where the master's pid is, to see old workers leave after a reload (default: the `pid`
    /// directive of `conf`).
    pub pid_file: Option<PathBuf>,
    /// NGINX's main configuration file, when given.
    pub conf: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RolloutSpec {
    pub name: String,
    /// Environment for policy.
    pub environment: Option<String>,
    /// The analysed service (`[services.NAME]`) that judges this canary.
    pub service: Option<String>,
    pub steps: Vec<Step>,
    pub on_failure: OnFailure,
    /// Judge the canary on every interval while the rollout is under way, not only in analysis steps.
    pub background_analysis: bool,
    pub nginx: NginxSpec,
}

/// What a person can do to a rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutAction {
    Promote,
    PromoteFull,
    Pause,
    Resume,
    Abort,
    Retry,
    Undo,
}

impl RolloutAction {
    pub fn name(self) -> &'static str {
        match self {
            RolloutAction::Promote => "promote",
            RolloutAction::PromoteFull => "promote-full",
            RolloutAction::Pause => "pause",
            RolloutAction::Resume => "resume",
            RolloutAction::Abort => "abort",
            RolloutAction::Retry => "retry",
            RolloutAction::Undo => "undo",
        }
    }

    /// The journal's name for it.
    pub fn audit_action(self) -> &'static str {
        match self {
            RolloutAction::Promote => "rollout.promote",
            RolloutAction::PromoteFull => "rollout.promote-full",
            RolloutAction::Pause => "rollout.pause",
            RolloutAction::Resume => "rollout.resume",
            RolloutAction::Abort => "rollout.abort",
            RolloutAction::Retry => "rollout.retry",
            RolloutAction::Undo => "rollout.undo",
        }
    }

    pub fn policy_kind(self) -> crate::policy::ActionKind {
        use crate::policy::ActionKind as K;
        match self {
            RolloutAction::Promote => K::Promote,
            RolloutAction::PromoteFull => K::PromoteFull,
            RolloutAction::Pause => K::Pause,
            RolloutAction::Resume => K::Resume,
            RolloutAction::Abort => K::Abort,
            RolloutAction::Retry => K::RolloutRetry,
            RolloutAction::Undo => K::Undo,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("no rollout named `{0}` is configured")]
    Unknown(String),
    /// The action makes no sense in the rollout's state; nothing was sent.
    #[error("{0}")]
    Refused(String),
    /// NGINX rejected or failed the change; the previous configuration is back in place.
    #[error("{0}")]
    Nginx(String),
    #[error("{0}")]
    Io(String),
}
