//! The single owner of everything the cockpit shows. Only `update` mutates it; render reads it.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use ratatui_textarea::TextArea;

pub use super::log_state::{JobLog, LogFileView, LogFilter, LogView, Search};
use crate::audit::{AuditRecord, VerifyReport};
use crate::config::LogSettings;
use crate::domain::{JobRecord, JobStatus, RunRecord, RunRef};
use crate::identity::Identity;
use crate::keymap::{Context, Keymap};
use crate::ops::{Operation, Target};
use crate::policy::{Policy, Tier};
use crate::theme::Theme;

pub use super::releases::ReleasesView;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Pipelines,
    Approvals,
    Findings,
    Audit,
    Canary,
    Overview,
    /// The selected release in full.
    Release,
}

impl Screen {
    pub fn title(self) -> &'static str {
        match self {
            Screen::Pipelines => "Pipelines",
            Screen::Approvals => "Approvals",
            Screen::Findings => "Findings",
            Screen::Audit => "Audit",
            Screen::Canary => "Canary",
            Screen::Overview => "Releases",
            Screen::Release => "Release",
        }
    }
}

/// The audit screen's data: loaded from the journal on demand, verified as it is read.
#[derive(Clone, Debug, Default)]
pub struct AuditView {
    pub records: Vec<AuditRecord>,
    pub report: Option<VerifyReport>,
    pub error: Option<String>,
    pub loading: bool,
    pub cursor: usize,
    pub filter: String,
}

impl AuditView {
    /// Records matching the filter, newest first.
    pub fn visible(&self) -> Vec<&AuditRecord> {
        let f = self.filter.to_lowercase();
        self.records
            .iter()
            .rev()
            .filter(|r| {
                f.is_empty()
                    || format!(
                        "{} {} {} {} {} {} {}",
                        r.actor,
                        r.action,
                        r.target,
                        r.result,
                        r.reason,
                        r.environment.as_deref().unwrap_or(""),
                        r.error.as_deref().unwrap_or("")
                    )
                    .to_lowercase()
                    .contains(&f)
            })
            .collect()
    }
}

/// Windows the canary screen can judge over.
pub const CANARY_WINDOWS: [(&str, i64); 4] = [("5m", 300), ("15m", 900), ("1h", 3600), ("6h", 21_600)];

/// What the canary screen knows of one service: the latest analysis and how fresh it is.
#[derive(Clone, Debug, Default)]
pub struct CanaryData {
    pub result: Option<crate::metrics::AnalysisResult>,
    /// When the newest sample the analysis saw was taken (for the staleness chip).
    pub last_ok: Option<Timestamp>,
    pub asked_at: Option<Timestamp>,
    /// Where the last analysis measured the sides (a release may name them later, or anew).
    pub asked_on: Option<crate::delivery::MeasuredOn>,
    pub pending: Option<u64>,
}

#[derive(Clone, Debug, Default)]
pub struct CanaryView {
    /// (service, data cadence in seconds), from the configuration.
    pub services: Vec<(String, i64)>,
    /// Where the canary offers faults (the demo): what is injected, and what is on its way.
    pub faults: Option<crate::metrics::inject::FaultControl>,
    pub selected: usize,
    pub window: usize,
    pub data: HashMap<String, CanaryData>,
}

/// The release overview: every rollout with what the controller last reported.
/// The findings screen's cursor and filter (`sev:high`, `tool:trivy`, `fixable`, free text).
#[derive(Clone, Debug, Default)]
pub struct FindingsView {
    pub cursor: usize,
    pub filter: String,
    /// The list shows the run's failed tests (each with its output) instead of its findings.
    pub failed_tests: bool,
}

impl FindingsView {
    /// Whether a failed test matches every word of the filter (free text over its names, where
    /// it failed and its message).
    pub fn matches_failure(&self, f: &crate::findings::TestFailure) -> bool {
        let text = format!("{} {} {} {} {}", f.suite, f.classname, f.name, f.location.as_deref().unwrap_or(""), f.message).to_lowercase();
        self.filter.split_whitespace().all(|term| text.contains(&term.to_lowercase()))
    }

    /// Whether a finding matches every term of the filter.
    pub fn matches(&self, f: &crate::findings::Finding) -> bool {
        self.filter.split_whitespace().all(|term| {
            let t = term.to_lowercase();
            if let Some(sev) = t.strip_prefix("sev:") {
                sev.split(',').any(|s| crate::findings::Severity::parse(s) == Some(f.severity))
            } else if let Some(tool) = t.strip_prefix("tool:") {
                f.tools.iter().any(|x| x.to_lowercase().contains(tool))
            } else if t == "fixable" {
                f.fixable()
            } else {
                format!("{} {} {} {} {}", f.id, f.title, f.location, f.package.as_deref().unwrap_or(""), f.tools.join(" "))
                    .to_lowercase()
                    .contains(&t)
            }
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    Runs,
    Jobs,
    Log,
}

impl Pane {
    pub fn context(self) -> Context {
        match self {
            Pane::Runs => Context::Runs,
            Pane::Jobs => Context::Jobs,
            Pane::Log => Context::Log,
        }
    }
}

#[derive(Clone, Debug)]
pub struct RunView {
    pub record: RunRecord,
    pub logs: HashMap<String, JobLog>,
    /// The run's security evidence once read (None: not read yet).
    pub evidence: Option<crate::findings::Evidence>,
    /// What the evidence was read from (jobs with reports and their state), to know when to reread.
    pub evidence_of: String,
}

impl RunView {
    pub fn new(record: RunRecord) -> RunView {
        RunView { record, logs: Default::default(), evidence: None, evidence_of: String::new() }
    }

    /// A fingerprint of what the evidence depends on.
    pub fn evidence_signature(&self) -> String {
        self.record
            .jobs
            .iter()
            .filter(|j| !j.reports.is_empty())
            .map(|j| format!("{}:{}:{}", j.key, j.status.label(), j.findings.is_some()))
            .collect::<Vec<_>>()
            .join("|")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToastLevel {
    Info,
    Error,
}

#[derive(Clone, Debug)]
pub struct Toast {
    pub level: ToastLevel,
    pub text: String,
    pub at: Timestamp,
}

/// How long an info toast stays; errors stay until dismissed.
pub const TOAST_SECS: i64 = 5;

/// What a confirmation dialog will do when accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfirmOp {
    Op(Box<Operation>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfirmField {
    Name,
    Reason,
    /// Only for risk acceptances: until when.
    Expiry,
    Buttons,
}

/// A change waiting for the user's confirmation, at the tier the policy asked for. It carries the
/// target as the user saw it; on submit the target is checked again and the change refused if it
/// moved on.
#[derive(Clone, Debug)]
pub struct Confirm {
    pub title: String,
    pub lines: Vec<String>,
    pub op: ConfirmOp,
    pub tier: Tier,
    pub target: Option<Target>,
    /// What the policy requires (shown in the dialog).
    pub notes: Vec<String>,
    /// `Yes`/`Submit` focused (No/Cancel is the default).
    pub yes_focused: bool,
    pub name: TextArea<'static>,
    pub reason: TextArea<'static>,
    /// Set for changes that need an expiry date (risk acceptances).
    pub expiry: Option<TextArea<'static>>,
    pub field: ConfirmField,
    /// Set when a change freeze refused the action and break-glass may override it.
    pub frozen: Option<String>,
    pub break_glass: bool,
}

impl Confirm {
    pub fn new(title: String, lines: Vec<String>, op: ConfirmOp, tier: Tier, target: Option<Target>, notes: Vec<String>) -> Confirm {
        let mut c = Confirm {
            title,
            lines,
            op,
            tier,
            target,
            notes,
            yes_focused: false,
            name: TextArea::default(),
            reason: TextArea::default(),
            expiry: None,
            field: ConfirmField::Buttons,
            frozen: None,
            break_glass: false,
        };
        if tier == Tier::Typed {
            c.field = ConfirmField::Name;
        }
        c
    }

    pub fn typed_name(&self) -> String {
        self.name.lines().join("")
    }
    /// The expiry as typed, parsed (None when this dialog has no expiry field).
    pub fn expiry_date(&self) -> Option<Result<jiff::civil::Date, String>> {
        let text = self.expiry.as_ref()?.lines().join("");
        Some(text.trim().parse::<jiff::civil::Date>().map_err(|_| format!("`{}` is not a date (YYYY-MM-DD)", text.trim())))
    }

    pub fn reason_text(&self) -> String {
        self.reason.lines().join("\n").trim().to_string()
    }

    /// Why submit is disabled, if it is.
    pub fn blocked(&self) -> Option<String> {
        if self.frozen.is_some() {
            return Some("a change freeze is in force".into());
        }
        if self.tier != Tier::Typed {
            return None;
        }
        let want = self.target.as_ref().map(|t| t.name.as_str()).unwrap_or("");
        if self.typed_name() != want {
            return Some(format!("type `{want}` exactly"));
        }
        if self.reason_text().is_empty() {
            return Some("a reason is required".into());
        }
        match self.expiry_date() {
            Some(Err(e)) => Some(e),
            Some(Ok(d)) if d <= jiff::Zoned::now().date() => Some("the expiry must be in the future".into()),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    Command,
    Filter,
    Search,
    AuditFilter,
    FindingsFilter,
}

#[derive(Clone, Debug)]
pub struct Input {
    pub kind: InputKind,
    pub text: TextArea<'static>,
    /// Completions for the word under the cursor (command line only).
    pub suggestions: Vec<String>,
}

impl Input {
    pub fn value(&self) -> String {
        self.text.lines().join("")
    }
}

#[derive(Clone, Debug)]
pub enum Overlay {
    Help { scroll: u16 },
    Confirm(Box<Confirm>),
    Input(Box<Input>),
}

/// Whether notifications are configured, and how many could not be delivered (shown in the header).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Notifications {
    pub configured: bool,
    pub failed: usize,
}

#[derive(Clone, Debug)]
pub struct State {
    pub identity: Identity,
    pub read_only: bool,
    pub policy: Policy,
    /// Environments each pipeline deploys to (policy for triggers).
    pub pipeline_envs: std::collections::BTreeMap<String, Vec<String>>,
    pub screen: Screen,
    pub approvals_cursor: usize,
    pub audit: AuditView,
    pub pending_audit: Option<u64>,
    pub acceptances: crate::findings::Acceptances,
    pub findings_view: FindingsView,
    pub canary: CanaryView,
    pub releases: ReleasesView,
    /// Undo was asked for on a release whose revisions are being read: it goes on when they come.
    pub pending_undo: Option<crate::domain::RolloutRef>,
    /// The last workflow whose ref and inputs were asked for (`:run` checks and completes them).
    pub trigger_form: Option<crate::ci::form::TriggerForm>,
    pub keymap: Keymap,
    pub theme: Theme,
    pub theme_names: Vec<String>,
    pub pipelines: Vec<String>,
    pub fallback_pipeline: Option<String>,
    pub log_caps: LogSettings,
    /// Newest first.
    pub runs: Vec<RunView>,
    pub runs_loaded: bool,
    pub filter: String,
    pub focus: Pane,
    pub selected_run: Option<RunRef>,
    pub selected_job: Option<String>,
    pub log: LogView,
    pub overlay: Option<Overlay>,
    pub toasts: Vec<Toast>,
    pub notifications: Notifications,
    pub now: Timestamp,
    pub size: (u16, u16),
    pub next_request: u64,
    /// The log load whose result we still want (older ones are dropped when they arrive).
    pub pending_log: Option<u64>,
    pub pending_runs: Option<u64>,
    pub in_flight: HashSet<String>,
    pub quit: bool,
    pub dirty: bool,
}

impl State {
    pub fn new(
        identity: Identity,
        keymap: Keymap,
        theme: Theme,
        pipelines: Vec<String>,
        fallback: Option<String>,
        log_caps: LogSettings,
    ) -> State {
        State {
            identity,
            read_only: false,
            policy: Policy::default(),
            pipeline_envs: Default::default(),
            screen: Screen::Pipelines,
            approvals_cursor: 0,
            audit: AuditView::default(),
            pending_audit: None,
            acceptances: Default::default(),
            findings_view: Default::default(),
            canary: Default::default(),
            releases: ReleasesView::default(),
            pending_undo: None,
            trigger_form: None,
            keymap,
            theme,
            theme_names: crate::theme::BUILTIN.iter().map(|(n, _)| n.to_string()).collect(),
            pipelines,
            fallback_pipeline: fallback,
            log_caps,
            runs: Vec::new(),
            runs_loaded: false,
            filter: String::new(),
            focus: Pane::Runs,
            selected_run: None,
            selected_job: None,
            log: LogView::default(),
            overlay: None,
            toasts: Vec::new(),
            notifications: Notifications::default(),
            now: Timestamp::now(),
            size: (80, 24),
            next_request: 1,
            pending_log: None,
            pending_runs: None,
            in_flight: HashSet::new(),
            quit: false,
            dirty: true,
        }
    }

    /// Runs matching the filter, newest first.
    pub fn visible_runs(&self) -> Vec<&RunView> {
        let f = self.filter.trim();
        let (negate, needle) = match f.strip_prefix('!') {
            Some(rest) => (true, rest.to_lowercase()),
            None => (false, f.to_lowercase()),
        };
        self.runs
            .iter()
            .filter(|r| {
                if needle.is_empty() {
                    return true;
                }
                let rec = &r.record;
                let hay =
                    format!("#{} {} {} {} {}", rec.id, rec.pipeline, rec.status.label(), rec.trigger.actor, rec.trigger.via).to_lowercase();
                hay.contains(&needle) != negate
            })
            .collect()
    }

    pub fn run(&self, id: &RunRef) -> Option<&RunView> {
        self.runs.iter().find(|r| r.record.id == *id)
    }

    pub fn run_mut(&mut self, id: &RunRef) -> Option<&mut RunView> {
        self.runs.iter_mut().find(|r| r.record.id == *id)
    }

    /// The run a person named: in full (`local:12`), or by a bare id that one run alone has.
    pub fn find_run(&self, wanted: &RunRef) -> Option<RunRef> {
        if wanted.is_resolved() {
            return self.run(wanted).map(|r| r.record.id.clone());
        }
        let mut hits = self.runs.iter().filter(|r| r.record.id.id == wanted.id);
        match (hits.next(), hits.next()) {
            (Some(one), None) => Some(one.record.id.clone()),
            _ => None,
        }
    }

    pub fn current_run(&self) -> Option<&RunView> {
        self.selected_run.as_ref().and_then(|id| self.run(id))
    }

    pub fn current_job(&self) -> Option<&JobRecord> {
        let run = self.current_run()?;
        run.record.job(self.selected_job.as_deref()?)
    }

    /// The key context for the current screen (and pane).
    pub fn context(&self) -> Context {
        match self.screen {
            Screen::Pipelines => self.focus.context(),
            Screen::Approvals => Context::Approvals,
            Screen::Findings => Context::Findings,
            Screen::Audit => Context::Audit,
            Screen::Canary => Context::Canary,
            Screen::Overview | Screen::Release => Context::Rollouts,
        }
    }

    /// Every gate waiting for a decision: (run, gate job), longest-waiting first.
    pub fn waiting_gates(&self) -> Vec<(&RunRecord, &JobRecord)> {
        let mut gates: Vec<(&RunRecord, &JobRecord)> =
            self.runs.iter().flat_map(|r| r.record.waiting_gates().map(move |j| (&r.record, j))).collect();
        gates.sort_by_key(|(_, j)| j.started_at);
        gates
    }

    pub fn current_log(&self) -> Option<&JobLog> {
        let run = self.current_run()?;
        run.logs.get(self.selected_job.as_deref()?)
    }

    /// Whether the clock must tick: something on screen shows elapsed time or a countdown.
    /// Whether the clock must tick: only for what the screen in view shows changing with time
    /// (durations, countdowns, waiting ages, the age of stale data) or asks for on a cadence
    /// (canary data), and for info toasts to expire. A tick whose frame is unchanged writes
    /// nothing, so a ticking clock costs bytes only when the text it drives changes.
    pub fn needs_clock(&self) -> bool {
        let active_runs = || {
            self.runs.iter().any(|r| {
                !r.record.status.is_terminal() && r.record.jobs.iter().any(|j| matches!(j.status, JobStatus::Running | JobStatus::Waiting))
            })
        };
        self.toasts.iter().any(|t| t.level == ToastLevel::Info)
            || match self.screen {
                // Job durations and gate countdowns; the inbox's waiting ages.
                Screen::Pipelines | Screen::Approvals => active_runs(),
                // Canary data on its cadence; the overview's pause countdowns.
                Screen::Canary => !self.canary.services.is_empty(),
                Screen::Overview | Screen::Release => {
                    let countdown = self.countdown_on_screen();
                    let stale = self.releases.feeds.values().any(|f| matches!(f.state, crate::delivery::FeedState::Retrying(_)));
                    countdown || stale || !self.canary.services.is_empty()
                }
                Screen::Findings | Screen::Audit => false,
            }
    }

    /// Toast text often quotes reports, logs or servers, so it is sanitised here, once, for all.
    pub fn toast_info(&mut self, text: impl Into<String>) {
        let text = crate::logstore::sanitize::plain(&text.into());
        self.toasts.push(Toast { level: ToastLevel::Info, text, at: self.now });
        self.dirty = true;
    }

    pub fn toast_error(&mut self, text: impl Into<String>) {
        let text = crate::logstore::sanitize::plain(&text.into());
        tracing::warn!(%text, "error shown to the user");
        // The same error repeated (e.g. a failing disk) is shown once.
        if !self.toasts.iter().any(|t| t.level == ToastLevel::Error && t.text == text) {
            self.toasts.push(Toast { level: ToastLevel::Error, text, at: self.now });
        }
        self.dirty = true;
    }

    pub fn request_id(&mut self) -> u64 {
        let id = self.next_request;
        self.next_request += 1;
        id
    }
}
