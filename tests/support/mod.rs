//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub mod apiserver;
pub mod argocd_controller;
pub mod argocd_server;
pub mod aws;
pub mod cli_env;
pub mod cockpit;
pub mod fake_ci;
pub mod fake_rollouts;
pub mod fixtures;
pub mod gcp;
pub mod github;
pub mod http1;
pub mod kubectl;
pub mod nginx;
pub mod notify_env;
pub mod peak;
pub mod prom;
pub mod pty;
pub mod pty_log;
pub mod python_tools;
pub mod receivers;
pub mod registry;
pub mod registry_token;
pub mod shared;
pub mod supervision;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use flightdeck::ci::RunEvent;
use flightdeck::ci::local::LocalRunner;
use flightdeck::config::Config;
use flightdeck::domain::{RunRecord, RunRef, Trigger};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// Writes `config` into `dir/flightdeck.toml` and loads it.
pub fn config_in(dir: &Path, config: &str) -> Arc<Config> {
    let path = dir.join("flightdeck.toml");
    std::fs::write(&path, config).expect("write config");
    Arc::new(Config::parse(config, Some(&path), None).unwrap_or_else(|e| panic!("config should load: {e}")))
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub runner: LocalRunner,
    pub events: UnboundedReceiver<RunEvent>,
    pub config: Arc<Config>,
}

impl Harness {
    pub fn new(config: &str) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let config = config_in(dir.path(), config);
        let (tx, events) = unbounded_channel();
        let runner = LocalRunner::new(config.clone(), &data, tx).expect("runner");
        Harness { dir, data, runner, events, config }
    }

    pub fn trigger() -> Trigger {
        Trigger { actor: "tester".into(), via: "test".into(), ..Default::default() }
    }

    /// Waits for the run to reach a terminal status, collecting every event on the way.
    pub async fn wait_done(&mut self, id: RunRef, limit: Duration) -> (RunRecord, Vec<RunEvent>) {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .expect("run did not finish in time")
                .expect("event channel closed");
            let done = matches!(&ev, RunEvent::Updated(r) if r.id == id && r.status.is_terminal());
            let rec = if let RunEvent::Updated(r) = &ev { Some((**r).clone()) } else { None };
            seen.push(ev);
            if done {
                return (rec.expect("record"), seen);
            }
        }
    }

    /// Waits until a job of the run reaches `status`.
    pub async fn wait_job(&mut self, id: RunRef, job: &str, status: flightdeck::domain::JobStatus, limit: Duration) -> RunRecord {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .expect("job did not reach the status in time")
                .expect("channel closed");
            if let RunEvent::Updated(r) = ev
                && r.id == id
                && r.job(job).is_some_and(|j| j.status == status)
            {
                return *r;
            }
        }
    }
}

/// Text of every log line of `job` seen in the events.
pub fn log_text(events: &[RunEvent], job: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Log { job: j, lines, .. } if j == job => {
                Some(lines.iter().map(|l| String::from_utf8_lossy(&l.bytes).into_owned()).collect::<Vec<_>>())
            }
            _ => None,
        })
        .flatten()
        .collect()
}

/// Whether any process whose command line contains `needle` is alive.
pub fn process_alive(needle: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    for e in entries.flatten() {
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) {
            // Zombies are gone for our purposes.
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            if !stat.contains(") Z ") {
                return true;
            }
        }
    }
    false
}

/// Journals the intent of a gate decision, as `flightdeck approve` does before it acts: the
/// executor applies only decisions the journal backs.
pub fn journal_decision(data: &Path, run: &RunRef, gate: &str, d: &flightdeck::domain::GateDecision) {
    let draft = flightdeck::audit::Draft {
        actor: d.by.clone(),
        origin: "test".into(),
        target: gate.into(),
        action: if d.approved { "gate.approve" } else { "gate.reject" }.into(),
        parameters: serde_json::json!({ "run": run, "gate": gate }),
        phase: Some(flightdeck::audit::Phase::Intent),
        result: "pending".into(),
        ..Default::default()
    };
    flightdeck::audit::Journal::in_data_dir(data).append(draft).expect("journal the decision");
}
