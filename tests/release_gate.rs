//! The release gate's tests rule, from a stage's real JUnit report to the decision: a production
//! environment that requires passing tests refuses the approval while a test fails (naming it),
//! fails closed when no test results exist, and lets a run whose tests pass through; the
//! approvals list (`approvals --json`) carries the tests verdict with its counts.

mod support;

use std::path::Path;
use std::time::Duration;

use flightdeck::app::state::Overlay;
use flightdeck::ci::CiProvider;
use flightdeck::domain::{RunStatus, Trigger};
use support::cockpit::Cockpit;

const LIMIT: Duration = Duration::from_secs(30);

fn corpus(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus").join(name).display().to_string()
}

/// A pipeline whose test stage copies `report` (none: writes no test results) into place.
fn config(report: Option<&str>) -> String {
    let (run, reports) = match report {
        Some(r) => (format!("mkdir -p out && cp {r} out/junit.xml"), "reports = [\"out/junit.xml\"]"),
        None => ("echo no test results".to_string(), ""),
    };
    format!(
        r#"
[environments.prod]
production = true
four_eyes = false
[environments.prod.release]
max_severity = "high"
tests = "pass"
[[pipelines.release.stages]]
name = "test"
run = "{run}"
{reports}
[[pipelines.release.stages]]
name = "approve-prod"
needs = ["test"]
environment = "prod"
gate = true
"#
    )
}

async fn waiting(report: Option<&str>) -> (Cockpit, flightdeck::domain::RunRef) {
    let mut c = Cockpit::new(&config(report), 140, 40);
    c.until("history loaded", LIMIT, |s| s.runs_loaded).await;
    let run = c.runner.trigger("release".into(), Trigger { actor: "bob".into(), via: "cli".into(), ..Default::default() }).await.unwrap();
    // The evidence as of the finished stage (one read while it ran said "not produced yet").
    let has_results = report.is_some();
    c.until("the gate waits with its evidence read", LIMIT, |s| {
        s.run(&run).is_some_and(|r| {
            r.record.status == RunStatus::Waiting && r.evidence.as_ref().is_some_and(|e| !has_results || !e.tests.is_empty())
        })
    })
    .await;
    (c, run)
}

fn approvals_json(c: &Cockpit) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flightdeck"))
        .arg("--config")
        .arg(c.dir.path().join("flightdeck.toml"))
        .arg("--data-dir")
        .arg(c.dir.path().join("data"))
        .args(["approvals", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_test_refuses_the_approval_naming_it() {
    // pytest's own report: 10 test cases, 2 failing.
    let (mut c, _run) = waiting(Some(&corpus("junit-pytest.xml"))).await;
    c.press("2a");
    assert!(c.state.overlay.is_none(), "refused, no dialog");
    let err = c.state.toasts.iter().find(|t| t.text.contains("tests:")).expect("refused by the tests rule");
    assert!(err.text.contains("2 of 10 tests failing") && err.text.contains("test_always_fail"), "{}", err.text);

    // The findings screen shows the run's test results and where the first failures are.
    c.press("3");
    let screen = c.screen();
    for want in
        ["tests out/junit.xml: 10 tests: 2 failed, 2 skipped", "✗ tests.test_lib test_always_fail (tests/test_lib.py:25): assert False"]
    {
        assert!(screen.contains(want), "{want}:\n{screen}");
    }
    let rows = approvals_json(&c);
    let tests = &rows[0]["security_gate"]["tests"];
    assert_eq!((tests["pass"].as_bool(), tests["tests"].as_u64(), tests["failing"].as_u64()), (Some(false), Some(10), Some(2)), "{rows:#}");
    assert_eq!(rows[0]["you_may_approve"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_test_results_fail_closed_and_passing_tests_let_the_approval_through() {
    let (mut c, _run) = waiting(None).await;
    c.press("2a");
    let err = c.state.toasts.iter().find(|t| t.text.contains("tests:")).expect("refused: nothing to judge");
    assert!(err.text.contains("no test results"), "{}", err.text);

    let dir = tempfile::tempdir().unwrap();
    let passing = dir.path().join("passing.xml");
    // The Jest report with its failing suite removed, as Jest would write it after a fix.
    let jest = std::fs::read_to_string(corpus("junit-jest-large.xml")).unwrap();
    let fixed: String = {
        let mut out = String::new();
        let mut skip = false;
        for line in jest.lines() {
            if line.contains("<testsuite ") && !line.contains("failures=\"0\"") {
                skip = true;
            }
            if !skip {
                out.push_str(line);
                out.push('\n');
            }
            if skip && line.contains("</testsuite>") {
                skip = false;
            }
        }
        out
    };
    std::fs::write(&passing, fixed).unwrap();
    let (mut c, run) = waiting(Some(&passing.display().to_string())).await;
    let t = c.state.run(&run).and_then(|r| r.evidence.as_ref()).map(|e| e.tests.clone()).unwrap();
    assert!(t[0].summary.tests > 4000 && t[0].summary.failing() == 0, "{:?}", t[0].summary.text());
    let rows = approvals_json(&c);
    assert_eq!(rows[0]["security_gate"]["tests"]["pass"], true, "{rows:#}");
    c.press("2a");
    let Some(Overlay::Confirm(dialog)) = &c.state.overlay else { panic!("the approval asks: {:?}", c.state.toasts) };
    let said = dialog.notes.join("\n");
    assert!(said.contains("tests:") && said.contains("tests passed"), "the dialog shows the tests verdict: {said}");
    // Approved: the journal record says what the approver saw.
    c.press("approve-prod<enter>tests green<enter>");
    c.until("approved", LIMIT, |s| s.run(&run).is_some_and(|r| r.record.status == RunStatus::Success)).await;
    let (records, _) = flightdeck::audit::Journal::in_data_dir(&c.dir.path().join("data")).read().unwrap();
    let approval = records.iter().find(|r| r.action == "gate.approve").expect("journaled");
    let seen = approval.parameters["policy_said"].to_string();
    assert!(seen.contains("tests passed"), "{seen}");
}

fn coverage_config(min: &str, with_reports: bool) -> String {
    let (run, reports) = if with_reports {
        (
            format!(
                "mkdir -p out && cp {} out/lcov.info && cp {} out/cobertura.xml",
                corpus("lcov-yui.info"),
                corpus("cobertura-istanbul.xml")
            ),
            "reports = [\"out/lcov.info\", \"out/cobertura.xml\"]",
        )
    } else {
        ("echo no coverage".to_string(), "")
    };
    format!(
        "[environments.prod]\nproduction = true\nfour_eyes = false\n[environments.prod.release]\nmax_severity = \"high\"\nmin_coverage = {min}\n\
         [[pipelines.release.stages]]\nname = \"test\"\nrun = \"{run}\"\n{reports}\n\
         [[pipelines.release.stages]]\nname = \"approve-prod\"\nneeds = [\"test\"]\nenvironment = \"prod\"\ngate = true\n"
    )
}

async fn waiting_with(config: String, reports: usize) -> Cockpit {
    let mut c = Cockpit::new(&config, 140, 40);
    c.until("history loaded", LIMIT, |s| s.runs_loaded).await;
    let run = c.runner.trigger("release".into(), Trigger { actor: "bob".into(), via: "cli".into(), ..Default::default() }).await.unwrap();
    c.until("the gate waits with its evidence read", LIMIT, |s| {
        s.run(&run)
            .is_some_and(|r| r.record.status == RunStatus::Waiting && r.evidence.as_ref().is_some_and(|e| e.coverage.len() == reports))
    })
    .await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coverage_below_the_minimum_or_missing_refuses_and_enough_passes() {
    // LCOV (218 of 263 lines) and Cobertura (7 of 8) together: 225 of 271 lines, 83.0 %.
    let mut c = waiting_with(coverage_config("85", true), 2).await;
    c.press("2a");
    let err = c.state.toasts.iter().find(|t| t.text.contains("coverage:")).expect("refused by the coverage rule");
    assert!(err.text.contains("83.0 % of 271 lines (at least 85 % wanted)"), "{}", err.text);
    let rows = approvals_json(&c);
    let cov = &rows[0]["security_gate"]["coverage"];
    assert_eq!(
        (cov["lines_valid"].as_u64(), cov["lines_covered"].as_u64(), cov["pass"].as_bool()),
        (Some(271), Some(225), Some(false)),
        "{rows:#}"
    );

    let mut c = waiting_with(coverage_config("80", true), 2).await;
    c.press("2a");
    assert!(matches!(c.state.overlay, Some(Overlay::Confirm(_))), "{:?}", c.state.toasts);

    let mut c = waiting_with(coverage_config("80", false), 0).await;
    c.press("2a");
    let err = c.state.toasts.iter().find(|t| t.text.contains("coverage:")).expect("refused: nothing to judge");
    assert!(err.text.contains("no coverage report"), "{}", err.text);
}
