//! Findings through the cockpit and the CLI: a scan stage's reports become the run's evidence,
//! the production gate blocks an approval, accepting the risk (typed, with a reason and an expiry)
//! writes the acceptances file and the journal, and then the approval goes through. An unreadable
//! report fails the gate closed.

mod support;

use std::path::Path;
use std::time::Duration;

use flightdeck::app::state::{Overlay, Screen};
use flightdeck::audit::{Journal, Phase};
use flightdeck::ci::CiProvider;
use flightdeck::domain::{RunStatus, Trigger};
use support::cockpit::Cockpit;

const LIMIT: Duration = Duration::from_secs(30);

fn config(report: &str) -> String {
    format!(
        r#"
[environments.prod]
production = true
four_eyes = false
[[pipelines.release.stages]]
name = "scan"
run = "mkdir -p out && cp {report} out/trivy.json"
reports = ["out/trivy.json"]
[[pipelines.release.stages]]
name = "approve-prod"
needs = ["scan"]
environment = "prod"
gate = true
[[pipelines.release.stages]]
name = "deploy"
needs = ["approve-prod"]
environment = "prod"
run = "echo deployed"
"#
    )
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reports").join(name).display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_blocks_until_the_risk_is_accepted() {
    // Only the openssl HIGH finding, so one acceptance opens the gate.
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("one-high.json");
    std::fs::write(
        &report,
        r#"{"SchemaVersion": 2, "ArtifactName": "app", "Results": [{"Target": "app (debian 12)", "Vulnerabilities": [
            {"VulnerabilityID": "CVE-2024-2511", "PkgName": "openssl", "InstalledVersion": "3.0.13", "FixedVersion": "3.0.14", "Severity": "HIGH", "Title": "openssl: memory growth"}]}]}"#,
    )
    .unwrap();
    let mut c = Cockpit::new(&config(&report.display().to_string()), 140, 40);
    c.until("history loaded", LIMIT, |s| s.runs_loaded).await;
    let run = c.runner.trigger("release".into(), Trigger { actor: "bob".into(), via: "cli".into(), ..Default::default() }).await.unwrap();
    c.until("the gate waits with its evidence read", LIMIT, |s| {
        s.run(&run).is_some_and(|r| r.record.status == RunStatus::Waiting && r.evidence.as_ref().is_some_and(|e| !e.findings.is_empty()))
    })
    .await;
    assert!(c.screen().contains("findings H1"), "{}", c.screen());

    // Approving is refused by the release gate, naming the finding.
    c.press("2a");
    assert!(c.state.overlay.is_none());
    let err = c.state.toasts.iter().find(|t| t.text.contains("release gate")).expect("refused by the gate");
    assert!(err.text.contains("CVE-2024-2511") && err.text.contains("environments.prod.security"), "{}", err.text);

    // Accept the risk from the findings screen.
    c.press("3");
    assert_eq!(c.state.screen, Screen::Findings);
    assert!(c.screen().contains("gate prod: FAIL"), "{}", c.screen());
    c.press("A");
    let Some(Overlay::Confirm(d)) = &c.state.overlay else { panic!("accept-risk dialog") };
    assert!(d.expiry.is_some(), "an expiry is asked for");
    assert_eq!(d.target.as_ref().unwrap().name, "CVE-2024-2511");
    c.press("CVE-2024-2511<enter>not reachable: TLS 1.3 only<enter>");
    let Some(Overlay::Confirm(d)) = &c.state.overlay else { panic!("still open at the expiry field") };
    assert!(d.blocked().is_none(), "{:?}", d.blocked());
    c.press("<enter>");
    c.until("accepted", LIMIT, |s| s.in_flight.is_empty() && s.acceptances.entries.len() == 1).await;
    let file = std::fs::read_to_string(c.dir.path().join("risk-acceptances.toml")).unwrap();
    assert!(file.contains("CVE-2024-2511") && file.contains("not reachable: TLS 1.3 only") && file.contains("alice@ops"), "{file}");
    c.pump(Duration::from_millis(200)).await;
    assert!(c.screen().contains("gate prod: pass"), "{}", c.screen());

    // Now the approval goes through.
    c.press("2a");
    assert!(matches!(c.state.overlay, Some(Overlay::Confirm(_))), "{:?}", c.state.toasts);
    c.press("approve-prod<enter>risk accepted, shipping<enter>");
    c.until("deployed", LIMIT, |s| s.run(&run).is_some_and(|r| r.record.status == RunStatus::Success)).await;

    let (records, report) = Journal::in_data_dir(&c.dir.path().join("data")).read().unwrap();
    assert!(report.ok());
    let actions: Vec<(&str, Phase)> = records.iter().map(|r| (r.action.as_str(), r.phase)).collect();
    assert!(actions.contains(&("gate.approve", Phase::Refused)));
    assert!(actions.contains(&("risk.accept", Phase::Outcome)));
    let accept = records.iter().find(|r| r.action == "risk.accept" && r.phase == Phase::Intent).unwrap();
    assert_eq!(accept.reason, "not reachable: TLS 1.3 only");
    assert!(accept.parameters["expires"].as_str().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_report_fails_the_gate_closed() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, &std::fs::read(fixture("trivy.json")).unwrap()[..300]).unwrap();
    let mut c = Cockpit::new(&config(&broken.display().to_string()), 140, 40);
    c.until("history loaded", LIMIT, |s| s.runs_loaded).await;
    let run = c.runner.trigger("release".into(), Trigger { actor: "bob".into(), via: "cli".into(), ..Default::default() }).await.unwrap();
    c.until("the gate waits with the scan's evidence read", LIMIT, |s| {
        s.run(&run).is_some_and(|r| {
            r.record.status == RunStatus::Waiting
                && r.evidence.as_ref().is_some_and(|e| e.unreadable.iter().any(|u| u.problem.contains("truncated")))
        })
    })
    .await;
    let log = c.runner.read_log(run, "scan".into()).await.unwrap();
    assert!(
        log.iter().any(|l| String::from_utf8_lossy(&l.bytes).contains("unreadable: out/trivy.json: the Trivy report is truncated")),
        "shown on the stage"
    );
    assert!(c.screen().contains("⚠ report"), "{}", c.screen());
    c.press("2a");
    let err = c.state.toasts.iter().find(|t| t.text.contains("release gate")).expect("fails closed");
    assert!(err.text.contains("unreadable"), "{}", err.text);
}

#[test]
fn the_cli_prints_findings_and_judges_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("flightdeck.toml");
    std::fs::write(&cfg, config(&fixture("trivy.json"))).unwrap();
    let bin = env!("CARGO_BIN_EXE_flightdeck");
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .arg("--config")
            .arg(&cfg)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["run", "release"]);
    assert!(out.status.success());
    for _ in 0..100 {
        let out = run(&["runs", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if v[0]["status"] == "waiting" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = run(&["findings", "1"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().nth(1).unwrap().starts_with("CRITICAL  CVE-2024-45490"), "{text}");
    assert!(!text.contains("AKIA"), "secrets stay in the report");
    let out = run(&["findings", "1", "--gate", "prod"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("release gate prod: FAIL") && err.contains("blocking: CRITICAL CVE-2024-45490"), "{err}");
    let out = run(&["findings", "1", "--gate", "nowhere"]);
    assert_eq!(out.status.code(), Some(3), "an unknown environment is an error, not a failing gate");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no environment `nowhere`"));
    let out = run(&["findings", "local:1", "--gate", "prod"]);
    assert_eq!(out.status.code(), Some(1), "the full reference works as the bare number does");
    let out = run(&["findings", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 7);
    let out = run(&["approve", "1", "--confirm", "approve-prod", "--reason", "ship"]);
    assert_eq!(out.status.code(), Some(3), "a refused approval did nothing");
    assert!(String::from_utf8_lossy(&out.stderr).contains("release gate in prod"));
    // Cancel the waiting run so no background worker outlives the test.
    let _ = run(&["cancel", "1", "--confirm", "release#1", "--reason", "test over"]);
}

/// A report left in the workspace by an earlier run says nothing about this one: the stage that
/// did not write it fails the gate closed, unless it says its reports may predate it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_older_than_its_stage_is_a_leftover_and_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.json");
    std::fs::copy(fixture("trivy.json"), &old).unwrap();
    let earlier = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&old).unwrap().set_modified(earlier).unwrap();
    for (may_predate, want_error) in [(false, true), (true, false)] {
        let config = format!(
            "[[pipelines.p.stages]]\nname = \"scan\"\nrun = \"true\"\nreports = [\"{}\"]\nreports_may_predate = {may_predate}\n",
            old.display()
        );
        let mut h = support::Harness::new(&config);
        let id = h.runner.trigger("p".into(), support::Harness::trigger()).await.unwrap();
        let (rec, _) = h.wait_done(id, LIMIT).await;
        let findings = rec.jobs[0].findings.as_ref().expect("the reports were looked at");
        let stale = findings.errors.iter().any(|e| e.contains("left from an earlier run"));
        assert_eq!(stale, want_error, "may_predate = {may_predate}: {findings:?}");
        assert_eq!(findings.reports.is_empty(), want_error, "{findings:?}");
    }
}
