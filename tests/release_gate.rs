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

    // `T` lists the failed tests; the selected one's output (pytest's traceback) is below it.
    c.press("T");
    let screen = c.screen();
    assert!(screen.contains("test_always_fail") && screen.contains("test_error"), "{screen}");
    assert!(screen.contains("> assert False") && screen.contains("tests/test_lib.py:25: AssertionError"), "{screen}");
    c.press("j");
    let screen = c.screen();
    assert!(screen.contains("raise Exception(\"error\")") && screen.contains("tests/test_lib.py:32: Exception"), "{screen}");
    // Accepting a risk needs a finding, not a test; `T` again shows the findings.
    c.press("A");
    assert!(c.state.overlay.is_none());
    c.press("T");
    assert!(c.screen().contains("SEVERITY"), "{}", c.screen());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coverage_exception_lets_the_rule_through_journaled_with_its_reason_and_expiry() {
    let mut c = waiting_with(coverage_config("85", true), 2).await;
    c.press("3E");
    let Some(Overlay::Confirm(d)) = &c.state.overlay else { panic!("the exception asks: {:?}", c.state.toasts) };
    assert_eq!(d.title, "Except the coverage rule in prod?");
    assert!(d.expiry.is_some(), "an expiry is asked for");
    c.press("rule:coverage<enter>legacy module, tests land next sprint<enter>");
    let Some(Overlay::Confirm(d)) = &c.state.overlay else { panic!("still open at the expiry field") };
    assert!(d.blocked().is_none(), "{:?}", d.blocked());
    c.press("<enter>");
    c.until("excepted", LIMIT, |s| s.in_flight.is_empty() && s.acceptances.entries.len() == 1).await;
    let file = std::fs::read_to_string(c.dir.path().join("risk-acceptances.toml")).unwrap();
    assert!(file.contains("id = \"rule:coverage\"") && file.contains("target = \"prod\"") && file.contains("legacy module"), "{file}");
    c.pump(Duration::from_millis(200)).await;
    assert!(c.screen().contains("excepted by"), "{}", c.screen());

    // The approvals list and the approval carry it: who excepted the rule, until when and why.
    let rows = approvals_json(&c);
    let cov = &rows[0]["release_gate"]["coverage"];
    assert_eq!(cov["pass"], true, "{rows:#}");
    assert!(cov["excepted"].as_str().is_some_and(|e| e.contains("legacy module, tests land next sprint")), "{rows:#}");
    c.press("2a");
    let Some(Overlay::Confirm(dialog)) = &c.state.overlay else { panic!("the approval asks: {:?}", c.state.toasts) };
    assert!(dialog.notes.join("\n").contains("excepted by"), "{:?}", dialog.notes);
    c.press("approve-prod<enter>shipping with the exception<enter>");
    c.until("approved", LIMIT, |s| s.in_flight.is_empty() && s.runs.iter().any(|r| r.record.status == RunStatus::Success)).await;
    let (records, _) = flightdeck::audit::Journal::in_data_dir(&c.dir.path().join("data")).read().unwrap();
    let except = records.iter().find(|r| r.action == "gate.except").expect("the exception is journaled");
    assert_eq!((except.reason.as_str(), except.parameters["rule"].as_str()), ("legacy module, tests land next sprint", Some("coverage")));
    let approval = records.iter().find(|r| r.action == "gate.approve").expect("journaled");
    assert!(approval.parameters["policy_said"].to_string().contains("excepted by"), "{}", approval.parameters);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_exception_changes_nothing_and_says_so() {
    let mut c = Cockpit::new(&coverage_config("85", true), 140, 40);
    std::fs::write(
        c.dir.path().join("risk-acceptances.toml"),
        "[[accept]]\nid = \"rule:coverage\"\ntarget = \"prod\"\nreason = \"old\"\nby = \"carol\"\nexpires = 2020-01-31\n",
    )
    .unwrap();
    c.until("history loaded", LIMIT, |s| s.runs_loaded).await;
    let run = c.runner.trigger("release".into(), Trigger { actor: "bob".into(), via: "cli".into(), ..Default::default() }).await.unwrap();
    c.until("waiting with evidence", LIMIT, |s| {
        s.run(&run).is_some_and(|r| r.record.status == RunStatus::Waiting && r.evidence.as_ref().is_some_and(|e| e.coverage.len() == 2))
    })
    .await;
    // What reading the acceptances file yields (it was written after the cockpit first read it).
    let file = flightdeck::findings::Acceptances::load(&c.dir.path().join("risk-acceptances.toml"));
    c.dispatch(flightdeck::app::action::Action::AcceptancesLoaded(file));
    assert_eq!(c.state.acceptances.entries.len(), 1);
    c.press("2a");
    let err = c.state.toasts.iter().find(|t| t.text.contains("coverage:")).expect("still refused");
    assert!(err.text.contains("the exception by carol expired 2020-01-31"), "{}", err.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_k6_run_whose_threshold_is_crossed_refuses_the_approval_naming_it() {
    let target = support::python_tools::Server::start("json", "http_target.py", &[]);
    let k6 = Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-tools/venv/bin/k6");
    assert!(k6.exists(), "k6 is missing: run `make test-tools` (make test runs it)");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("load.js");
    std::fs::write(
        &script,
        "import http from 'k6/http';\nexport const options = { vus: 2, iterations: 20, thresholds: { http_req_failed: ['rate<0.01'], http_req_duration: ['p(95)<5000'] } };\nexport default function () { http.get(`${__ENV.TARGET}/ok`); http.get(`${__ENV.TARGET}/missing`); }\n",
    )
    .unwrap();
    // The stage keeps going when k6 says a threshold was crossed: the gate, not the stage, decides.
    let run = format!(
        "mkdir -p out && K6_NO_USAGE_REPORT=true {} run --quiet -e TARGET=http://127.0.0.1:{} --summary-export out/k6.json {} || true",
        k6.display(),
        target.port,
        script.display()
    );
    let config = format!(
        "[environments.prod]\nproduction = true\nfour_eyes = false\n[environments.prod.release]\nmax_severity = \"high\"\nload = \"pass\"\n\
         [[pipelines.release.stages]]\nname = \"load\"\nrun = \"{run}\"\nreports = [\"out/k6.json\"]\n\
         [[pipelines.release.stages]]\nname = \"approve-prod\"\nneeds = [\"load\"]\nenvironment = \"prod\"\ngate = true\n"
    );
    let mut c = Cockpit::new(&config, 140, 40);
    c.until("history loaded", LIMIT, |s| s.runs_loaded).await;
    let id = c.runner.trigger("release".into(), Trigger { actor: "bob".into(), via: "cli".into(), ..Default::default() }).await.unwrap();
    c.until("waiting with the load test read", LIMIT, |s| {
        s.run(&id).is_some_and(|r| r.record.status == RunStatus::Waiting && r.evidence.as_ref().is_some_and(|e| !e.load.is_empty()))
    })
    .await;
    c.press("2a");
    let err = c.state.toasts.iter().find(|t| t.text.contains("load:")).expect("refused by the load rule");
    assert!(err.text.contains("k6 threshold rate<0.01 on http_req_failed crossed"), "{}", err.text);
    let rows = approvals_json(&c);
    let load = &rows[0]["release_gate"]["load"];
    assert_eq!(
        (load["pass"].as_bool(), load["thresholds"].as_u64(), load["thresholds_failed"].as_u64()),
        (Some(false), Some(2), Some(1)),
        "{rows:#}"
    );
    let rules: Vec<(&str, bool)> = rows[0]["release_gate"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["rule"].as_str().unwrap(), r["pass"].as_bool().unwrap()))
        .collect();
    assert_eq!(rules, [("findings", true), ("load", false)]);
    // The findings screen shows the run and what it crossed.
    c.press("<esc>3");
    let screen = c.screen();
    assert!(screen.contains("load k6 out/k6.json: 40 requests") && screen.contains("crossed: http_req_failed rate<0.01"), "{screen}");
    // The gate's verdict, one line per rule.
    for want in ["✗ gate prod: FAIL", "✓ findings: pass", "✗ load: 1 of 1 load test(s) short"] {
        assert!(screen.contains(want), "{want}:\n{screen}");
    }
}

#[test]
fn changed_lines_coverage_judges_what_the_change_added() {
    // The workspace is a git repository: src/app.js has 3 committed lines, and the change adds 4.
    let lcov = "TN:\nSF:src/app.js\nDA:1,1\nDA:2,1\nDA:3,0\nDA:4,1\nDA:5,0\nDA:6,3\nDA:7,0\nLF:7\nLH:4\nend_of_record\n";
    let e = support::cli_env::Env::new(&format!(
        "[findings]\ndiff_base = \"HEAD\"\n[environments.prod]\nproduction = true\nfour_eyes = false\n[environments.prod.release]\nmax_severity = \"high\"\nmin_changed_coverage = 75\n\
         [[pipelines.release.stages]]\nname = \"test\"\nrun = \"mkdir -p out && printf '{}' > out/lcov.info\"\nreports = [\"out/lcov.info\"]\n\
         [[pipelines.release.stages]]\nname = \"approve-prod\"\nneeds = [\"test\"]\nenvironment = \"prod\"\ngate = true\n",
        lcov.replace('\n', "\\\\n")
    ));
    let dir = e.dir.path();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "-q"]);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/app.js"), "a();\nb();\nc();\n").unwrap();
    git(&["add", "src/app.js"]);
    git(&["commit", "-q", "-m", "base"]);
    std::fs::write(dir.join("src/app.js"), "a();\nb();\nc();\nd();\ne();\nf();\ng();\n").unwrap();

    let (code, _, err) = e.run(&["run", "release"]);
    assert_eq!(code, 0, "{err}");
    e.wait_status(1, "waiting");
    let (code, out, err) = e.run(&["approvals", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let changed = &rows[0]["release_gate"]["changed_coverage"];
    // Lines 4 to 7 were added; 4 and 6 ran: 2 of 4.
    assert_eq!(
        (changed["lines_valid"].as_u64(), changed["lines_covered"].as_u64(), changed["pass"].as_bool()),
        (Some(4), Some(2), Some(false)),
        "{rows:#}"
    );
    assert_eq!(changed["summary"], "50.0 % of 4 changed lines since HEAD (at least 75 % wanted)", "{rows:#}");
}
