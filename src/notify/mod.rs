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

/// Whether `sink` takes `notice`: its events and environments. A sink is never told that it
/// itself failed (that would loop).
pub fn routed_to(sink: &SinkSettings, notice: &Notice) -> bool {
    if notice.event == "notify.failed" && notice.subject == sink.name {
        return false;
    }
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

/// What a person does to a rollout (the journal's action), the event it is, and the verb told.
const BY_A_PERSON: &[(&str, &str, &str)] = &[
    ("rollout.pause", "rollout.paused", "paused"),
    ("rollout.promote", "rollout.promoted", "promoted"),
    ("rollout.promote-full", "rollout.promoted-full", "fully promoted"),
    ("rollout.abort", "rollout.aborted", "aborted"),
    ("rollout.undo", "rollout.undone", "rolled back"),
];

/// What a rollout's controller does by itself, likewise.
const BY_THE_CONTROLLER: &[(&str, &str, &str)] =
    &[("rollout.auto-pause", "rollout.paused", "paused"), ("rollout.auto-abort", "rollout.aborted", "aborted")];

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
    // Parameters carry names from outside too (a GitHub environment, a job): shown plain.
    let param = |k: &str| {
        rec.parameters
            .get(k)
            .and_then(|v| v.as_str().map(str::to_string).or_else(|| (!v.is_null()).then(|| v.to_string())))
            .map(|v| plain(&v))
    };
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
    let by =
        |table: &[(&str, &'static str, &'static str)]| table.iter().find(|(action, ..)| *action == rec.action).map(|(_, e, v)| (*e, *v));
    if let Some((event, verb)) = by(BY_A_PERSON).filter(|_| succeeded) {
        push(event, target.clone(), format!("{target} was {verb} by {by_person}{because}"), Vec::new(), Some(rec.actor.clone()));
    } else if let Some((event, verb)) = by(BY_THE_CONTROLLER).filter(|_| observed) {
        // The controller acts by itself only on a canary judged Failed.
        push(event, target.clone(), format!("{target} was {verb} by its controller{because}"), Vec::new(), None);
        push("canary.failed", target.clone(), format!("the canary of {target} was judged Failed{because}"), Vec::new(), None);
    }
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
            let run = if run.is_empty() { target.clone() } else { run.clone() };
            push(
                "run.cancelled",
                run.clone(),
                format!("run {run} was cancelled by {by_person}{because}"),
                Vec::new(),
                Some(rec.actor.clone()),
            );
        }
        ("rollout.waiting", _, true) => {
            push("rollout.paused", target.clone(), format!("{target} is paused, waiting to be promoted{env}{because}"), Vec::new(), None);
        }
        ("rollout.promoted", _, true) => {
            push("rollout.promoted-full", target.clone(), format!("{target} is fully promoted{because}"), Vec::new(), None);
        }
        ("notify.failed", _, true) => {
            let event = param("event").unwrap_or_default();
            push(
                "notify.failed",
                target.clone(),
                format!("a `{event}` notification could not be delivered to {target}{because}"),
                vec!["see what waits or was given up: flightdeck notify outbox".into()],
                None,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(action: &str, phase: Phase, result: &str, reason: &str) -> AuditRecord {
        let rec = AuditRecord {
            seq: 7,
            time: "2026-11-29T08:00:00Z".into(),
            actor: "alice".into(),
            origin: "cli".into(),
            environment: Some("production".into()),
            target: "web".into(),
            action: action.into(),
            parameters: serde_json::json!({ "revision": 3 }),
            reason: reason.into(),
            phase,
            result: result.into(),
            error: None,
            intent: None,
            break_glass: false,
            prev_hash: crate::audit::GENESIS.into(),
            hash: String::new(),
        };
        rec.seal()
    }

    fn events(rec: &AuditRecord) -> Vec<String> {
        notices_from(rec, &Default::default()).into_iter().map(|n| n.event).collect()
    }

    #[test]
    fn what_the_controller_does_by_itself_is_told_with_its_cause() {
        let abort = record("rollout.auto-abort", Phase::Event, "aborted", "analysis failed: error ratio 0.12 > 0.05");
        assert_eq!(events(&abort), ["rollout.aborted", "canary.failed"]);
        let n = &notices_from(&abort, &Default::default())[1];
        assert!(n.title.contains("judged Failed") && n.title.contains("error ratio 0.12"), "{}", n.title);
        assert_eq!(n.actor, None);
        assert_eq!(events(&record("rollout.auto-pause", Phase::Event, "paused", "analysis failed")), ["rollout.paused", "canary.failed"]);
        assert_eq!(events(&record("rollout.promoted", Phase::Event, "healthy", "")), ["rollout.promoted-full"]);
        assert_eq!(events(&record("rollout.waiting", Phase::Event, "paused", "step 2")), ["rollout.paused"]);
        // A weight step is progress, not news.
        assert!(events(&record("rollout.set-weight", Phase::Event, "progressing", "")).is_empty());
    }

    #[test]
    fn only_what_happened_is_told_not_what_was_attempted_or_refused() {
        assert_eq!(events(&record("rollout.undo", Phase::Outcome, "success", "bad build")), ["rollout.undone"]);
        assert!(events(&record("rollout.undo", Phase::Intent, "pending", "")).is_empty());
        assert!(events(&record("rollout.abort", Phase::Outcome, "failure", "")).is_empty());
        assert!(events(&record("rollout.abort", Phase::Refused, "refused", "")).is_empty());
        let mut glass = record("rollout.promote-full", Phase::Outcome, "success", "hotfix");
        glass.break_glass = true;
        let glass = glass.seal();
        assert_eq!(events(&glass), ["rollout.promoted-full", "freeze.broken"]);
    }

    #[test]
    fn names_from_outside_in_the_parameters_are_shown_plain() {
        let mut rec = record("gate.approve", Phase::Outcome, "success", "ok");
        rec.parameters = serde_json::json!({ "run": "gh:acme/shop:42", "gate": "environment \u{1b}]52;c;aGk=\u{7}prod\u{202e}" });
        let n = notices_from(&rec.seal(), &Default::default()).remove(0);
        assert!(n.title.contains("environment") && n.title.contains("prod"), "{}", n.title);
        assert!(!n.title.chars().any(|c| c == '\u{1b}' || c == '\u{7}' || c == '\u{202e}'), "{:?}", n.title);
    }

    #[test]
    fn each_notice_of_a_record_has_its_own_stable_key() {
        let abort = record("rollout.auto-abort", Phase::Event, "aborted", "x");
        let a = notices_from(&abort, &Default::default());
        let b = notices_from(&abort, &Default::default());
        assert_eq!(a, b, "built again after a crash: the same keys");
        assert_ne!(a[0].key, a[1].key);
    }

    #[test]
    fn a_sink_is_not_told_of_its_own_failure() {
        let failed = record("notify.failed", Phase::Event, "recorded", "answered 400");
        let mut failed = failed;
        failed.target = "pager".into();
        failed.parameters = serde_json::json!({ "event": "rollout.aborted" });
        let n = notices_from(&failed.seal(), &Default::default()).remove(0);
        let sink = |name: &str| SinkSettings {
            name: name.into(),
            kind: crate::config::SinkKind::Webhook { url: "https://example.com".into(), secret: crate::metrics::Secret::Env("X".into()) },
            events: vec![],
            environments: vec![],
            group_wait: std::time::Duration::ZERO,
            give_up_after: std::time::Duration::from_secs(60),
            timeout: std::time::Duration::from_secs(1),
        };
        assert!(!routed_to(&sink("pager"), &n));
        assert!(routed_to(&sink("chat"), &n));
    }
}
