//! Progressive delivery outside Kubernetes: a canary behind NGINX weighted upstreams, moved through
//! steps (weights, pauses, analysis) like an Argo Rollouts canary. `record` is the persisted state,
//! `nginx` writes weights safely, `controller` runs the steps and the actions.

pub mod controller;
pub mod nginx;
pub mod record;

use std::path::PathBuf;
use std::time::Duration;

pub mod provider;

pub use controller::Controller;

/// Whoever keeps canaries moving and judged when no cockpit is open (the supervisor): told after
/// every change that leaves one under way.
pub trait Keeper: Send + Sync {
    fn keep_moving(&self) -> Result<(), String>;
}
pub use provider::NginxProvider;
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

#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("no rollout named `{0}` is configured")]
    Unknown(String),
    /// The action makes no sense in the rollout's state; nothing was sent.
    #[error("{0}")]
    Refused(String),
    /// The action would change nothing; nothing was sent.
    #[error("{0}")]
    NothingToDo(String),
    /// NGINX rejected or failed the change; the previous configuration is back in place.
    #[error("{0}")]
    Nginx(String),
    #[error("{0}")]
    Io(String),
}
