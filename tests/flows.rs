//! Key-sequence flows through the real reducer, effect runner and local runner.

mod support;

use std::time::Duration;

use flightdeck::app::state::{Overlay, Pane};
use flightdeck::domain::{JobStatus, RunStatus};
use support::cockpit::Cockpit;
use support::process_alive;

const LIMIT: Duration = Duration::from_secs(30);

fn config(marker: &str) -> String {
    format!(
        r#"
[runner]
kill_grace = "500ms"
[environments.staging]
[[pipelines.ship.stages]]
name = "build"
run = "for i in 1 2 3 4 5; do echo building part $i; done; echo 'error: warning treated as error' >&2; echo done"
[[pipelines.ship.stages]]
name = "approve"
needs = ["build"]
environment = "staging"
gate = true
[[pipelines.ship.stages]]
name = "deploy"
needs = ["approve"]
run = "echo deployed"
[[pipelines.slow.stages]]
name = "forever"
run = "echo started; sleep {marker}"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_open_follow_search_and_approve() {
    let mut c = Cockpit::new(&config("5"), 120, 40);
    c.until("history loaded", LIMIT, |s| s.runs_loaded).await;
    assert!(c.screen().contains("no runs yet"));

    // Trigger the pipeline from the command line, confirm.
    c.press(":run ship<enter>");
    assert!(matches!(c.state.overlay, Some(Overlay::Confirm(_))));
    c.press("y");
    c.until("run #1 waits at the gate", LIMIT, |s| {
        s.run(&flightdeck::domain::RunRef::local(1)).is_some_and(|r| r.record.status == RunStatus::Waiting)
    })
    .await;

    // Open the run and the build job's log.
    c.press("<enter>");
    assert_eq!(c.state.focus, Pane::Jobs);
    c.press("<left><enter>");
    assert_eq!(c.state.selected_job.as_deref(), Some("build"));
    assert_eq!(c.state.focus, Pane::Log);
    c.until("the build log is on screen", LIMIT, |s| s.current_log().is_some_and(|l| l.store.len() >= 7)).await;
    assert!(c.state.log.follow);
    let screen = c.screen();
    assert!(screen.contains("building part 5"), "{screen}");

    // Search, then jump to the first error.
    c.press("/part<enter>");
    // Five output lines plus the command line echoed at the top of the log.
    assert_eq!(c.state.log.search.as_ref().unwrap().matches.len(), 6);
    assert!(c.screen().contains("/part 1/6"));
    c.press("n");
    assert!(c.screen().contains("/part 2/6"));
    c.press("<esc>e");
    assert!(!c.state.log.follow);

    // Approve the gate: the deploy runs and the run succeeds.
    c.press("a");
    let Some(Overlay::Confirm(dialog)) = &c.state.overlay else { panic!("approve asks first") };
    assert!(dialog.lines.iter().any(|l| l.contains("environment staging")), "{:?}", dialog.lines);
    c.press("y");
    c.until("run #1 succeeds", LIMIT, |s| {
        s.run(&flightdeck::domain::RunRef::local(1)).is_some_and(|r| r.record.status == RunStatus::Success)
    })
    .await;
    c.until("approval reported", LIMIT, |s| s.in_flight.is_empty()).await;
    assert!(c.state.toasts.iter().any(|t| t.text.contains("approved gate `approve`")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_from_the_cockpit_ends_the_processes() {
    let marker = format!("411.{}", std::process::id());
    let mut c = Cockpit::new(&config(&marker), 80, 24);
    c.until("history loaded", LIMIT, |s| s.runs_loaded).await;
    c.press(":run slow<enter>y");
    c.until("the job runs", LIMIT, |s| s.current_job().is_some_and(|j| j.status == JobStatus::Running)).await;
    c.until("its output arrives", LIMIT, |s| s.current_log().is_some_and(|l| !l.store.is_empty())).await;
    assert!(process_alive(&format!("sleep {marker}")));
    c.press("c");
    let Some(Overlay::Confirm(dialog)) = &c.state.overlay else { panic!("cancel asks first") };
    assert!(dialog.lines.iter().any(|l| l.contains("forever")), "{:?}", dialog.lines);
    c.press("y");
    c.until("the run is cancelled", LIMIT, |s| {
        s.run(&flightdeck::domain::RunRef::local(1)).is_some_and(|r| r.record.status == RunStatus::Cancelled)
    })
    .await;
    assert!(!process_alive(&format!("sleep {marker}")));
    assert!(c.screen().contains("cancelled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_from_another_process_are_listed_after_a_restart() {
    let mut c = Cockpit::new(&config("5"), 120, 40);
    c.until("history loaded", LIMIT, |s| s.runs_loaded).await;
    c.press(":run ship<enter>y");
    c.until("gate waits", LIMIT, |s| s.run(&flightdeck::domain::RunRef::local(1)).is_some_and(|r| r.record.status == RunStatus::Waiting))
        .await;
    c.press("x");
    c.press("y");
    c.until("rejected", LIMIT, |s| s.run(&flightdeck::domain::RunRef::local(1)).is_some_and(|r| r.record.status == RunStatus::Failed))
        .await;

    // A second cockpit on the same data directory shows the history and reads the log from disk.
    let data = c.dir.path().join("data");
    let cfg = support::config_in(c.dir.path(), &config("5"));
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let runner = flightdeck::ci::local::LocalRunner::new(cfg, &data, tx).unwrap();
    let runs = flightdeck::ci::CiProvider::list_runs(&runner, Default::default()).await.unwrap().runs;
    assert_eq!(runs[0].job("deploy").unwrap().status, JobStatus::Skipped);
    let log = flightdeck::ci::CiProvider::read_log(&runner, flightdeck::domain::RunRef::local(1), "approve".into()).await.unwrap();
    assert!(log.iter().any(|l| String::from_utf8_lossy(&l.bytes).contains("rejected by alice@ops")));
}
