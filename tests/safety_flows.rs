//! The safety core through the cockpit: typed confirmation of a production approval, a refused
//! self-approval, a stale approval, a double keypress, a change freeze with break-glass, and a
//! journal that cannot be written (nothing happens).

mod support;

use std::time::Duration;

use flightdeck::app::state::{ConfirmField, Overlay, Screen};
use flightdeck::audit::{Journal, Phase};
use flightdeck::ci::CiProvider;
use flightdeck::domain::{GateDecision, JobStatus, RunStatus, Trigger};
use flightdeck::policy::Tier;
use support::cockpit::Cockpit;

const LIMIT: Duration = Duration::from_secs(30);

fn config(extra: &str) -> String {
    format!(
        r#"
[environments.prod]
production = true
{extra}
[[pipelines.release.stages]]
name = "build"
run = "echo built"
[[pipelines.release.stages]]
name = "approve-prod"
needs = ["build"]
environment = "prod"
gate = true
[[pipelines.release.stages]]
name = "deploy-prod"
needs = ["approve-prod"]
environment = "prod"
run = "echo deployed"
"#
    )
}

/// Starts a run as someone else (bob) and waits until its gate waits.
async fn bobs_run_at_the_gate(c: &mut Cockpit) -> flightdeck::domain::RunRef {
    c.until("history loaded", LIMIT, |s| s.runs_loaded).await;
    let id =
        c.runner.trigger("release".into(), Trigger { actor: "bob@laptop".into(), via: "cli".into(), ..Default::default() }).await.unwrap();
    c.until("the gate waits", LIMIT, |s| s.run(&id).is_some_and(|r| r.record.status == RunStatus::Waiting)).await;
    id
}

fn journal(c: &Cockpit) -> Vec<flightdeck::audit::AuditRecord> {
    let (records, report) = Journal::in_data_dir(&c.dir.path().join("data")).read().unwrap();
    assert!(report.ok(), "{report}");
    records
}

fn gate_status(c: &Cockpit, run: &flightdeck::domain::RunRef) -> JobStatus {
    c.state.run(run).unwrap().record.job("approve-prod").unwrap().status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_a_production_gate_needs_the_typed_name_and_a_reason() {
    let mut c = Cockpit::new(&config(""), 120, 40);
    let run = bobs_run_at_the_gate(&mut c).await;
    c.press("2");
    assert_eq!(c.state.screen, Screen::Approvals);
    assert!(c.screen().contains("approve-prod") && c.screen().contains("bob@laptop"), "{}", c.screen());
    c.press("a");
    let Some(Overlay::Confirm(d)) = &c.state.overlay else { panic!("a dialog") };
    assert_eq!(d.tier, Tier::Typed);
    assert_eq!(d.blocked().as_deref(), Some("type `approve-prod` exactly"));
    assert!(c.screen().contains("submit disabled"), "{}", c.screen());
    // Enter with nothing typed does nothing; a wrong name does nothing.
    c.press("<enter><enter>");
    c.press("approve-pro<enter>ship it<enter>");
    assert!(matches!(c.state.overlay, Some(Overlay::Confirm(_))), "still open: the name is wrong");
    assert_eq!(gate_status(&c, &run), JobStatus::Waiting);
    // Fix the name, give the reason, submit.
    let Some(Overlay::Confirm(d)) = &c.state.overlay else { panic!() };
    assert_eq!(d.field, ConfirmField::Name);
    c.press("d<tab>");
    assert!(c.state.overlay.as_ref().is_some_and(|o| matches!(o, Overlay::Confirm(d) if d.blocked().is_none())));
    c.press("<enter>");
    assert!(c.state.overlay.is_none());
    c.until("the run succeeds", LIMIT, |s| s.run(&run).is_some_and(|r| r.record.status == RunStatus::Success)).await;
    c.until("reported", LIMIT, |s| s.in_flight.is_empty()).await;

    let records = journal(&c);
    let intent = records.iter().find(|r| r.action == "gate.approve" && r.phase == Phase::Intent).expect("intent");
    let outcome = records.iter().find(|r| r.action == "gate.approve" && r.phase == Phase::Outcome).expect("outcome");
    assert!(intent.seq < outcome.seq && outcome.intent == Some(intent.seq));
    assert_eq!((intent.actor.as_str(), intent.reason.as_str(), intent.environment.as_deref()), ("alice@ops", "ship it", Some("prod")));
    assert_eq!(intent.parameters["run"], run.text().as_str(), "the journal names the run in its provider-neutral form");
    assert_eq!(intent.parameters["confirmation"], "typed");
    assert_eq!(outcome.result, "success");
    let rec = c.state.run(&run).unwrap().record.job("approve-prod").unwrap().gate.clone().unwrap();
    assert_eq!(rec.decision.unwrap().comment, "ship it", "the reason travels with the decision");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_your_own_run_is_refused_and_journaled() {
    let mut c = Cockpit::new(&config(""), 120, 40);
    c.until("history loaded", LIMIT, |s| s.runs_loaded).await;
    c.press(":run release<enter>");
    let Some(Overlay::Confirm(d)) = &c.state.overlay else { panic!("a dialog") };
    assert_eq!(d.tier, Tier::Dialog, "triggering a prod pipeline states its effect");
    assert!(d.lines.iter().any(|l| l.contains("deploys to prod")), "{:?}", d.lines);
    c.press("y");
    c.until("the gate waits", LIMIT, |s| {
        s.run(&flightdeck::domain::RunRef::local(1)).is_some_and(|r| r.record.status == RunStatus::Waiting)
    })
    .await;
    c.press("a");
    assert!(c.state.overlay.is_none(), "no dialog for a refused action");
    let err = c.state.toasts.iter().find(|t| t.text.contains("four-eyes")).expect("the rule is named");
    assert!(err.text.contains("environments.prod.four_eyes"), "{}", err.text);
    wait_journal(&mut c, "refused").await;
    assert_eq!(gate_status(&c, &flightdeck::domain::RunRef::local(1)), JobStatus::Waiting);
}

async fn wait_journal(c: &mut Cockpit, result: &str) {
    for _ in 0..100 {
        if journal_has(c, result) {
            return;
        }
        c.pump(Duration::from_millis(50)).await;
    }
    panic!("no `{result}` record in the journal");
}

fn journal_has(c: &Cockpit, result: &str) -> bool {
    Journal::in_data_dir(&c.dir.path().join("data")).read().map(|(r, _)| r.iter().any(|r| r.result == result)).unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_approval_is_refused_and_a_double_keypress_acts_once() {
    let mut c = Cockpit::new(&config("four_eyes = false\n[environments.prod.confirm]\napprove = \"yes-no\""), 120, 40);
    let run = bobs_run_at_the_gate(&mut c).await;
    c.press("2a");
    assert!(matches!(c.state.overlay, Some(Overlay::Confirm(_))));
    // Someone else decides while the dialog is open.
    let other = GateDecision { approved: false, by: "carol".into(), at: jiff::Timestamp::now(), comment: "not today".into() };
    support::journal_decision(&c.dir.path().join("data"), &run, "approve-prod", &other);
    c.runner.decide_gate(run.clone(), "approve-prod".into(), other).await.unwrap();
    c.until("the rejection arrives", LIMIT, |s| s.run(&run).is_some_and(|r| r.record.status.is_terminal())).await;
    c.press("y");
    assert!(
        c.state.toasts.iter().any(|t| t.text.contains("stale") && t.text.contains("already rejected by carol")),
        "{:?}",
        c.state.toasts
    );
    wait_journal(&mut c, "refused").await;
    assert!(journal(&c).iter().all(|r| r.phase != Phase::Intent || r.actor == "carol"), "nothing was attempted by alice");

    // A second run: approve, then press again at once.
    let run2 = c.runner.trigger("release".into(), Trigger { actor: "bob".into(), via: "cli".into(), ..Default::default() }).await.unwrap();
    c.until("second gate waits", LIMIT, |s| s.run(&run2).is_some_and(|r| r.record.status == RunStatus::Waiting)).await;
    c.press("ay");
    c.press("ay");
    c.press("ay");
    c.until("the run succeeds", LIMIT, |s| s.run(&run2).is_some_and(|r| r.record.status == RunStatus::Success)).await;
    c.until("settled", LIMIT, |s| s.in_flight.is_empty()).await;
    let intents = journal(&c).iter().filter(|r| r.phase == Phase::Intent && r.action == "gate.approve").count();
    assert_eq!(intents, 1, "one approval, however many keypresses");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_refuses_until_break_glass_with_a_reason() {
    let freeze = "[[environments.prod.freeze]]\nreason = \"year-end freeze\"\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n";
    let mut c = Cockpit::new(&config(&format!("four_eyes = false\n{freeze}")), 120, 40);
    let run = bobs_run_at_the_gate(&mut c).await;
    c.press("2a");
    let Some(Overlay::Confirm(d)) = &c.state.overlay else { panic!("the freeze dialog") };
    assert!(d.frozen.as_ref().unwrap().contains("year-end freeze"));
    assert!(c.screen().contains("break-glass"), "{}", c.screen());
    c.press("y<enter>");
    assert_eq!(gate_status(&c, &run), JobStatus::Waiting, "y and enter do nothing in a freeze");
    c.press("B");
    let Some(Overlay::Confirm(d)) = &c.state.overlay else { panic!() };
    assert!(d.break_glass && d.tier == Tier::Typed);
    c.press("approve-prod<enter>sev1 fix, approved by the incident commander<enter>");
    c.until("the run succeeds", LIMIT, |s| s.run(&run).is_some_and(|r| r.record.status == RunStatus::Success)).await;
    c.until("settled", LIMIT, |s| s.in_flight.is_empty()).await;
    let intent = journal(&c).into_iter().find(|r| r.phase == Phase::Intent).unwrap();
    assert!(intent.break_glass);
    assert_eq!(intent.reason, "sev1 fix, approved by the incident commander");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_journal_cannot_be_written_nothing_happens() {
    let mut c = Cockpit::new(&config("four_eyes = false\n[environments.prod.confirm]\napprove = \"yes-no\""), 120, 40);
    let run = bobs_run_at_the_gate(&mut c).await;
    // The journal's path is taken by a directory: every append fails.
    let path = c.dir.path().join("data/audit.jsonl");
    let _ = std::fs::remove_file(&path);
    std::fs::create_dir_all(&path).unwrap();
    c.press("2ay");
    c.until("the failure is reported", LIMIT, |s| s.in_flight.is_empty()).await;
    let err = c.state.toasts.iter().find(|t| t.text.contains("not done")).expect("told why");
    assert!(err.text.contains("audit journal") && err.text.contains("cannot be written"), "{}", err.text);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let on_disk = c.runner.store().load(&run).unwrap();
    assert_eq!(on_disk.job("approve-prod").unwrap().status, JobStatus::Waiting, "the gate was not touched");
}
