//! GitHub Actions as a CI provider, against the GitHub double: dispatch with inputs, jobs and
//! steps, logs behind a redirect (the token never goes to storage), deployment reviews as gates
//! through the policy and the journal, conditional requests, rate limits and errors.

mod support;

use std::time::Duration;

use flightdeck::ci::github::GithubProvider;
use flightdeck::ci::{CiProvider, RunQuery};
use flightdeck::config::GithubSettings;
use flightdeck::domain::{GateDecision, JobStatus, RunRef, RunStatus, Trigger};
use serde_json::Value;
use support::github::{GithubDouble, LOGIN, TOKEN};

const REPO: &str = "acme/shop";

const DEPLOY: &str = r#"
name: deploy
run-name: Deploy ${{ inputs.env }}
on:
  workflow_dispatch:
    inputs:
      env:
        type: choice
        options: [staging, production]
        required: true
      dry_run:
        type: boolean
        default: false
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - name: Check out
        uses: actions/checkout@v4
      - name: Test
        run: make test
  deploy:
    needs: build
    environment: production
    runs-on: ubuntu-latest
    steps:
      - name: Ship
        run: ./ship
"#;

/// A zip archive of files, as `actions/upload-artifact` makes one.
fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    for (name, bytes) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}

fn settings(gh: &GithubDouble) -> GithubSettings {
    gh.settings(REPO)
}

fn provider(gh: &GithubDouble) -> GithubProvider {
    gh.provider(REPO)
}

fn id_of(run: &RunRef) -> u64 {
    run.id.rsplit(':').next().unwrap().parse().unwrap()
}

async fn double() -> GithubDouble {
    let gh = GithubDouble::start(true).await;
    gh.add_workflow(REPO, "deploy.yml", DEPLOY);
    gh
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_follows_jobs_and_steps_and_reads_each_log_without_sending_the_token_to_storage() {
    let gh = double().await;
    let p = provider(&gh);
    let trigger = Trigger {
        actor: "alice@ops".into(),
        via: "cli".into(),
        git_ref: Some("main".into()),
        inputs: [("env".to_string(), "production".to_string())].into(),
    };
    let run = p.trigger(format!("{REPO}:deploy.yml"), trigger).await.unwrap();
    assert_eq!(run.provider, "gh");
    let id = id_of(&run);
    assert_eq!(gh.run(id).inputs["env"], "production", "the inputs went along");
    let dispatch = gh.exchanges().into_iter().find(|e| e.path.ends_with("/dispatches")).unwrap();
    assert_eq!(dispatch.request_body["return_run_details"], true);
    assert_eq!(dispatch.request_body["ref"], "main");

    // Queued, then the build job with its steps.
    let rec = p.run(run.clone()).await.unwrap();
    assert_eq!(rec.status, RunStatus::Queued);
    gh.advance(id);
    gh.advance(id);
    let rec = p.run(run.clone()).await.unwrap();
    assert_eq!(rec.status, RunStatus::Running);
    let build = rec.job("build").unwrap();
    assert_eq!(build.status, JobStatus::Running);
    assert_eq!(
        build.steps.iter().map(|s| (s.name.as_str(), s.status)).collect::<Vec<_>>(),
        [("Check out", JobStatus::Success), ("Test", JobStatus::Running)]
    );
    assert!(rec.note.as_deref().unwrap().contains("Deploy"), "{:?}", rec.note);
    // A running job's log: GitHub publishes it at the end; its steps are shown meanwhile.
    let lines = p.read_log(run.clone(), "build".into()).await.unwrap();
    let text: Vec<String> = lines.iter().map(|l| String::from_utf8_lossy(&l.bytes).into_owned()).collect();
    assert!(text[0].contains("GitHub publishes a job's log when the job ends"), "{text:?}");
    assert!(text.iter().any(|t| t.contains("Test")), "{text:?}");

    gh.set_log(id, "build", "2026-11-29T10:00:00.5000000Z ##[group]Run make test\n2026-11-29T10:00:01.0000000Z ok 12 tests\n2026-11-29T10:00:02.0000000Z ::warning file=src/lib.rs,line=3::unused import\n");
    gh.advance(id);
    let lines = p.read_log(run.clone(), "build".into()).await.unwrap();
    let text: Vec<String> = lines.iter().map(|l| String::from_utf8_lossy(&l.bytes).into_owned()).collect();
    assert_eq!(text, ["##[group]Run make test", "ok 12 tests", "warning: unused import (file=src/lib.rs,line=3)"]);
    assert_eq!(lines[0].ts_ms, "2026-11-29T10:00:00.5Z".parse::<jiff::Timestamp>().unwrap().as_millisecond());
    let storage = gh.with(|s| s.storage_requests.clone());
    assert!(!storage.is_empty(), "the log came from the storage host");
    assert!(storage.iter().all(|(_, token)| !token), "no token went to storage: {storage:?}");

    // Spooled to disk for the log view, once: read and searched there like a local log.
    let spool = tempfile::tempdir().unwrap();
    let cached = provider(&gh).cached_in(spool.path());
    let path = cached.log_file(run.clone(), "build".into()).await.expect("a finished job's log on disk");
    let log = flightdeck::logstore::index::LogFile::open(&path).unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(log.read(1, 1).unwrap()[0].bytes, b"ok 12 tests");
    let downloads = gh.with(|s| s.storage_requests.len());
    assert_eq!(cached.log_file(run.clone(), "build".into()).await, Some(path), "the same file");
    assert_eq!(gh.with(|s| s.storage_requests.len()), downloads, "not downloaded again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_review_is_a_gate_decided_once() {
    let gh = double().await;
    let p = provider(&gh);
    let id = gh.start_run(REPO, "deploy.yml", "main", "bob", "push");
    gh.advance_until_settled(id);
    let run = flightdeck::ci::github::run_ref("gh", REPO, id);
    let rec = p.run(run.clone()).await.unwrap();
    assert_eq!(rec.status, RunStatus::Waiting);
    let gate = rec.jobs.iter().find(|j| j.gate.is_some()).unwrap();
    assert_eq!(gate.key, "environment production");
    assert_eq!(gate.status, JobStatus::Waiting);
    assert!(gate.error.as_deref().unwrap().contains(&format!("@{LOGIN}")), "{:?}", gate.error);
    assert_eq!(rec.trigger.actor, "github:bob", "four-eyes sees who started it on GitHub");

    let decision = |approved| GateDecision { approved, by: "carol@ops".into(), at: jiff::Timestamp::now(), comment: "CAB-12".into() };
    p.decide_gate(run.clone(), gate.key.clone(), decision(true)).await.unwrap();
    let approvals = gh.run(id).approvals;
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0]["comment"], "carol@ops via flightdeck: CAB-12");
    // The second decision is told who decided first.
    let err = p.decide_gate(run.clone(), gate.key.clone(), decision(false)).await.unwrap_err().to_string();
    assert!(err.contains("already approved by github:octo-reviewer"), "{err}");
    gh.advance_until_settled(id);
    let rec = p.run(run.clone()).await.unwrap();
    assert_eq!(rec.status, RunStatus::Success);
    let decided = rec.job("environment production").unwrap();
    assert!(decided.gate.as_ref().unwrap().decision.as_ref().unwrap().approved, "the review stays in the run's history");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_github_does_not_let_approve_is_told_so_and_nothing_is_reviewed() {
    let gh = double().await;
    let p = provider(&gh);
    let id = gh.start_run(REPO, "deploy.yml", "main", "bob", "push");
    gh.advance_until_settled(id);
    gh.with(|s| s.reviewer_may_approve = false);
    let run = flightdeck::ci::github::run_ref("gh", REPO, id);
    let rec = p.run(run.clone()).await.unwrap();
    let gate = rec.job("environment production").unwrap();
    assert!(gate.error.as_deref().unwrap().contains("may NOT approve"));
    assert!(
        gate.gate.as_ref().unwrap().refused_by_service.as_deref().unwrap().contains("not among the required reviewers (@octo-reviewer)")
    );
    let err = p
        .decide_gate(
            run,
            "environment production".into(),
            GateDecision { approved: true, by: "carol".into(), at: jiff::Timestamp::now(), comment: String::new() },
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("may not review `production`") && err.contains(&format!("@{LOGIN}")), "{err}");
    assert!(gh.run(id).approvals.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_list_costs_no_rate_limit() {
    let gh = double().await;
    let p = provider(&gh);
    gh.start_run(REPO, "deploy.yml", "main", "bob", "push");
    let q = RunQuery { limit: 10, ..Default::default() };
    let first = p.list_runs(q.clone()).await.unwrap();
    let second = p.list_runs(q).await.unwrap();
    assert_eq!(first.runs, second.runs);
    let lists: Vec<u16> = gh.exchanges().iter().filter(|e| e.path.ends_with("/actions/runs")).map(|e| e.status).collect();
    assert_eq!(lists, [200, 304]);
    let budget = p.budget();
    // Each list reads the runs and the repository (the user's access): twice 200, then twice 304.
    assert_eq!((budget.sent, budget.spent), (4, 2), "a 304 costs nothing");
    assert_eq!(budget.remaining, Some(support::github::BUDGET - 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_stop_requests_until_they_reset() {
    let gh = double().await;
    let p = provider(&gh);
    // A secondary limit: nothing more is sent until Retry-After has passed.
    gh.with(|s| s.secondary_limit = Some(120));
    let err = p.list_runs(RunQuery::default()).await.unwrap_err().to_string();
    assert!(err.contains("rate limit"), "{err}");
    let sent = gh.exchanges().len();
    let err = p.list_runs(RunQuery::default()).await.unwrap_err().to_string();
    assert!(err.contains("rate limit is spent; it resets at"), "{err}");
    assert_eq!(gh.exchanges().len(), sent, "nothing was sent while waiting");

    // The primary budget running out is said, with when it resets.
    let p = provider(&gh);
    gh.with(|s| s.remaining = 1);
    p.list_runs(RunQuery::default()).await.unwrap();
    assert!(p.budget().low().is_some_and(|l| l.contains("GitHub budget 0/5000 until")), "{:?}", p.budget());
    let err = p.list_runs(RunQuery::default()).await.unwrap_err().to_string();
    assert!(err.contains("rate limit"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_token_unknown_repository_and_an_old_enterprise_server() {
    let gh = double().await;
    // 401: the message says what to do.
    unsafe { std::env::set_var("GH_ENTERPRISE_TOKEN", "ghp_wrong") };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let wrong = GithubProvider::new(settings(&gh), tx).unwrap();
    let err = wrong.list_runs(RunQuery::default()).await.unwrap_err().to_string();
    assert!(err.contains("401") && err.contains("Bad credentials") && err.contains("GH_TOKEN"), "{err}");
    assert!(!err.contains("ghp_"), "the token is never shown: {err}");

    let p = provider(&gh);
    let err = p.run(RunRef::new("gh", format!("{REPO}:424242"))).await.unwrap_err().to_string();
    assert!(err.contains("does not exist"), "{err}");
    let mut other = settings(&gh);
    other.repos = vec!["acme/nope".into()];
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let err = GithubProvider::new(other, tx).unwrap().list_runs(RunQuery::default()).await.unwrap_err().to_string();
    assert!(err.contains("no repository acme/nope"), "{err}");

    // A token that may read but not act: GitHub's reason, and nothing started.
    gh.with(|s| s.read_only_token = true);
    let err = p
        .trigger(
            format!("{REPO}:deploy.yml"),
            Trigger { git_ref: Some("main".into()), inputs: [("env".into(), "staging".into())].into(), ..Default::default() },
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("403") && err.contains("Resource not accessible by personal access token"), "{err}");
    assert!(gh.with(|s| s.runs.is_empty()), "nothing was started");
    gh.with(|s| s.read_only_token = false);

    // A server that refuses `return_run_details`: the run is found by workflow, ref, actor and time.
    gh.with(|s| s.no_run_details = true);
    let trigger = Trigger {
        actor: "alice".into(),
        via: "cli".into(),
        git_ref: Some("main".into()),
        inputs: [("env".into(), "staging".into())].into(),
    };
    let dispatches = |gh: &GithubDouble| gh.exchanges().iter().filter(|e| e.path.ends_with("/dispatches")).count();
    let before = dispatches(&gh);
    let run = p.trigger(format!("{REPO}:deploy.yml"), trigger.clone()).await.unwrap();
    assert_eq!(gh.run(id_of(&run)).inputs["env"], "staging");
    assert_eq!(dispatches(&gh) - before, 2, "asked with the field, then without");

    // Inputs are checked against the workflow file before anything is sent.
    let bad = Trigger { inputs: [("env".into(), "moon".into())].into(), ..trigger };
    let err = p.trigger(format!("{REPO}:deploy.yml"), bad).await.unwrap_err().to_string();
    assert!(err.contains("must be one of staging, production"), "{err}");
    assert_eq!(dispatches(&gh) - before, 2, "nothing more was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_from_github_never_reaches_the_terminal_raw() {
    let gh = double().await;
    gh.add_workflow(REPO, "evil.yml", "name: \"evil\\e]0;owned\\a\"\nrun-name: \"title \\e[2J\\e]52;c;Zm9v\\a done\"\non: [push]\njobs:\n  x:\n    name: \"job \\e[31mred\"\n    steps: []\n");
    let p = provider(&gh);
    let id = gh.start_run(REPO, "evil.yml", "main", "bob", "push");
    gh.set_log(id, "job \u{1b}[31mred", "2026-11-29T10:00:00.0000000Z hello \u{1b}]52;c;Zm9v\u{7} \u{1b}[2J bye\n");
    gh.advance_until_settled(id);
    let rec = p.run(flightdeck::ci::github::run_ref("gh", REPO, id)).await.unwrap();
    let shown = serde_json::to_string(&rec).unwrap();
    assert!(!shown.contains('\u{1b}') && !shown.contains('\u{7}'), "{shown}");
    let job = rec.jobs[0].key.clone();
    let lines = p.read_log(rec.id.clone(), job).await.unwrap();
    // Log lines keep their bytes (the log view and the CLI clean them as they print).
    let printed: String = lines.iter().map(|l| flightdeck::logstore::sanitize::plain(&String::from_utf8_lossy(&l.bytes))).collect();
    assert!(printed.contains("hello") && printed.contains("bye") && !printed.contains('\u{1b}'), "{printed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_megabyte_log_is_read_whole() {
    let gh = double().await;
    let p = provider(&gh);
    let id = gh.start_run(REPO, "deploy.yml", "main", "bob", "push");
    let line = "2026-11-29T10:00:00.0000000Z ".to_string() + &"x".repeat(70) + "\n";
    let count = 100 * 1024 * 1024 / line.len();
    gh.set_log(id, "build", &line.repeat(count));
    gh.advance_until_settled(id);
    let run = flightdeck::ci::github::run_ref("gh", REPO, id);
    let lines = p.read_log(run.clone(), "build".into()).await.unwrap();
    assert_eq!(lines.len(), count);
    // Spooled to disk as it arrives: every line, numbered and stamped as the whole log parses.
    let spool = tempfile::tempdir().unwrap();
    let path = provider(&gh).cached_in(spool.path()).log_file(run, "build".into()).await.expect("spooled");
    let log = flightdeck::logstore::index::LogFile::open(&path).unwrap();
    assert_eq!(log.len(), count as u64);
    assert_eq!(log.read(count as u64 - 1, 1).unwrap()[0], lines[count - 1]);
    assert_eq!(log.read(count as u64 / 2, 1).unwrap()[0], lines[count / 2]);
}

/// Builds a value from a JSON text (a test helper for the CLI's `--json`).
fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_dispatches_lists_reads_logs_and_approves_through_the_policy() {
    let gh = double().await;
    let dir = tempfile::tempdir().unwrap();
    let config =
        format!("[environments.production]\nproduction = true\n\n[ci.github.gh]\nrepo = \"{REPO}\"\napi_url = \"{}\"\n", gh.api_url());
    std::fs::write(dir.path().join("flightdeck.toml"), config).unwrap();
    let dir_path = dir.path().to_path_buf();
    let cli = move |args: &[&str]| {
        let out = std::process::Command::new(support::cli_env::BIN)
            .arg("--config")
            .arg(dir_path.join("flightdeck.toml"))
            .arg("--data-dir")
            .arg(dir_path.join("data"))
            .args(args)
            .env("NO_COLOR", "1")
            .env("GH_ENTERPRISE_TOKEN", TOKEN)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let run_cli = |args: Vec<String>| {
        let cli = cli.clone();
        async move { tokio::task::spawn_blocking(move || cli(&args.iter().map(String::as_str).collect::<Vec<_>>())).await.unwrap() }
    };
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let (code, out, err) = run_cli(args(&["run", "gh:acme/shop:deploy.yml", "--ref", "main", "-i", "env=production", "--yes"])).await;
    assert_eq!(code, 0, "{out}{err}");
    let run = out.trim().to_string();
    assert!(run.starts_with("gh:acme/shop:"), "{out}");
    let id: u64 = run.rsplit(':').next().unwrap().parse().unwrap();
    gh.advance_until_settled(id);

    let (code, out, err) = run_cli(args(&["runs", "--json"])).await;
    assert_eq!(code, 0, "{err}");
    let runs = parse(&out);
    let listed = runs.as_array().unwrap().iter().find(|r| r["id"] == run.as_str()).unwrap();
    assert_eq!(listed["status"], "waiting");

    // Only GitHub's, or only the local runner's.
    let (code, out, err) = run_cli(args(&["runs", "--provider", "gh", "--json"])).await;
    assert_eq!(code, 0, "{err}");
    assert!(parse(&out).as_array().unwrap().iter().all(|r| r["id"].as_str().unwrap().starts_with("gh:")), "{out}");
    let (code, out, err) = run_cli(args(&["runs", "--provider", "local", "--json"])).await;
    assert_eq!((code, parse(&out)), (0, serde_json::json!([])), "{err}");
    // Filters go to GitHub, which sends only what matches.
    let filtered = [
        "runs",
        "--provider",
        "gh",
        "--branch",
        "main",
        "--event",
        "workflow_dispatch",
        "--actor",
        "octo-reviewer",
        "--status",
        "waiting",
        "--json",
    ];
    let (code, out, err) = run_cli(args(&filtered)).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(parse(&out).as_array().unwrap().len(), 1, "{out}");
    let asked = gh.exchanges().into_iter().rev().find(|e| e.path.ends_with("/actions/runs") && e.query.contains_key("branch")).unwrap();
    assert_eq!(
        (asked.query["branch"].as_str(), asked.query["event"].as_str(), asked.query["status"].as_str()),
        ("main", "workflow_dispatch", "waiting")
    );
    let (code, out, err) = run_cli(args(&["runs", "--provider", "gh", "--branch", "release/9", "--json"])).await;
    assert_eq!((code, parse(&out)), (0, serde_json::json!([])), "{err}");
    // GitHub refusing the token does not hide the local runs: it is said, and the rest listed.
    let (code, out, err) = {
        let dir_path = dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(support::cli_env::BIN)
                .arg("--config")
                .arg(dir_path.join("flightdeck.toml"))
                .arg("--data-dir")
                .arg(dir_path.join("data"))
                .args(["runs", "--json"])
                .env("GH_ENTERPRISE_TOKEN", "ghp_revoked")
                .output()
                .unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .await
        .unwrap()
    };
    assert_eq!((code, parse(&out)), (0, serde_json::json!([])), "{err}");
    assert!(err.contains("warning: not listed: gh:") && err.contains("401"), "{err}");
    let (code, _, err) = run_cli(args(&["runs", "--provider", "gitlab"])).await;
    assert_eq!(code, 3);
    assert!(err.contains("no CI provider named `gitlab`") && err.contains("local, gh"), "{err}");

    let (code, out, err) = run_cli(args(&["logs", &run, "build"])).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("doing build"), "{out}");
    let (code, out, err) = run_cli(args(&["logs", &run, "build", "--json"])).await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out.lines().map(parse).collect();
    assert_eq!(
        lines[0],
        serde_json::json!({"job": "build", "at": "2026-11-29T10:00:00Z", "stream": "meta", "text": "##[group]Run build"}),
        "{out}"
    );
    assert_eq!((lines[1]["stream"].as_str(), lines[1]["text"].as_str()), (Some("out"), Some("doing build")));

    let (code, out, err) = run_cli(args(&["approvals", "--json"])).await;
    assert_eq!(code, 0, "{err}");
    let inbox = parse(&out);
    assert!(inbox.as_array().unwrap().iter().any(|g| g["run"] == run.as_str() && g["gate"] == "environment production"), "{inbox}");

    let approve =
        ["approve", &run, "--gate", "environment production", "--confirm", "environment production", "--reason", "CAB-7", "--json"];
    let (code, out, err) = run_cli(args(&approve)).await;
    assert_eq!(code, 0, "{err}");
    let said = parse(&out);
    assert_eq!(
        (said["done"].as_bool(), said["run"].as_str(), said["decision"].as_str()),
        (Some(true), Some(run.as_str()), Some("approved")),
        "{out}"
    );
    assert!(gh.run(id).approvals[0]["comment"].as_str().unwrap().contains("via flightdeck: CAB-7"));
    let (code, _, err) =
        run_cli(args(&["approve", &run, "--gate", "environment production", "--confirm", "environment production", "--reason", "again"]))
            .await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("already approved by github:octo-reviewer"), "{err}");

    // Once deployed, the Releases overview says which version is in production, and which run.
    gh.advance_until_settled(id);
    let (code, out, err) = run_cli(args(&["rollouts", "--json"])).await;
    assert_eq!(code, 0, "{err}");
    let rows = parse(&out);
    let row = rows.as_array().unwrap().iter().find(|r| r["kind"] == "GitHub deployment").unwrap_or_else(|| panic!("{rows}"));
    assert_eq!(
        (row["environment"].as_str(), row["state"].as_str(), row["health"].as_str()),
        (Some("production"), Some("success"), Some("healthy")),
        "{row}"
    );
    assert!(row["version"].as_str().unwrap().starts_with("main @ "), "{row}");
    assert_eq!(row["run"], run.as_str(), "{row}");

    let journal = std::fs::read_to_string(dir.path().join("data/audit.jsonl")).unwrap();
    let trigger = journal.lines().map(parse).find(|r| r["action"] == "run.trigger").unwrap();
    assert_eq!(trigger["parameters"]["ref"], "main");
    assert_eq!(trigger["parameters"]["inputs"]["env"], "production");
    // Beside the local account, the GitHub login the token belongs to.
    assert_eq!(trigger["parameters"]["github_user"], LOGIN);
    assert!(!journal.contains(TOKEN), "the token is never journaled");
}

/// Reports uploaded as an artifact are the run's evidence: real Trivy and Grype reports (from the
/// scanners' own test data) counted as the local runner counts them, and an artifact that is
/// missing or not a zip fails the gate closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_reports_in_an_artifact_feed_the_findings_and_a_missing_one_fails_closed() {
    let gh = double().await;
    let mut s = settings(&gh);
    s.report_artifacts = [("deploy.yml".to_string(), vec!["scan-reports".to_string()])].into();
    unsafe { std::env::set_var("GH_ENTERPRISE_TOKEN", TOKEN) };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let p = GithubProvider::new(s, tx).unwrap();
    let id = gh.start_run(REPO, "deploy.yml", "main", "bob", "push");
    gh.advance_until_settled(id);
    let run = flightdeck::ci::github::run_ref("gh", REPO, id);

    // Nothing uploaded yet: the gate cannot be judged, and says why.
    let flightdeck::ci::RunEvidence { findings, unreadable, .. } = p.evidence(run.clone()).await.unwrap();
    assert!(findings.is_empty());
    assert_eq!(unreadable.len(), 1);
    assert!(unreadable[0].problem.contains("has not uploaded it"), "{unreadable:?}");
    let gate = p.run(run.clone()).await.unwrap().jobs.into_iter().find(|j| j.gate.is_some()).unwrap();
    assert_eq!(gate.reports, ["artifact scan-reports"], "the gate names the evidence it waits on");

    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let trivy = std::fs::read(corpus.join("trivy-debian-buster.json")).unwrap();
    let grype = std::fs::read(corpus.join("grype-keycloak-test.json")).unwrap();
    let pytest = std::fs::read(corpus.join("junit-pytest.xml")).unwrap();
    gh.add_artifact(
        id,
        "scan-reports",
        zip_of(&[("trivy.json", &trivy), ("grype/keycloak.json", &grype), ("test-results/pytest.xml", &pytest)]),
    );
    let flightdeck::ci::RunEvidence { findings, unreadable, tests, .. } = p.evidence(run.clone()).await.unwrap();
    assert!(unreadable.is_empty(), "{unreadable:?}");
    // The test results among them are read as such.
    assert_eq!(tests.len(), 1, "{tests:?}");
    assert_eq!((tests[0].summary.tests, tests[0].summary.failures), (10, 2));
    // The same findings as the same files parsed by the local runner's parser: Trivy's 2 and
    // Grype's 6 (expected.json of the corpus), grouped the same way.
    let expected = flightdeck::findings::group(
        [("trivy.json", &trivy), ("keycloak.json", &grype)]
            .iter()
            .flat_map(|(n, b)| flightdeck::findings::parse_report(b, n).unwrap().findings)
            .collect(),
    );
    let key = |f: &flightdeck::findings::Finding| (f.id.clone(), f.severity, f.raw_severity.clone());
    let mut got: Vec<_> = findings.iter().map(key).collect();
    let mut want: Vec<_> = expected.iter().map(key).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(findings.iter().filter(|f| f.raw_severity == "CRITICAL").count(), 1);

    // An artifact that is not a zip archive is unreadable, not empty.
    let broken = gh.start_run(REPO, "deploy.yml", "main", "bob", "push");
    gh.add_artifact(broken, "scan-reports", b"not a zip".to_vec());
    let unreadable = p.evidence(flightdeck::ci::github::run_ref("gh", REPO, broken)).await.unwrap().unreadable;
    assert!(unreadable.iter().any(|u| u.problem.contains("not a readable zip")), "{unreadable:?}");
}

/// The last known runs are kept on disk and shown at once (marked as such) when the cockpit starts,
/// before GitHub answers, even when GitHub does not answer at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_known_runs_are_shown_at_once_marked_as_such() {
    let gh = double().await;
    let id = gh.start_run(REPO, "deploy.yml", "main", "bob", "push");
    gh.advance_until_settled(id);
    let data = tempfile::tempdir().unwrap();
    provider(&gh).cached_in(data.path()).list_runs(RunQuery::default()).await.unwrap();
    use std::os::unix::fs::PermissionsExt;
    let file = data.path().join("github-gh.json");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o077, 0, "private to the user");

    // A GitHub that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut s = settings(&gh);
    s.api_url = format!("http://{}", silent.local_addr().unwrap());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let p = GithubProvider::new(s, tx).unwrap().cached_in(data.path());
    let stop = tokio_util::sync::CancellationToken::new();
    p.watch(stop.clone());
    // GitHub never answers here: whatever arrives came from the cache.
    let ev = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.unwrap().unwrap();
    let flightdeck::ci::RunEvent::Updated(rec) = ev else { panic!("{ev:?}") };
    assert_eq!(id_of(&rec.id), id);
    assert!(rec.note.as_deref().unwrap().starts_with("last known state; asking GitHub"), "{:?}", rec.note);
    stop.cancel();
}

/// `run --follow` of a GitHub workflow streams each job's log as the job completes and exits by how
/// the run ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_follow_streams_a_github_run_to_its_end() {
    let gh = double().await;
    gh.add_workflow(REPO, "ci.yml", "name: ci\non: workflow_dispatch\njobs:\n  lint:\n    steps:\n      - name: Lint\n        run: make lint\n  test:\n    steps:\n      - name: Test\n        run: make test\n");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("flightdeck.toml");
    std::fs::write(&config, format!("[ci.github.gh]\nrepo = \"{REPO}\"\napi_url = \"{}\"\nactive_poll = \"1s\"\n", gh.api_url())).unwrap();
    let mut cmd = std::process::Command::new(support::cli_env::BIN);
    cmd.arg("--config").arg(&config).arg("--data-dir").arg(dir.path().join("data"));
    cmd.args(["run", "gh:acme/shop:ci.yml", "--ref", "main", "--follow", "--yes"]).env("GH_ENTERPRISE_TOKEN", TOKEN).env("NO_COLOR", "1");
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    // The runner moves the run on while flightdeck follows it.
    let mover = {
        let state = gh.state.clone();
        tokio::spawn(async move {
            for _ in 0..60 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let ids: Vec<u64> = state.lock().unwrap().runs.keys().copied().collect();
                for id in ids {
                    support::github::advance_in(&state, id);
                }
            }
        })
    };
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    mover.abort();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("[lint] doing lint") && stdout.contains("[test] doing test"), "{stdout}");
    assert!(stderr.contains("lint success") && stderr.contains("test success"), "each job's end is said: {stderr}");
}

/// Re-run what failed, the whole run or one job; cancel, or force-cancel a run that does not stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_failed_all_or_one_job_and_force_cancel() {
    use flightdeck::ci::RetryScope;
    let gh = double().await;
    gh.add_workflow(REPO, "ci.yml", "name: ci\non: [push]\njobs:\n  lint:\n    steps:\n      - name: Lint\n        run: make lint\n  test:\n    steps:\n      - name: Test\n        run: make test\n");
    let p = provider(&gh);
    let id = gh.start_run(REPO, "ci.yml", "main", "bob", "push");
    let run = flightdeck::ci::github::run_ref("gh", REPO, id);
    gh.fail_job(id, "lint", "2026-11-29T10:00:00.0000000Z ##[error]lint failed\n");
    gh.advance_until_settled(id);
    let who = Trigger { actor: "alice".into(), via: "cli".into(), ..Default::default() };
    let posted = |gh: &GithubDouble| gh.exchanges().iter().filter(|e| e.method == "POST").map(|e| e.path.clone()).collect::<Vec<_>>();

    p.retry_scoped(run.clone(), who.clone(), RetryScope::Failed).await.unwrap();
    assert!(posted(&gh).last().unwrap().ends_with(&format!("/runs/{id}/rerun-failed-jobs")));
    // Still running: GitHub re-runs only what has ended.
    let err = p.retry_scoped(run.clone(), who.clone(), RetryScope::All).await.unwrap_err().to_string();
    assert!(err.contains("only once it has ended"), "{err}");
    gh.advance_until_settled(id);
    p.retry_scoped(run.clone(), who.clone(), RetryScope::All).await.unwrap();
    assert!(posted(&gh).last().unwrap().ends_with(&format!("/runs/{id}/rerun")));
    gh.advance_until_settled(id);
    p.retry_scoped(run.clone(), who.clone(), RetryScope::Job("test".into())).await.unwrap();
    assert!(posted(&gh).last().unwrap().contains("/actions/jobs/"), "{:?}", posted(&gh));
    assert_eq!(gh.run(id).attempt, 4, "three re-runs, each a new attempt");
    let err = p.retry_scoped(run.clone(), who.clone(), RetryScope::Job("deploy".into())).await.unwrap_err().to_string();
    assert!(err.contains("has no job `deploy`"), "{err}");

    // A run that does not stop: the forced cancel.
    p.force_cancel(run.clone()).await.unwrap();
    assert!(posted(&gh).last().unwrap().ends_with(&format!("/runs/{id}/force-cancel")));
    assert_eq!(gh.run(id).conclusion.as_deref(), Some("cancelled"));
}

/// A first-time contributor's run is a gate of its own, clearly labelled; approving it lets it run,
/// and there is no rejecting it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_time_contributors_run_is_let_start_by_a_labelled_gate() {
    let gh = double().await;
    let p = provider(&gh);
    let id = gh.start_run(REPO, "deploy.yml", "feature", "newcomer", "pull_request");
    gh.hold_for_approval(id);
    let run = flightdeck::ci::github::run_ref("gh", REPO, id);
    let rec = p.run(run.clone()).await.unwrap();
    assert_eq!(rec.status, RunStatus::Waiting);
    let gate = rec.waiting_gates().next().unwrap();
    assert_eq!(gate.key, "let a first-time contributor's run start");
    assert!(gate.error.as_deref().unwrap().contains("first-time contributor's fork"), "{:?}", gate.error);
    let decide = |approved| GateDecision { approved, by: "carol".into(), at: jiff::Timestamp::now(), comment: String::new() };
    let err = p.decide_gate(run.clone(), gate.key.clone(), decide(false)).await.unwrap_err().to_string();
    assert!(err.contains("no rejection"), "{err}");
    p.decide_gate(run.clone(), gate.key.clone(), decide(true)).await.unwrap();
    assert!(gh.exchanges().iter().any(|e| e.method == "POST" && e.path.ends_with(&format!("/runs/{id}/approve")) && e.status == 201));
    assert_eq!(gh.run(id).status, "queued", "it runs now");
}

/// What starting a workflow asks for, read from its file at the default branch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_says_what_starting_it_asks_for() {
    let gh = double().await;
    let p = provider(&gh);
    let form = p.trigger_form(&format!("{REPO}:deploy.yml")).await.unwrap().unwrap();
    assert_eq!(form.git_ref, "main");
    let described: Vec<(&str, &str, bool)> = form.inputs.iter().map(|i| (i.name.as_str(), i.kind.as_str(), i.required)).collect();
    assert_eq!(described, [("dry_run", "boolean", false), ("env", "choice", true)]);
    assert!(form.choices().contains(&"env=production".to_string()), "{:?}", form.choices());
    assert_eq!(p.trigger_form("release").await.unwrap(), None, "not one of its pipelines");
    gh.add_workflow(REPO, "push-only.yml", "name: p\non: [push]\njobs: {}\n");
    let err = p.trigger_form(&format!("{REPO}:push-only.yml")).await.unwrap_err().to_string();
    assert!(err.contains("cannot be started by hand"), "{err}");
}

/// Read-only access to the repository greys the changes before anything is tried, with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_access_refuses_changes_before_they_are_tried() {
    use flightdeck::ops::{Operation, describe};
    let gh = double().await;
    let p = provider(&gh);
    let id = gh.start_run(REPO, "deploy.yml", "main", "bob", "push");
    gh.with(|s| s.read_only_token = true);
    let run = flightdeck::ci::github::run_ref("gh", REPO, id);
    let rec = p.run(run.clone()).await.unwrap();
    let why = rec.refused.get("cancel").expect("cancel is refused");
    assert!(why.contains("read-only") && why.contains(REPO), "{why}");
    let err = describe(&Operation::Cancel { run: run.clone(), force: false }, Some(&rec), &[]).unwrap_err();
    assert_eq!(&err, why, "the dialog is never offered; the key says why");
    let posts = gh.exchanges().iter().filter(|e| e.method == "POST").count();
    assert_eq!(posts, 0, "nothing was tried");
    // Write access again: nothing refused.
    gh.with(|s| s.read_only_token = false);
    assert!(p.run(run).await.unwrap().refused.is_empty());
}
