//! A scripted CI provider that lives in memory: what a remote CI service looks like to the core
//! (its own ids, its own pipelines, gates decided through its API), so the seams can be tested
//! without one. It records every call it receives.

use std::collections::BTreeMap;
use std::sync::Mutex;

use flightdeck::ci::{CiError, CiProvider, RunEvent, RunPage, RunQuery};
use flightdeck::domain::{GateDecision, GateInfo, JobRecord, JobStatus, RunRecord, RunRef, RunStatus, StageRecord, Trigger};
use flightdeck::logstore::{RawLine, Stream};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc::UnboundedSender;

pub const PIPELINE: &str = "remote-release";

pub struct FakeCi {
    name: String,
    /// Whether a bare number can be one of its runs (as a GitHub run id can).
    numeric_ids: bool,
    events: UnboundedSender<RunEvent>,
    state: Mutex<FakeState>,
}

#[derive(Default)]
struct FakeState {
    runs: BTreeMap<u64, RunRecord>,
    calls: Vec<String>,
}

impl FakeCi {
    pub fn new(name: &str, numeric_ids: bool, events: UnboundedSender<RunEvent>) -> FakeCi {
        FakeCi { name: name.into(), numeric_ids, events, state: Mutex::new(FakeState::default()) }
    }

    /// Every call received, as `verb id`.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    fn id_of(&self, n: u64) -> RunRef {
        RunRef::new(self.name.clone(), if self.numeric_ids { n.to_string() } else { format!("build-{n}") })
    }

    fn number(&self, run: &RunRef) -> Result<u64, CiError> {
        let n = if self.numeric_ids { run.id.parse().ok() } else { run.id.strip_prefix("build-").and_then(|n| n.parse().ok()) };
        match n {
            Some(n) if run.provider == self.name => Ok(n),
            _ => Err(CiError::NoSuchRun(run.clone())),
        }
    }

    fn with_run<T>(&self, run: &RunRef, verb: &str, f: impl FnOnce(&mut RunRecord) -> Result<T, CiError>) -> Result<T, CiError> {
        let n = self.number(run)?;
        let mut s = self.state.lock().unwrap();
        s.calls.push(format!("{verb} {}", run.text()));
        let rec = s.runs.get_mut(&n).ok_or_else(|| CiError::NoSuchRun(run.clone()))?;
        let out = f(rec)?;
        rec.status = rec.derive_status();
        let _ = self.events.send(RunEvent::Updated(Box::new(rec.clone())));
        Ok(out)
    }
}

fn job(key: &str, status: JobStatus, gate: Option<&str>) -> JobRecord {
    JobRecord {
        key: key.into(),
        stage: key.into(),
        matrix: Default::default(),
        status,
        exit_code: None,
        started_at: Some(jiff::Timestamp::now()),
        finished_at: None,
        attempts: 1,
        error: None,
        reports: Vec::new(),
        gate: gate.map(|env| GateInfo { environment: Some(env.into()), deadline: None, decision: None, refused_by_service: None }),
        findings: None,
        steps: Vec::new(),
        url: None,
    }
}

impl CiProvider for FakeCi {
    fn name(&self) -> &str {
        &self.name
    }

    fn pipelines(&self) -> Vec<String> {
        vec![PIPELINE.into()]
    }

    fn claims(&self, bare_id: &str) -> bool {
        if self.numeric_ids { bare_id.parse::<u64>().is_ok() } else { bare_id.starts_with("build-") }
    }

    fn list_runs(&self, query: RunQuery) -> BoxFuture<'_, Result<RunPage, CiError>> {
        let s = self.state.lock().unwrap();
        let mut runs: Vec<RunRecord> = s.runs.values().rev().cloned().collect();
        if query.limit > 0 {
            runs.truncate(query.limit);
        }
        async move { Ok(RunPage { runs, next: None, problems: Vec::new() }) }.boxed()
    }

    fn run(&self, run: RunRef) -> BoxFuture<'_, Result<RunRecord, CiError>> {
        let found = self.number(&run).and_then(|n| self.state.lock().unwrap().runs.get(&n).cloned().ok_or(CiError::NoSuchRun(run)));
        async move { found }.boxed()
    }

    /// A run of the remote pipeline: built, then waiting at a production gate.
    fn trigger(&self, pipeline: String, trigger: Trigger) -> BoxFuture<'_, Result<RunRef, CiError>> {
        let result = (|| {
            if pipeline != PIPELINE {
                return Err(CiError::UnknownPipeline { name: pipeline, known: PIPELINE.into() });
            }
            let mut s = self.state.lock().unwrap();
            let n = s.runs.keys().max().copied().unwrap_or(0) + 1;
            let id = self.id_of(n);
            s.calls.push(format!("trigger {}", id.text()));
            let mut build = job("build", JobStatus::Success, None);
            build.finished_at = Some(jiff::Timestamp::now());
            let rec = RunRecord {
                id: id.clone(),
                pipeline,
                status: RunStatus::Waiting,
                trigger,
                created_at: jiff::Timestamp::now(),
                started_at: Some(jiff::Timestamp::now()),
                finished_at: None,
                stages: vec![
                    StageRecord { name: "build".into(), needs: Vec::new(), gate: false, environment: None },
                    StageRecord { name: "approve-prod".into(), needs: vec!["build".into()], gate: true, environment: Some("prod".into()) },
                ],
                jobs: vec![build, job("approve-prod", JobStatus::Waiting, Some("prod"))],
                note: None,
                retried_by: Vec::new(),
                refused: Default::default(),
            };
            s.runs.insert(n, rec.clone());
            let _ = self.events.send(RunEvent::Updated(Box::new(rec)));
            Ok(id)
        })();
        async move { result }.boxed()
    }

    fn cancel(&self, run: RunRef) -> BoxFuture<'_, Result<(), CiError>> {
        let result = self.with_run(&run, "cancel", |rec| {
            for j in rec.jobs.iter_mut().filter(|j| !j.status.is_terminal()) {
                j.status = JobStatus::Cancelled;
            }
            rec.finished_at = Some(jiff::Timestamp::now());
            Ok(())
        });
        async move { result }.boxed()
    }

    fn retry(&self, run: RunRef, _trigger: Trigger) -> BoxFuture<'_, Result<(), CiError>> {
        let result = self.with_run(&run, "retry", |_| Ok(()));
        async move { result }.boxed()
    }

    fn decide_gate(&self, run: RunRef, job: String, decision: GateDecision) -> BoxFuture<'_, Result<(), CiError>> {
        let result = self.with_run(&run, &format!("decide {job}"), |rec| {
            let j = rec.job_mut(&job).ok_or_else(|| CiError::NoSuchJob { run: run.clone(), job: job.clone() })?;
            if j.status != JobStatus::Waiting {
                return Err(CiError::WrongState { run: run.clone(), status: j.status.label().into(), what: "not waiting".into() });
            }
            j.status = if decision.approved { JobStatus::Success } else { JobStatus::Failed };
            if let Some(g) = j.gate.as_mut() {
                g.decision = Some(decision);
            }
            rec.finished_at = Some(jiff::Timestamp::now());
            Ok(())
        });
        async move { result }.boxed()
    }

    fn read_log(&self, run: RunRef, job: String) -> BoxFuture<'_, Result<Vec<RawLine>, CiError>> {
        let result = self.number(&run).map(|_| {
            vec![RawLine { ts_ms: 0, stream: Stream::Out, bytes: format!("{job} of {} on the remote runner", run.text()).into_bytes() }]
        });
        async move { result }.boxed()
    }

    fn evidence(&self, run: RunRef) -> BoxFuture<'_, Result<flightdeck::ci::RunEvidence, CiError>> {
        let result = self.number(&run).map(|_| flightdeck::ci::RunEvidence::default());
        async move { result }.boxed()
    }
}
