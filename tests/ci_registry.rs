//! The CI seam with more than one provider: the registry routes provider-neutral references,
//! merges lists, sends a trigger to the provider that has the pipeline and completes bare ids;
//! the cockpit decides a remote run's gate through the same policy, dialog and journal as a local
//! one, and nothing in the core knows which provider answered.

mod support;

use std::sync::Arc;
use std::time::Duration;

use flightdeck::app::state::{Overlay, Screen};
use flightdeck::audit::{Journal, Phase};
use flightdeck::ci::{CiError, CiProvider, Registry, RunQuery};
use flightdeck::domain::{JobStatus, RunRef, RunStatus, Trigger};
use support::Harness;
use support::cockpit::Cockpit;
use support::fake_ci::{FakeCi, PIPELINE};

const LIMIT: Duration = Duration::from_secs(30);
const LOCAL: &str = "[[pipelines.ok.stages]]\nname = \"a\"\nrun = \"true\"\n";

fn bob() -> Trigger {
    Trigger { actor: "bob@laptop".into(), via: "cli".into(), ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_routes_merges_and_resolves() {
    let h = Harness::new(LOCAL);
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let fake = Arc::new(FakeCi::new("cloud", false, tx.clone()));
    let registry = Registry::new(vec![Arc::new(h.runner.clone()), fake.clone()]);
    assert_eq!(registry.pipelines(), vec!["ok".to_string(), PIPELINE.to_string()]);

    // A trigger goes to the provider that has the pipeline; references say whose run it is.
    let local = registry.trigger("ok".into(), bob()).await.unwrap();
    let remote = registry.trigger(PIPELINE.into(), bob()).await.unwrap();
    assert_eq!((local.text(), remote.text()), ("local:1".to_string(), "cloud:build-1".to_string()));
    assert_eq!(fake.calls(), vec!["trigger cloud:build-1"]);
    // The same pipeline in two providers: a bare name is refused, a qualified one is routed.
    let twin = Arc::new(FakeCi::new("gh", true, tx.clone()));
    let both = Registry::new(vec![fake.clone(), twin.clone()]);
    let err = both.trigger(PIPELINE.into(), bob()).await.unwrap_err();
    assert!(err.to_string().contains("exists in cloud, gh; say which, e.g. cloud:remote-release"), "{err}");
    assert_eq!(both.trigger(format!("gh:{PIPELINE}"), bob()).await.unwrap().text(), "gh:1");
    let err = registry.trigger("nope".into(), bob()).await.unwrap_err();
    assert!(err.to_string().contains("configured: ok, remote-release"), "{err}");

    // Lists merge newest first, and respect the limit.
    let all = registry.list_runs(RunQuery::default()).await.unwrap().runs;
    let ids: Vec<String> = all.iter().map(|r| r.id.text()).collect();
    assert_eq!(ids, ["cloud:build-1", "local:1"], "the remote run was created last");
    assert_eq!(registry.list_runs(RunQuery { limit: 1, ..Default::default() }).await.unwrap().runs.len(), 1);

    // Every call reaches the provider the reference names, and only that one.
    assert_eq!(registry.run(remote.clone()).await.unwrap().status, RunStatus::Waiting);
    let log = registry.read_log(remote.clone(), "build".into()).await.unwrap();
    assert_eq!(log[0].bytes, b"build of cloud:build-1 on the remote runner");
    registry.cancel(remote.clone()).await.unwrap();
    assert_eq!(fake.calls().last().unwrap(), "cancel cloud:build-1");
    assert!(matches!(registry.cancel(RunRef::new("gh", "9")).await, Err(CiError::UnknownProvider { .. })));
    let err = registry.run(RunRef::new("gh", "9")).await.unwrap_err().to_string();
    assert!(err.contains("no CI provider named `gh`") && err.contains("local, cloud"), "{err}");

    // Bare ids: the one provider that claims it; none; or a question when two could.
    assert_eq!(registry.resolve("build-1".parse().unwrap()).unwrap(), remote);
    assert_eq!(registry.resolve("1".parse().unwrap()).unwrap(), local);
    assert_eq!(registry.resolve("#1".parse().unwrap()).unwrap(), local);
    assert!(matches!(registry.resolve("zzz".parse().unwrap()), Err(CiError::NoSuchRun(_))));
    let gh = Arc::new(FakeCi::new("gh", true, tx));
    let both = Registry::new(vec![Arc::new(h.runner.clone()), gh]);
    let err = both.resolve("1".parse().unwrap()).unwrap_err().to_string();
    assert!(err.contains("could be a run of local, gh") && err.contains("local:1"), "{err}");
    assert_eq!(both.resolve("gh:1".parse().unwrap()).unwrap(), RunRef::new("gh", "1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_runner_pages_its_history() {
    let h = Harness::new(LOCAL);
    for _ in 0..5 {
        h.runner.create_run("ok", bob()).unwrap();
    }
    let first = h.runner.list_runs(RunQuery { limit: 2, ..Default::default() }).await.unwrap();
    let numbers = |p: &flightdeck::ci::RunPage| p.runs.iter().map(|r| r.id.local_number().unwrap()).collect::<Vec<_>>();
    assert_eq!(numbers(&first), [5, 4]);
    let second = h.runner.list_runs(RunQuery { limit: 2, after: first.next.clone(), ..Default::default() }).await.unwrap();
    assert_eq!(numbers(&second), [3, 2]);
    let last = h.runner.list_runs(RunQuery { limit: 2, after: second.next.clone(), ..Default::default() }).await.unwrap();
    assert_eq!((numbers(&last), last.next), (vec![1], None));
    let none = h.runner.list_runs(RunQuery { pipeline: Some("other".into()), ..Default::default() }).await.unwrap();
    assert!(none.runs.is_empty());
    assert!(h.runner.list_runs(RunQuery { after: Some("x".into()), ..Default::default() }).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_runs_production_gate_is_decided_through_the_same_safety_core() {
    let config = "[environments.prod]\nproduction = true\n\n[[pipelines.ok.stages]]\nname = \"a\"\nrun = \"true\"\n";
    let mut fake = None;
    let mut c = Cockpit::with_providers(config, 120, 40, |events| {
        let f = Arc::new(FakeCi::new("cloud", false, events));
        fake = Some(f.clone());
        vec![f]
    });
    let fake = fake.unwrap();
    c.until("history loaded", LIMIT, |s| s.runs_loaded).await;
    let run = fake.trigger(PIPELINE.into(), bob()).await.unwrap();
    c.until("the remote run shows", LIMIT, |s| s.run(&run).is_some_and(|r| r.record.status == RunStatus::Waiting)).await;

    // The inbox lists it like any other gate; the production tier asks for the typed name.
    c.press("2");
    assert_eq!(c.state.screen, Screen::Approvals);
    assert!(c.screen().contains("approve-prod") && c.screen().contains("bob@laptop"), "{}", c.screen());
    c.press("a");
    assert!(matches!(&c.state.overlay, Some(Overlay::Confirm(_))), "{}", c.screen());
    c.press("approve-prod<tab>remote looks good<enter>");
    assert!(c.state.overlay.is_none(), "{}", c.screen());
    c.until("decided", LIMIT, |s| s.run(&run).is_some_and(|r| r.record.job("approve-prod").unwrap().status == JobStatus::Success)).await;
    c.until("reported", LIMIT, |s| s.in_flight.is_empty()).await;
    assert_eq!(fake.calls().last().unwrap(), "decide approve-prod cloud:build-1", "the decision went to the provider that owns the run");

    // The journal names the remote run in its provider-neutral form.
    let (records, report) = Journal::in_data_dir(&c.dir.path().join("data")).read().unwrap();
    assert!(report.ok(), "{report}");
    let intent = records.iter().find(|r| r.action == "gate.approve" && r.phase == Phase::Intent).expect("intent");
    assert_eq!(intent.parameters["run"], "cloud:build-1");
    assert_eq!(intent.reason, "remote looks good");
    let outcome = records.iter().find(|r| r.action == "gate.approve" && r.phase == Phase::Outcome).expect("outcome");
    assert_eq!(outcome.result, "success");

    // Its log is read through the registry too.
    c.press("1");
    c.press(":open build-1<enter>");
    assert_eq!(c.state.selected_run.as_ref(), Some(&run), "a bare id one run has opens it");
    c.until("the log arrives", LIMIT, |s| s.screen == Screen::Pipelines && log_has(s, "on the remote runner")).await;
}

fn log_has(s: &flightdeck::app::state::State, text: &str) -> bool {
    s.current_run().is_some_and(|r| r.logs.values().any(|l| l.store.iter_text().any(|line| line.contains(text))))
}
