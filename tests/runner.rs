//! The local runner against real child processes.

mod support;

use std::time::Duration;

use flightdeck::ci::CiProvider;
use flightdeck::ci::local::LocalRunner;
use flightdeck::domain::{GateDecision, JobStatus, RunStatus};
use support::{Harness, log_text, process_alive};

const LIMIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dag_runs_in_order_and_in_parallel_where_allowed() {
    let mut h = Harness::new(
        r#"
[runner]
max_parallel_jobs = 4
[[pipelines.p.stages]]
name = "a"
run = "sleep 0.2"
[[pipelines.p.stages]]
name = "b"
needs = ["a"]
run = "sleep 0.6"
[[pipelines.p.stages]]
name = "c"
needs = ["a"]
run = "sleep 0.6"
[[pipelines.p.stages]]
name = "d"
needs = ["b", "c"]
run = "true"
"#,
    );
    let id = h.runner.trigger("p".into(), Harness::trigger()).await.unwrap();
    let (rec, _) = h.wait_done(id, LIMIT).await;
    assert_eq!(rec.status, RunStatus::Success);
    let t = |k: &str, end: bool| {
        let j = rec.job(k).unwrap();
        (if end { j.finished_at } else { j.started_at }).unwrap().as_millisecond()
    };
    assert!(t("b", false) >= t("a", true), "b must start after a finished");
    assert!(t("c", false) >= t("a", true));
    assert!(t("c", false) < t("b", true) && t("b", false) < t("c", true), "b and c must overlap");
    assert!(t("d", false) >= t("b", true).max(t("c", true)), "d waits for both");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_limit_is_respected() {
    let mut h = Harness::new(
        r#"
[runner]
max_parallel_jobs = 1
[[pipelines.p.stages]]
name = "x"
matrix = { n = ["1", "2", "3"] }
run = "sleep 0.2"
"#,
    );
    let id = h.runner.trigger("p".into(), Harness::trigger()).await.unwrap();
    let (rec, _) = h.wait_done(id, LIMIT).await;
    let mut spans: Vec<(i64, i64)> =
        rec.jobs.iter().map(|j| (j.started_at.unwrap().as_millisecond(), j.finished_at.unwrap().as_millisecond())).collect();
    spans.sort();
    for w in spans.windows(2) {
        assert!(w[1].0 >= w[0].1, "with one slot, jobs must not overlap: {spans:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_expands_into_one_job_per_combination() {
    let mut h = Harness::new(
        r#"
[[pipelines.p.stages]]
name = "test"
matrix = { node = ["18", "20", "22"], os = ["linux"] }
run = "echo node=${{ matrix.node }} env=$MATRIX_NODE os=$MATRIX_OS run=$FLIGHTDECK_RUN_ID"
"#,
    );
    let id = h.runner.trigger("p".into(), Harness::trigger()).await.unwrap();
    let (rec, events) = h.wait_done(id.clone(), LIMIT).await;
    let keys: Vec<&str> = rec.jobs.iter().map(|j| j.key.as_str()).collect();
    assert_eq!(keys, ["test[18,linux]", "test[20,linux]", "test[22,linux]"]);
    for node in ["18", "20", "22"] {
        let text = log_text(&events, &format!("test[{node},linux]"));
        assert!(text.contains(&format!("node={node} env={node} os=linux run={id}")), "{text:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_ends_the_whole_process_group() {
    let marker = format!("317.{}", std::process::id());
    let mut h = Harness::new(&format!(
        r#"
[runner]
kill_grace = "500ms"
[[pipelines.p.stages]]
name = "hang"
run = "sh -c 'sleep {marker}' & sleep {marker}"
timeout = "1s"
"#
    ));
    let id = h.runner.trigger("p".into(), Harness::trigger()).await.unwrap();
    let (rec, events) = h.wait_done(id, LIMIT).await;
    let job = rec.job("hang").unwrap();
    assert_eq!(job.status, JobStatus::TimedOut);
    assert_eq!(rec.status, RunStatus::Failed);
    assert!(log_text(&events, "hang").iter().any(|l| l.contains("timed out after 1s")));
    assert!(!process_alive(&format!("sleep {marker}")), "the grandchild must be gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_grandchildren_and_skips_the_rest() {
    let marker = format!("318.{}", std::process::id());
    let mut h = Harness::new(&format!(
        r#"
[runner]
kill_grace = "500ms"
[[pipelines.p.stages]]
name = "long"
run = "(trap '' TERM; sleep {marker}) & sleep {marker}"
[[pipelines.p.stages]]
name = "after"
needs = ["long"]
run = "echo never"
"#
    ));
    let id = h.runner.trigger("p".into(), Harness::trigger()).await.unwrap();
    h.wait_job(id.clone(), "long", JobStatus::Running, LIMIT).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(process_alive(&format!("sleep {marker}")));
    h.runner.cancel(id.clone()).await.unwrap();
    let (rec, _) = h.wait_done(id, LIMIT).await;
    assert_eq!(rec.status, RunStatus::Cancelled);
    assert_eq!(rec.job("long").unwrap().status, JobStatus::Cancelled);
    assert_eq!(rec.job("after").unwrap().status, JobStatus::Cancelled);
    assert!(!process_alive(&format!("sleep {marker}")), "even a TERM-ignoring grandchild is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_leftovers_are_ended_when_the_job_exits() {
    let marker = format!("319.{}", std::process::id());
    let mut h = Harness::new(&format!(
        r#"
[[pipelines.p.stages]]
name = "leaky"
run = "sleep {marker} > /dev/null 2>&1 & echo started"
"#
    ));
    let id = h.runner.trigger("p".into(), Harness::trigger()).await.unwrap();
    let (rec, _) = h.wait_done(id, LIMIT).await;
    assert_eq!(rec.status, RunStatus::Success);
    assert!(!process_alive(&format!("sleep {marker}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_run_a_failed_job_again() {
    let h0 = tempfile::tempdir().unwrap();
    let flag = h0.path().join("flag");
    let mut h = Harness::new(&format!(
        r#"
[[pipelines.p.stages]]
name = "flaky"
run = "if [ -e {f} ]; then echo second; else touch {f}; echo first >&2; exit 3; fi"
retries = 2
[[pipelines.p.stages]]
name = "broken"
run = "exit 7"
retries = 1
allow_failure = true
[[pipelines.p.stages]]
name = "next"
needs = ["broken"]
run = "echo ran"
"#,
        f = flag.display()
    ));
    let id = h.runner.trigger("p".into(), Harness::trigger()).await.unwrap();
    let (rec, events) = h.wait_done(id, LIMIT).await;
    let flaky = rec.job("flaky").unwrap();
    assert_eq!((flaky.status, flaky.attempts), (JobStatus::Success, 2));
    let broken = rec.job("broken").unwrap();
    assert_eq!((broken.status, broken.attempts, broken.exit_code), (JobStatus::FailedAllowed, 2, Some(7)));
    assert_eq!(rec.job("next").unwrap().status, JobStatus::Success, "allow_failure lets dependents run");
    assert_eq!(rec.status, RunStatus::Success);
    let text = log_text(&events, "flaky");
    assert!(text.iter().any(|l| l.contains("attempt 1 of 3")) && text.iter().any(|l| l.contains("attempt 2 of 3")), "{text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_skips_what_needs_it() {
    let mut h = Harness::new(
        r#"
[[pipelines.p.stages]]
name = "build"
run = "echo compiling; exit 2"
[[pipelines.p.stages]]
name = "deploy"
needs = ["build"]
run = "echo deploying"
[[pipelines.p.stages]]
name = "docs"
run = "echo docs"
"#,
    );
    let id = h.runner.trigger("p".into(), Harness::trigger()).await.unwrap();
    let (rec, _) = h.wait_done(id, LIMIT).await;
    assert_eq!(rec.status, RunStatus::Failed);
    assert_eq!(rec.job("build").unwrap().exit_code, Some(2));
    let deploy = rec.job("deploy").unwrap();
    assert_eq!(deploy.status, JobStatus::Skipped);
    assert!(deploy.error.as_deref().unwrap().contains("`build` failed"));
    assert_eq!(rec.job("docs").unwrap().status, JobStatus::Success, "independent stages still run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_captured_line_by_line_in_order_with_timestamps() {
    let mut h = Harness::new(
        r#"
[[pipelines.p.stages]]
name = "talk"
run = "echo one; sleep 0.05; echo two >&2; sleep 0.05; printf 'three\nno newline at end'"
"#,
    );
    let id = h.runner.trigger("p".into(), Harness::trigger()).await.unwrap();
    let (_, events) = h.wait_done(id, LIMIT).await;
    let lines: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            flightdeck::ci::RunEvent::Log { lines, .. } => Some(lines.clone()),
            _ => None,
        })
        .flatten()
        .filter(|l| l.stream != flightdeck::logstore::Stream::Meta)
        .collect();
    let text: Vec<String> = lines.iter().map(|l| String::from_utf8_lossy(&l.bytes).into_owned()).collect();
    assert_eq!(text, ["one", "two", "three", "no newline at end"]);
    assert_eq!(lines[1].stream, flightdeck::logstore::Stream::Err);
    assert!(lines.windows(2).all(|w| w[0].ts_ms <= w[1].ts_ms));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gates_wait_then_approve_reject_or_time_out() {
    let cfg = r#"
[environments.prod]
production = true
[[pipelines.p.stages]]
name = "build"
run = "true"
[[pipelines.p.stages]]
name = "approve"
needs = ["build"]
environment = "prod"
gate = true
[[pipelines.p.stages]]
name = "ship"
needs = ["approve"]
run = "echo shipped"
[[pipelines.q.stages]]
name = "slow-gate"
gate = { timeout = "300ms" }
"#;
    let mut h = Harness::new(cfg);
    let decision = |approved| GateDecision { approved, by: "reviewer".into(), at: jiff::Timestamp::now(), comment: "looks fine".into() };

    let id = h.runner.trigger("p".into(), Harness::trigger()).await.unwrap();
    let rec = h.wait_job(id.clone(), "approve", JobStatus::Waiting, LIMIT).await;
    assert_eq!(rec.status, RunStatus::Waiting);
    assert_eq!(rec.job("ship").unwrap().status, JobStatus::Pending);
    let first = decision(true);
    support::journal_decision(&h.data, &id, "approve", &first);
    h.runner.decide_gate(id.clone(), "approve".into(), first).await.unwrap();
    let second = GateDecision { by: "someone-else".into(), ..decision(false) };
    support::journal_decision(&h.data, &id, "approve", &second);
    let err = h.runner.decide_gate(id.clone(), "approve".into(), second).await.unwrap_err();
    assert!(err.to_string().contains("was already approved by reviewer"), "exactly one decision per gate: {err}");
    let (rec, _) = h.wait_done(id, LIMIT).await;
    assert_eq!(rec.status, RunStatus::Success);
    assert_eq!(rec.job("approve").unwrap().gate.as_ref().unwrap().decision.as_ref().unwrap().by, "reviewer");

    let id = h.runner.trigger("p".into(), Harness::trigger()).await.unwrap();
    h.wait_job(id.clone(), "approve", JobStatus::Waiting, LIMIT).await;
    // A decision no journal record backs (a hand-written request) decides nothing.
    let forged = GateDecision { by: "mallory".into(), ..decision(true) };
    let err = h.runner.decide_gate(id.clone(), "approve".into(), forged).await.unwrap_err();
    assert!(err.to_string().contains("has no record in the journal"), "{err}");
    let reject = decision(false);
    support::journal_decision(&h.data, &id, "approve", &reject);
    h.runner.decide_gate(id.clone(), "approve".into(), reject).await.unwrap();
    let (rec, _) = h.wait_done(id, LIMIT).await;
    assert_eq!(rec.status, RunStatus::Failed);
    assert_eq!(rec.job("ship").unwrap().status, JobStatus::Skipped);

    let id = h.runner.trigger("q".into(), Harness::trigger()).await.unwrap();
    let (rec, _) = h.wait_done(id, LIMIT).await;
    assert_eq!(rec.job("slow-gate").unwrap().status, JobStatus::TimedOut);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_and_logs_survive_a_restart_and_retry_reruns_failures() {
    let h0 = tempfile::tempdir().unwrap();
    let flag = h0.path().join("fixed");
    let cfg = format!(
        r#"
[[pipelines.p.stages]]
name = "ok"
run = "echo fine"
[[pipelines.p.stages]]
name = "fragile"
run = "echo attempt; test -e {f}"
[[pipelines.p.stages]]
name = "after"
needs = ["fragile"]
run = "echo after"
"#,
        f = flag.display()
    );
    let mut h = Harness::new(&cfg);
    let id = h.runner.trigger("p".into(), Harness::trigger()).await.unwrap();
    let (rec, _) = h.wait_done(id.clone(), LIMIT).await;
    assert_eq!(rec.status, RunStatus::Failed);

    // A new process (a new runner on the same data dir) sees the same history and logs.
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let again = LocalRunner::new(h.config.clone(), &h.data, tx).unwrap();
    let runs = again.list_runs(Default::default()).await.unwrap().runs;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0], rec);
    let log = again.read_log(id.clone(), "ok".into()).await.unwrap();
    assert!(log.iter().any(|l| l.bytes == b"fine"));

    std::fs::write(&flag, "").unwrap();
    again.retry(id.clone(), Harness::trigger()).await.unwrap();
    let rec = loop {
        match tokio::time::timeout(LIMIT, events.recv()).await.unwrap().unwrap() {
            flightdeck::ci::RunEvent::Updated(r) if r.status.is_terminal() => break *r,
            _ => {}
        }
    };
    assert_eq!(rec.status, RunStatus::Success);
    assert_eq!(rec.job("ok").unwrap().attempts, 1, "successful jobs are not run again");
    assert_eq!(rec.job("fragile").unwrap().attempts, 2);
    let log = again.read_log(id, "fragile".into()).await.unwrap();
    assert_eq!(log.iter().filter(|l| l.bytes == b"attempt").count(), 2, "the log keeps both attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_executor_died_is_marked_interrupted() {
    let h = Harness::new("[[pipelines.p.stages]]\nname = \"a\"\nrun = \"true\"\n");
    // A run record left `running` by a process that no longer holds its lock.
    let mut rec = h.runner.create_run("p", Harness::trigger()).unwrap();
    rec.status = RunStatus::Running;
    rec.started_at = Some(jiff::Timestamp::now());
    rec.jobs[0].status = JobStatus::Running;
    h.runner.store().save(&rec).unwrap();
    // As written by a process that has gone away.
    let file = h.runner.store().run_dir(&rec.id).join("run.json");
    let mut on_disk: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    on_disk["owner_pid"] = 999_999.into();
    std::fs::write(&file, serde_json::to_vec(&on_disk).unwrap()).unwrap();

    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let next = LocalRunner::new(h.config.clone(), &h.data, tx).unwrap();
    let after = next.store().load(&rec.id).unwrap();
    assert_eq!(after.status, RunStatus::Interrupted);
    assert_eq!(after.jobs[0].status, JobStatus::Interrupted);
    assert!(after.note.unwrap().contains("pid 999999"));

    // A run that is still owned (lock held) is left alone.
    let mut live = next.create_run("p", Harness::trigger()).unwrap();
    live.status = RunStatus::Running;
    next.store().save(&live).unwrap();
    let _held = next.store().try_lock(&live.id).unwrap().expect("lock");
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let third = LocalRunner::new(h.config.clone(), &h.data, tx).unwrap();
    assert_eq!(third.store().load(&live.id).unwrap().status, RunStatus::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwritable_history_is_reported_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("runs")).unwrap();
    let config = support::config_in(dir.path(), "[[pipelines.p.stages]]\nname = \"a\"\nrun = \"true\"\n");
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let runner = LocalRunner::new(config, &data, tx).unwrap();
    // Make the history read-only (root ignores permissions, so replace the directory with a file).
    std::fs::remove_dir_all(data.join("runs")).unwrap();
    std::fs::write(data.join("runs"), "not a directory").unwrap();
    let err = runner.trigger("p".into(), Harness::trigger()).await.unwrap_err();
    assert!(err.to_string().contains("cannot"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_pipeline_names_the_configured_ones() {
    let h = Harness::new("[[pipelines.release.stages]]\nname = \"a\"\nrun = \"true\"\n");
    let err = h.runner.trigger("relase".into(), Harness::trigger()).await.unwrap_err();
    assert_eq!(err.to_string(), "no pipeline named `relase` (configured: release)");
}

/// An approval whose intent already has its outcome (it failed or timed out) cannot be replayed
/// later by a request file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concluded_approval_cannot_be_replayed() {
    let cfg = "[[pipelines.p.stages]]\nname = \"approve\"\ngate = true\n[[pipelines.p.stages]]\nname = \"ship\"\nneeds = [\"approve\"]\nrun = \"true\"\n";
    let mut h = Harness::new(cfg);
    let id = h.runner.trigger("p".into(), Harness::trigger()).await.unwrap();
    h.wait_job(id.clone(), "approve", JobStatus::Waiting, LIMIT).await;
    let d = GateDecision { approved: true, by: "reviewer".into(), at: jiff::Timestamp::now(), comment: String::new() };
    support::journal_decision(&h.data, &id, "approve", &d);
    let journal = flightdeck::audit::Journal::in_data_dir(&h.data);
    let intent = journal.read().unwrap().0.last().unwrap().seq;
    let outcome = flightdeck::audit::Draft {
        actor: "reviewer".into(),
        action: "gate.approve".into(),
        target: "approve".into(),
        parameters: serde_json::json!({ "run": id, "gate": "approve" }),
        phase: Some(flightdeck::audit::Phase::Outcome),
        result: "failure".into(),
        error: Some("no answer within 30s".into()),
        intent: Some(intent),
        ..Default::default()
    };
    journal.append(outcome).unwrap();
    let err = h.runner.decide_gate(id.clone(), "approve".into(), d).await.unwrap_err();
    assert!(err.to_string().contains("has no record in the journal"), "{err}");
    let rec = h.runner.run(id).await.unwrap();
    assert_eq!(rec.job("approve").unwrap().status, JobStatus::Waiting, "the gate still waits");
}

/// An executor that has cancelled its runs to stop starts no other: a request that arrives while it
/// stops is told to ask again, and its run stays queued for whoever executes next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_executor_starts_no_run() {
    let h = Harness::new("[[pipelines.p.stages]]\nname = \"a\"\nrun = \"sleep 30\"\n");
    let first = h.runner.create_run("p", Harness::trigger()).unwrap();
    h.runner.start(first.clone()).unwrap();
    let cancelled = h.runner.cancel_all();
    assert_eq!(cancelled, vec![first.id.clone()]);
    let late = h.runner.create_run("p", Harness::trigger()).unwrap();
    let err = h.runner.start(late.clone()).unwrap_err();
    assert!(err.to_string().contains("stopping; ask again"), "{err}");
    assert_eq!(h.runner.run(late.id.clone()).await.unwrap().status, RunStatus::Queued);
    assert!(h.runner.wait_idle(Duration::from_secs(10)).await, "the cancelled run ended");
    assert_eq!(h.runner.run(first.id).await.unwrap().status, RunStatus::Cancelled);
}
