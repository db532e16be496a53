//! Telling people what happened: gates waiting and decided, runs failed, rollouts paused,
//! promoted, aborted or undone, canaries judged Failed, freezes broken, a journal that fails its
//! check. Notices are built from the journal's records (the same facts the audit trail holds),
//! routed to `[notify.NAME]` sinks, and delivered by the supervisor from an outbox on disk: at
//! least once, each with an idempotency key, retried, grouped in bursts, never dropped silently.

pub mod deliver;
mod message;
pub mod outbox;
mod sinks;

use serde::{Deserialize, Serialize};

use crate::audit::{AuditRecord, Phase};
use crate::config::{SinkSettings, event_matches};

pub use deliver::Notifier;
pub use message::Message;
pub use outbox::{Delivery, Outbox};

/// What happened, as one notice: built from one journal record (or, for a journal that fails its
/// check, from the check).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Unique per event, the same however often it is built or sent: receivers drop duplicates.
    pub key: String,
    /// The event's name (`gate.waiting`, `rollout.aborted`, ...).
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// What it is about: a run (`local:12`) or a rollout (`nginx:web`, `argo:ctx/ns/name`).
    pub subject: String,
    /// One line, plain text.
    pub title: String,
    /// Further lines: who, why, what to do.
    #[serde(default)]
    pub details: Vec<String>,
    /// Who did it; None when flightdeck or a controller did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// RFC 3339, from the journal.
    pub at: String,
    /// The journal record it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_seq: Option<u64>,
}

impl Notice {
    /// Notices of the same group arriving close together are sent as one message. Runs failing
    /// are grouped by environment; everything about one release stays with that release.
    pub fn group(&self) -> String {
        match self.event.as_str() {
            "run.failed" | "run.cancelled" => format!("{}|{}", self.event, self.environment.as_deref().unwrap_or("")),
            _ => format!("{}|{}|{}", self.event, self.environment.as_deref().unwrap_or(""), self.subject),
        }
    }

    /// Whether the notice says something is wrong now (a page), rather than news.
    pub fn is_alarm(&self) -> bool {
        matches!(self.event.as_str(), "rollout.aborted" | "canary.failed" | "freeze.broken" | "audit.failed" | "notify.failed")
    }

    /// Whether the notice says its subject is healthy again (a page about it can be resolved).
    pub fn is_all_clear(&self) -> bool {
        self.event == "rollout.promoted-full"
    }
}

/// Whether `sink` takes `notice`: its events and environments.
pub fn routed_to(sink: &SinkSettings, notice: &Notice) -> bool {
    let event_ok = if sink.events.is_empty() {
        // A pager by default only for what needs someone now, and the all-clear that ends it.
        !matches!(sink.kind, crate::config::SinkKind::PagerDuty { .. }) || notice.is_alarm() || notice.is_all_clear()
    } else {
        sink.events.iter().any(|p| event_matches(p, &notice.event))
    };
    let env_ok = sink.environments.is_empty()
        || notice.environment.as_deref().is_some_and(|e| e.split(',').any(|one| sink.environments.iter().any(|s| s == one)));
    event_ok && env_ok
}

/// The notices one journal record gives: usually none or one; an action under break-glass also
/// says that a freeze was broken; an automatic abort also says the canary was judged Failed.
pub fn notices_from(rec: &AuditRecord, people: &std::collections::BTreeMap<String, String>) -> Vec<Notice> {
    let plain = |s: &str| crate::logstore::sanitize::excerpt(&crate::logstore::sanitize::plain(s), 600);
    let who = |actor: &str| match people.get(actor) {
        Some(name) => format!("{} ({actor})", plain(name)),
        None => plain(actor),
    };
    let succeeded = rec.phase == Phase::Outcome && rec.result == "success";
    let observed = rec.phase == Phase::Event;
    let param =
        |k: &str| rec.parameters.get(k).and_then(|v| v.as_str().map(str::to_string).or_else(|| (!v.is_null()).then(|| v.to_string())));
    let run = param("run").unwrap_or_default();
    let target = plain(&rec.target);
    let reason = plain(&rec.reason);
    let because = if reason.is_empty() { String::new() } else { format!(": {reason}") };
    let by_person = who(&rec.actor);
    let mut out = Vec::new();
    let mut push = |event: &str, subject: String, title: String, details: Vec<String>, actor: Option<String>| {
        let n = out.len();
        out.push(Notice {
            key: format!("fd-{}-{n}", &rec.hash[..rec.hash.len().min(20)]),
            event: event.into(),
            environment: rec.environment.clone(),
            subject,
            title,
            details,
            actor,
            at: rec.time.clone(),
            journal_seq: Some(rec.seq),
        });
    };
    let env = rec.environment.as_deref().map(|e| format!(" in {e}")).unwrap_or_default();
    match (rec.action.as_str(), succeeded, observed) {
        ("gate.waiting", _, true) => {
            let gate = param("gate").unwrap_or_else(|| target.clone());
            let mut details = vec![format!("approve: flightdeck approve {run} {gate} --reason TEXT  (or press a on the approvals screen)")];
            details.push(format!("reject:  flightdeck reject {run} {gate} --reason TEXT"));
            if let Some(deadline) = param("deadline") {
                details.push(format!("times out at {deadline}"));
            }
            if !reason.is_empty() {
                details.insert(0, reason.clone());
            }
            push("gate.waiting", run.clone(), format!("gate `{gate}` of run {run} is waiting for a decision{env}"), details, None);
        }
        ("gate.approve" | "gate.reject", true, _) => {
            let verdict = if rec.action == "gate.approve" { "approved" } else { "rejected" };
            let gate = param("gate").unwrap_or_else(|| target.clone());
            push(
                "gate.decided",
                run.clone(),
                format!("gate `{gate}` of run {run} was {verdict} by {by_person}{because}"),
                Vec::new(),
                Some(rec.actor.clone()),
            );
        }
        ("gate.timeout", _, true) => {
            let gate = param("gate").unwrap_or_else(|| target.clone());
            push("gate.decided", run.clone(), format!("gate `{gate}` of run {run} timed out without a decision{env}"), Vec::new(), None);
        }
        ("run.failed", _, true) => {
            let pipeline = param("pipeline").unwrap_or_default();
            push("run.failed", run.clone(), format!("run {run} of `{pipeline}` failed{because}"), Vec::new(), None);
        }
        ("run.cancel", true, _) => {
            push(
                "run.cancelled",
                target.clone(),
                format!("run {target} was cancelled by {by_person}{because}"),
                Vec::new(),
                Some(rec.actor.clone()),
            );
        }
        ("rollout.pause", true, _) => {
            push(
                "rollout.paused",
                target.clone(),
                format!("{target} was paused by {by_person}{because}"),
                Vec::new(),
                Some(rec.actor.clone()),
            );
        }
        ("rollout.waiting", _, true) => {
            push("rollout.paused", target.clone(), format!("{target} is paused, waiting to be promoted{env}{because}"), Vec::new(), None);
        }
        ("rollout.auto-pause", _, true) => {
            push("rollout.paused", target.clone(), format!("{target} was paused by its controller{because}"), Vec::new(), None);
            push("canary.failed", target.clone(), format!("the canary of {target} was judged Failed{because}"), Vec::new(), None);
        }
        ("rollout.promote", true, _) => {
            push(
                "rollout.promoted",
                target.clone(),
                format!("{target} was promoted by {by_person}{because}"),
                Vec::new(),
                Some(rec.actor.clone()),
            );
        }
        ("rollout.promote-full", true, _) => {
            push(
                "rollout.promoted-full",
                target.clone(),
                format!("{target} was fully promoted by {by_person}{because}"),
                Vec::new(),
                Some(rec.actor.clone()),
            );
        }
        ("rollout.promoted", _, true) => {
            push("rollout.promoted-full", target.clone(), format!("{target} is fully promoted{because}"), Vec::new(), None);
        }
        ("rollout.abort", true, _) => {
            push(
                "rollout.aborted",
                target.clone(),
                format!("{target} was aborted by {by_person}{because}"),
                Vec::new(),
                Some(rec.actor.clone()),
            );
        }
        ("rollout.auto-abort", _, true) => {
            push("rollout.aborted", target.clone(), format!("{target} was aborted by its controller{because}"), Vec::new(), None);
            push("canary.failed", target.clone(), format!("the canary of {target} was judged Failed{because}"), Vec::new(), None);
        }
        ("rollout.undo", true, _) => {
            push(
                "rollout.undone",
                target.clone(),
                format!("{target} was rolled back by {by_person}{because}"),
                Vec::new(),
                Some(rec.actor.clone()),
            );
        }
        _ => {}
    }
    if rec.break_glass && succeeded {
        push(
            "freeze.broken",
            target.clone(),
            format!("{by_person} broke glass{env}: {} on {target}{because}", rec.action),
            vec!["an action the change freeze or the gate would have refused was done under break-glass".into()],
            Some(rec.actor.clone()),
        );
    }
    out
}

/// The notice that the journal failed its check.
pub fn audit_failed(problem: &str, at: jiff::Timestamp) -> Notice {
    let problem = crate::logstore::sanitize::excerpt(&crate::logstore::sanitize::plain(problem), 600);
    let digest = sha2::Digest::finalize(sha2::Digest::chain_update(<sha2::Sha256 as sha2::Digest>::new(), problem.as_bytes()));
    Notice {
        key: format!("fd-audit-{}", &hex::encode(digest)[..20]),
        event: "audit.failed".into(),
        environment: None,
        subject: "audit journal".into(),
        title: "the audit journal failed its integrity check".into(),
        details: vec![problem, "run `flightdeck audit verify` to see where".into()],
        actor: None,
        at: at.to_string(),
        journal_seq: None,
    }
}
