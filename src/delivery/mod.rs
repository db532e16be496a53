//! The rollout seam. A progressive delivery (an NGINX weighted canary, an Argo Rollout, and later
//! ECS or Cloud Deploy) is one `Release` to the cockpit and the command line: the same row, the
//! same detail view, the same keys and verbs, the same safety path. Each provider implements
//! `RolloutProvider`; the `Registry` holds them all and routes by `RolloutRef`.
//!
//! Providers report on a channel (`ReleaseEvent`), plan actions purely against what the user saw
//! (so the confirmation dialog shows exactly what will be sent), and execute only after checking
//! that the rollout has not moved on since.

mod action;
mod denials;
pub mod polling;
mod registry;
mod unusable;

pub use denials::Denials;
pub use unusable::Unusable;

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use jiff::Timestamp;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

pub use action::RolloutAction;
pub use registry::Registry;

use crate::domain::{RolloutRef, RunRef};

/// How a release is doing, in the words every screen and the JSON use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Healthy,
    Progressing,
    /// Waiting, for a person or for a timed pause.
    Paused,
    Aborted,
    Degraded,
    /// Not read yet, or unreadable.
    #[default]
    Unknown,
}

/// One rollout as its provider sees it now: everything the list, the header badges, the keys and
/// the policy need, computed once by the provider.
#[derive(Clone, Debug)]
pub struct Release {
    pub reference: RolloutRef,
    /// What kind of delivery, for people: "NGINX canary", "Argo Rollout".
    pub kind: String,
    /// The environment its policy comes from.
    pub environment: Option<String>,
    /// The analysed service (`[services.NAME]`) that judges its canary.
    pub service: Option<String>,
    pub health: Health,
    /// The state in a few words ("Paused (awaiting promotion)").
    pub state: String,
    /// Why, when something went wrong or waits.
    pub message: Option<String>,
    /// 0: needs a human; 1: went wrong; 2: a timed wait; 3: under way; 4: healthy; 5: unread.
    pub urgency: u8,
    /// The current step counting from 1, and how many there are.
    pub step: Option<(usize, usize)>,
    /// Traffic the canary gets now, and what its step asks for.
    pub weight: Option<u8>,
    pub desired_weight: Option<u8>,
    /// What the canary and the stable side run, when known.
    pub version: Option<String>,
    pub stable_version: Option<String>,
    /// The pipeline run that built what is rolling out: its evidence judges promotions.
    pub run: Option<RunRef>,
    /// An analysis run under way, that `terminate-analysis` would stop.
    pub analysis_run: Option<String>,
    /// When a timed pause ends (the list counts it down while visible).
    pub pause_until: Option<Timestamp>,
    /// Which actions are offered at all (a blue-green rollout has no weights to pause at…).
    pub supports: Vec<&'static str>,
    /// What the user sees, for the check before an action is executed.
    pub seen: Seen,
    /// The provider's own object, for its pure `plan`; nobody else looks inside.
    pub native: Native,
    /// What the canary and the stable side are measured on, when the delivery knows it better
    /// than a fixed configuration can (the target groups of an ECS blue/green deployment, which
    /// swap from one deployment to the next).
    pub measured_on: Option<MeasuredOn>,
}

/// CloudWatch dimensions (`Name=Value,…`) of the canary and of the stable side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeasuredOn {
    pub canary: String,
    pub stable: String,
}

impl PartialEq for Release {
    fn eq(&self, other: &Release) -> bool {
        self.reference == other.reference && self.seen == other.seen && self.native == other.native && self.state == other.state
    }
}

impl Release {
    /// The version column: what serves traffic, or stable → canary while one is under way.
    pub fn version_text(&self) -> String {
        match (&self.stable_version, &self.version) {
            (_, Some(v)) if self.health == Health::Healthy && self.weight.is_none_or(|w| w >= 100) => v.clone(),
            (s, Some(v)) if self.health != Health::Healthy || self.weight.is_some_and(|w| w > 0) => {
                format!("{} → {v}", s.as_deref().unwrap_or("stable"))
            }
            (Some(s), _) => s.clone(),
            _ => "-".into(),
        }
    }

    pub fn step_text(&self) -> String {
        self.step.map(|(i, n)| format!("{i}/{n}")).unwrap_or_else(|| "-".into())
    }

    /// The state, with the countdown of a timed pause (seconds for the last two minutes, then
    /// minutes, then hours: a 60-minute wait does not tick every second).
    pub fn state_at(&self, now: Timestamp) -> String {
        match self.pause_until {
            Some(until) => {
                let left = (until.as_second() - now.as_second()).max(0);
                let countdown = match left {
                    s if s < 120 => format!("{s}s"),
                    s if s < 7200 => format!("{}m", s / 60),
                    s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
                };
                format!("{} {countdown}", self.state)
            }
            None => self.state.clone(),
        }
    }

    /// Whether the provider lists `verb` among what this release supports now.
    pub fn offers_verb(&self, verb: &str) -> bool {
        self.supports.contains(&verb)
    }

    pub fn offers(&self, action: &RolloutAction) -> bool {
        self.offers_verb(action.verb())
    }
}

/// A provider's own object behind a release or a detail, compared by identity: a new read is a
/// new value.
#[derive(Clone, Default)]
pub struct Native(pub Option<Arc<dyn Any + Send + Sync>>);

impl Native {
    pub fn new<T: Any + Send + Sync>(v: T) -> Native {
        Native(Some(Arc::new(v)))
    }

    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.as_deref().and_then(|a| a.downcast_ref())
    }
}

impl PartialEq for Native {
    fn eq(&self, other: &Native) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl std::fmt::Debug for Native {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Native(..)" } else { "Native(none)" })
    }
}

/// What the person saw when they chose an action. If the rollout moved on before the action
/// reaches it, the action is refused with what changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Seen {
    /// The provider's version of the object (a revision, a generation with its pod hash).
    pub revision: String,
    /// The step, counting from 1.
    pub step: Option<usize>,
    pub state: String,
    /// Something of ours the controller has not acted on yet ("a promotion is pending").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
}

impl Seen {
    /// The check before an action: refused, naming what changed, when `name` moved on since
    /// `seen` (no `seen`: nothing to compare with, as for a script acting on what it reads now).
    pub fn still(seen: Option<&Seen>, now: &Seen, name: &str) -> Result<(), DeliveryError> {
        let changes = seen.map(|s| s.changes(now)).unwrap_or_default();
        if changes.is_empty() {
            return Ok(());
        }
        Err(DeliveryError::Refused(format!("{name} moved on since you looked ({}); nothing was sent", changes.join(", "))))
    }

    /// What changed between what was seen and `now`; empty when nothing did.
    pub fn changes(&self, now: &Seen) -> Vec<String> {
        let mut v = Vec::new();
        if self.step != now.step {
            let show = |s: Option<usize>| s.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
            v.push(format!("step {} → {}", show(self.step), show(now.step)));
        }
        if self.state != now.state {
            v.push(format!("{} → {}", self.state, now.state));
        }
        if self.revision != now.revision {
            v.push("a new revision was applied".into());
        }
        v
    }
}

/// One revision a rollout can go back to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    pub number: i64,
    /// What it runs and how it stands ("stable · web:1.4 · ready 3/3 · 2h").
    pub label: String,
    pub current: bool,
    pub created: Option<Timestamp>,
}

/// A step of the rollout, as the detail view marks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepView {
    pub label: String,
    pub state: StepState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepState {
    Done,
    Current,
    Todo,
}

/// A titled block of lines in the detail view (analysis runs, NGINX upstream, the verdict…).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub title: String,
    pub lines: Vec<String>,
}

/// One entry of the opened rollout's timeline, newest last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEntry {
    pub at: Option<Timestamp>,
    pub text: String,
}

impl TimelineEntry {
    /// A Kubernetes Event (`v1.Event` as JSON): when it last happened, a warning marked, its
    /// reason and message (repeats counted).
    pub fn of_event(e: &serde_json::Value) -> TimelineEntry {
        let when = e["lastTimestamp"].as_str().or(e["eventTime"].as_str()).or(e["firstTimestamp"].as_str());
        let warning = if e["type"] == "Warning" { "⚠ " } else { "" };
        let count = e["count"].as_i64().filter(|n| *n > 1).map(|n| format!(" (×{n})")).unwrap_or_default();
        TimelineEntry {
            at: when.and_then(|w| w.parse().ok()),
            text: format!(
                "{warning}{}: {}{count}",
                crate::logstore::sanitize::excerpt(e["reason"].as_str().unwrap_or(""), 80),
                crate::logstore::sanitize::excerpt(e["message"].as_str().unwrap_or(""), 400)
            ),
        }
    }
}

/// Everything the opened rollout shows beyond its row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Detail {
    pub reference: Option<RolloutRef>,
    /// False until the first read came back.
    pub loaded: bool,
    pub error: Option<String>,
    /// Where it runs and how it is set up (strategy, upstream, on-failure).
    pub about: Vec<String>,
    pub steps: Vec<StepView>,
    pub revisions: Vec<Revision>,
    pub sections: Vec<Section>,
    pub timeline: Vec<TimelineEntry>,
    /// What this user may do, when the provider can tell.
    pub permissions: Option<Permissions>,
    /// The provider's own objects, for its pure `plan` (revisions to undo to …).
    pub native: Native,
    /// What an action may be limited to (an application's resources as `KIND/NAME`, out of sync
    /// first), offered as completions.
    pub parts: Vec<String>,
    /// Releases this one owns, which other providers show (an Argo CD app's Argo Rollouts); an
    /// empty context in a reference means whichever the other provider watches.
    pub related: Vec<RolloutRef>,
}

/// Which actions the backend would refuse this user, with the backend's reason. Keys are
/// `RolloutAction::verb`s; anything not listed is allowed as far as the backend said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    pub denied: BTreeMap<String, String>,
    /// Actions allowed with a caveat the key should say (a sync that only a window's manual
    /// exception lets through).
    pub notes: BTreeMap<String, String>,
    /// Who the backend authenticated (`("kubernetes", "alice@corp")`), journaled with every action
    /// beside the local account.
    pub authenticated: Option<(String, String)>,
}

impl Permissions {
    pub fn denies(&self, action: &RolloutAction) -> Option<&str> {
        self.denied.get(action.verb()).map(String::as_str)
    }
}

/// What an action would do, planned against the rollout as the user sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// For the confirmation dialog and the journal: the state now, what happens, and what is sent.
    pub effect: Vec<String>,
    /// What identifies the state planned against, for the journal.
    pub parameters: serde_json::Value,
    /// Why the backend would refuse this user, when it would.
    pub denied: Option<String>,
    /// Environments the change reaches beyond the release's own (a release promoted to the next
    /// target): their policy and release gate judge it too.
    pub reaches: Vec<String>,
    /// How a release of this kind names the run that built it, when not from a flightdeck stage
    /// (said when none is linked and a promotion needs its findings).
    pub run_link: Option<String>,
}

/// Who acts, and why (recorded by providers that can write it beside the change).
#[derive(Clone, Debug, Default)]
pub struct By {
    pub actor: String,
    pub reason: String,
}

/// The state of a provider's connection, for its chip on the screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeedState {
    Connecting,
    Live,
    /// It failed and retries; the rows are as last read.
    Retrying(String),
}

/// A provider's feed: where it reads from, and how that goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Feed {
    /// "Argo Rollouts · prod-eu · all namespaces", "NGINX canaries".
    pub label: String,
    pub state: FeedState,
    /// Where the provider could read instead (kubeconfig contexts), for `:ctx` completion.
    pub scopes: Vec<String>,
}

/// What providers report to the cockpit.
#[derive(Clone, Debug, PartialEq)]
pub enum ReleaseEvent {
    /// Every release of `provider` now (the feed (re)started); replaces its earlier rows.
    Reset {
        provider: String,
        releases: Vec<Release>,
    },
    Changed(Box<Release>),
    Gone(RolloutRef),
    Feed {
        provider: String,
        feed: Feed,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("no rollout `{0}` is configured or watched")]
    Unknown(String),
    #[error("no rollout provider `{provider}` is configured (configured: {known})")]
    UnknownProvider { provider: String, known: String },
    /// The action makes no sense now, or the rollout moved on: nothing was sent.
    #[error("{0}")]
    Refused(String),
    /// The backend failed; what it said.
    #[error("{0}")]
    Backend(String),
}

/// Why an action cannot be planned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// It would change nothing (promote at the end, pause when paused, abort when healthy, retry
    /// when not aborted): scripts can tell this from a failure.
    #[error("{0}")]
    NothingToDo(String),
    /// It makes no sense in the rollout's state, or cannot be planned.
    #[error("{0}")]
    Invalid(String),
}

impl From<String> for PlanError {
    fn from(why: String) -> PlanError {
        PlanError::Invalid(why)
    }
}

/// One rollout backend. References handed to it are its own (the registry routes them).
pub trait RolloutProvider: Send + Sync {
    /// The prefix of its references (`nginx`, `argo`).
    fn name(&self) -> &str;
    /// Whether a reference typed without a provider (`api`, `shop/api`) can be one of its own.
    fn claims(&self, _short: &RolloutRef) -> bool {
        false
    }
    /// Completes a short reference (fills in the context an Argo reference left empty).
    fn complete(&self, r: RolloutRef) -> RolloutRef {
        r
    }
    /// Every release, read now.
    fn list(&self) -> BoxFuture<'_, Result<Vec<Release>, DeliveryError>>;
    /// One release, read now.
    fn get(&self, r: RolloutRef) -> BoxFuture<'_, Result<Release, DeliveryError>>;
    /// Reports on `events` until `stop`: the feed, then every change. Providers that drive their
    /// rollouts themselves (NGINX) move them on here too.
    fn watch(&self, events: UnboundedSender<ReleaseEvent>, stop: CancellationToken);
    /// Points the feed somewhere else (`context=NAME`, `namespace=NAME|all`); the watch restarts.
    fn rescope(&self, change: &str) -> Result<(), DeliveryError> {
        Err(DeliveryError::Refused(format!("{} has nothing to switch: `{change}`", self.name())))
    }
    /// Everything the opened release shows beyond its row.
    fn detail(&self, r: RolloutRef) -> BoxFuture<'_, Result<Detail, DeliveryError>>;
    /// Ticks whenever the detail of `r` may have changed (its related objects moved).
    fn detail_changes(&self, _r: RolloutRef) -> BoxStream<'static, ()> {
        Box::pin(futures::stream::empty())
    }
    /// What the backend would refuse this user.
    fn permissions(&self, _r: RolloutRef) -> BoxFuture<'_, Result<Permissions, DeliveryError>> {
        Box::pin(async { Ok(Permissions::default()) })
    }
    /// What `action` would do to `release` as seen, or why it makes no sense now. Pure: the
    /// dialog shows it, and the journal records it.
    fn plan(&self, release: &Release, detail: Option<&Detail>, action: &RolloutAction, now: Timestamp) -> Result<Plan, PlanError>;
    /// Reads the rollout afresh, refuses if it moved on since `seen`, and acts. Returns what was
    /// done, for people.
    fn execute(&self, r: RolloutRef, action: RolloutAction, seen: Option<Seen>, by: By) -> BoxFuture<'_, Result<String, DeliveryError>>;
}
