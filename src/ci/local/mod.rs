//! The built-in pipeline runner: stages from the config run as a DAG, in parallel up to a limit,
//! with matrix expansion, timeouts, retries and manual gates. Every run is persisted so history and
//! logs survive restarts, and runs executed by other flightdeck processes can be followed.

mod plan;
pub mod process;
pub mod store;
mod tail;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use jiff::Timestamp;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::ci::{CiError, CiProvider, RunEvent};
use crate::config::Config;
use crate::domain::{GateDecision, JobRecord, JobStatus, RunId, RunRecord, RunStatus, Trigger};
use crate::logstore::{RawLine, Stream};
use crate::util::{format_duration, now_ms};
use process::{JobSpec, Outcome};
pub use store::RunStore;
use store::{OwnerLock, encode_line};
pub use tail::Tailer;

/// A queued run whose executor never took its lock within this time is considered lost.
const QUEUED_GRACE: Duration = Duration::from_secs(30);
/// How often an executing run looks for requests from other processes (cancel, gate decisions).
const CONTROL_POLL: Duration = Duration::from_millis(300);

#[derive(Clone)]
pub struct LocalRunner {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    store: RunStore,
    /// Where gate timeouts are recorded (decisions are journaled by whoever makes them).
    journal: crate::audit::Journal,
    events: UnboundedSender<RunEvent>,
    active: Mutex<HashMap<RunId, ActiveRun>>,
    permits: Arc<Semaphore>,
}

struct ActiveRun {
    cancel: CancellationToken,
    gates: UnboundedSender<GateMsg>,
}

struct GateMsg {
    job: String,
    decision: GateDecision,
    reply: Option<oneshot::Sender<Result<(), CiError>>>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct GateRequest {
    job: String,
    decision: GateDecision,
}

struct JobResult {
    status: JobStatus,
    findings: Option<crate::domain::FindingsSummary>,
    /// When the job's command really started and ended (not when the driver heard of it).
    started: Option<Timestamp>,
    finished: Timestamp,
    exit_code: Option<i32>,
    attempts: u32,
    error: Option<String>,
}

impl LocalRunner {
    /// Opens the run history under `data_dir` and marks runs whose executor died as interrupted.
    pub fn new(config: Arc<Config>, data_dir: &Path, events: UnboundedSender<RunEvent>) -> Result<LocalRunner, CiError> {
        let runner = LocalRunner::open(config, data_dir, events)?;
        runner.recover_interrupted()?;
        Ok(runner)
    }

    /// Opens the run history without reading it; `list_runs` recovers interrupted runs later, off
    /// the caller's path (the cockpit draws its first frame before touching the history).
    pub fn open(config: Arc<Config>, data_dir: &Path, events: UnboundedSender<RunEvent>) -> Result<LocalRunner, CiError> {
        let store = RunStore::open(data_dir)?;
        let permits = Arc::new(Semaphore::new(config.runner.max_parallel_jobs));
        let journal = crate::audit::Journal::in_data_dir(data_dir);
        Ok(LocalRunner { inner: Arc::new(Inner { config, store, journal, events, active: Mutex::new(HashMap::new()), permits }) })
    }

    pub fn store(&self) -> &RunStore {
        &self.inner.store
    }

    /// Marks every unfinished run that no live process executes as `interrupted`.
    pub fn recover_interrupted(&self) -> Result<Vec<RunId>, CiError> {
        let (runs, _) = self.inner.store.list()?;
        let mut marked = Vec::new();
        for mut rec in runs.into_iter().filter(|r| !r.status.is_terminal()) {
            if self.is_active_here(rec.id) {
                continue;
            }
            let Some(_lock) = self.inner.store.try_lock(rec.id)? else {
                continue;
            };
            let age = Timestamp::now().as_millisecond() - rec.created_at.as_millisecond();
            if rec.status == RunStatus::Queued && (age as u128) < QUEUED_GRACE.as_millis() {
                continue;
            }
            let now = Timestamp::now();
            for j in rec.jobs.iter_mut().filter(|j| !j.status.is_terminal()) {
                j.status = JobStatus::Interrupted;
                j.finished_at = Some(now);
                j.error = Some("the flightdeck process executing this job stopped before it finished".into());
            }
            rec.status = RunStatus::Interrupted;
            rec.finished_at = Some(now);
            rec.note =
                Some(format!("interrupted: the flightdeck process executing it (pid {}) stopped before the run finished", rec.owner_pid));
            self.inner.store.save(&rec)?;
            marked.push(rec.id);
        }
        Ok(marked)
    }

    fn is_active_here(&self, id: RunId) -> bool {
        self.inner.active.lock().map(|a| a.contains_key(&id)).unwrap_or(false)
    }

    /// Creates a queued run of `pipeline` without starting it.
    pub fn create_run(&self, pipeline: &str, trigger: Trigger) -> Result<RunRecord, CiError> {
        let cfg = &self.inner.config;
        let p = cfg.pipeline(pipeline).ok_or_else(|| CiError::UnknownPipeline {
            name: pipeline.to_string(),
            known: if cfg.pipelines.is_empty() { "none".into() } else { cfg.pipelines.keys().cloned().collect::<Vec<_>>().join(", ") },
        })?;
        let (stages, jobs) = plan::plan(p);
        let id = self.inner.store.allocate()?;
        let rec = RunRecord {
            id,
            pipeline: pipeline.to_string(),
            status: RunStatus::Queued,
            trigger,
            created_at: Timestamp::now(),
            started_at: None,
            finished_at: None,
            stages,
            jobs,
            owner_pid: std::process::id(),
            note: None,
        };
        self.inner.store.save(&rec)?;
        Ok(rec)
    }

    /// Executes a run in this process (it must not be executing anywhere else).
    pub fn start(&self, rec: RunRecord) -> Result<(), CiError> {
        let lock = self.inner.store.try_lock(rec.id)?.ok_or(CiError::OwnedElsewhere { run: rec.id, pid: rec.owner_pid })?;
        let cancel = CancellationToken::new();
        let (gates_tx, gates_rx) = unbounded_channel();
        self.inner
            .active
            .lock()
            .map_err(|_| CiError::Other("internal state poisoned".into()))?
            .insert(rec.id, ActiveRun { cancel: cancel.clone(), gates: gates_tx });
        let inner = self.inner.clone();
        tokio::spawn(drive(inner, rec, lock, cancel, gates_rx));
        Ok(())
    }

    /// Cancels every run this process executes (used when the cockpit quits).
    pub fn cancel_all(&self) -> usize {
        let active = self.inner.active.lock().map(|a| a.values().map(|r| r.cancel.clone()).collect::<Vec<_>>()).unwrap_or_default();
        for c in &active {
            c.cancel();
        }
        active.len()
    }

    pub fn active_count(&self) -> usize {
        self.inner.active.lock().map(|a| a.len()).unwrap_or(0)
    }

    /// Waits (bounded) until this process executes no run any more.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.active_count() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    fn local(&self, id: RunId) -> Option<(CancellationToken, UnboundedSender<GateMsg>)> {
        self.inner.active.lock().ok()?.get(&id).map(|a| (a.cancel.clone(), a.gates.clone()))
    }

    fn cancel_blocking(&self, id: RunId) -> Result<(), CiError> {
        if let Some((cancel, _)) = self.local(id) {
            cancel.cancel();
            return Ok(());
        }
        let rec = self.inner.store.load(id)?;
        if rec.status.is_terminal() {
            return Err(CiError::WrongState { run: id, status: rec.status.label().into(), what: "there is nothing to cancel".into() });
        }
        match self.inner.store.try_lock(id)? {
            None => write_control(&self.inner.store, id, "cancel", b"cancel\n"),
            Some(_lock) => {
                drop(_lock);
                self.recover_interrupted()?;
                Err(CiError::WrongState {
                    run: id,
                    status: "interrupted".into(),
                    what: "its executor is gone, so there is nothing to cancel".into(),
                })
            }
        }
    }

    fn retry_blocking(&self, id: RunId, trigger: Trigger) -> Result<(), CiError> {
        if self.is_active_here(id) {
            return Err(CiError::WrongState { run: id, status: "running".into(), what: "retry it when it has finished".into() });
        }
        let mut rec = self.inner.store.load(id)?;
        if !rec.status.is_terminal() {
            return Err(CiError::WrongState { run: id, status: rec.status.label().into(), what: "retry it when it has finished".into() });
        }
        let retryable: Vec<usize> = rec.jobs.iter().enumerate().filter(|(_, j)| j.status.is_retryable()).map(|(i, _)| i).collect();
        if retryable.is_empty() {
            return Err(CiError::WrongState {
                run: id,
                status: rec.status.label().into(),
                what: "no failed, cancelled or skipped job to retry".into(),
            });
        }
        for i in retryable {
            let j = &mut rec.jobs[i];
            j.status = JobStatus::Pending;
            j.exit_code = None;
            j.error = None;
            j.finished_at = None;
            j.started_at = None;
            if let Some(g) = j.gate.as_mut() {
                g.decision = None;
                g.deadline = None;
            }
        }
        rec.status = RunStatus::Queued;
        rec.finished_at = None;
        rec.note = Some(format!("retried by {}", trigger.actor));
        self.inner.store.save(&rec)?;
        self.start(rec)
    }

    async fn decide(&self, id: RunId, job: String, decision: GateDecision) -> Result<(), CiError> {
        if let Some((_, gates)) = self.local(id) {
            let (tx, rx) = oneshot::channel();
            gates.send(GateMsg { job, decision, reply: Some(tx) }).map_err(|_| CiError::WrongState {
                run: id,
                status: "finished".into(),
                what: "the gate is no longer waiting".into(),
            })?;
            return rx.await.unwrap_or_else(|_| Err(CiError::Other("the run ended before the decision was applied".into())));
        }
        let store = self.inner.store.clone();
        let rec = store.load(id)?;
        check_gate_waiting(&rec, &job)?;
        if store.try_lock(id)?.is_some() {
            self.recover_interrupted()?;
            return Err(CiError::WrongState {
                run: id,
                status: "interrupted".into(),
                what: "its executor is gone; retry the run to wait at the gate again".into(),
            });
        }
        let body =
            serde_json::to_vec(&GateRequest { job: job.clone(), decision: decision.clone() }).map_err(|e| CiError::Other(e.to_string()))?;
        write_control(&store, id, &format!("gate-{}-{}", std::process::id(), now_ms()), &body)?;
        // The executor applies it within a poll interval; wait until the record says so.
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let rec = store.load(id)?;
            match rec.job(&job) {
                Some(j) if j.status != JobStatus::Waiting => return Ok(()),
                Some(_) => {}
                None => return Err(CiError::NoSuchJob { run: id, job }),
            }
        }
        Err(CiError::Other(format!("run #{id}'s executor did not apply the decision within 10s; it is still waiting")))
    }

    /// Follows runs executed by other processes (and runs created by them) until `stop`.
    pub fn watch_foreign(&self, known: HashSet<RunId>, stop: CancellationToken) {
        let runner = self.clone();
        tokio::spawn(async move {
            let mut known = known;
            let mut tailers: HashMap<RunId, Tailer> = HashMap::new();
            let mut first = true;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
                let store = runner.inner.store.clone();
                let ids = store.ids().unwrap_or_default();
                for id in ids {
                    if runner.is_active_here(id) {
                        tailers.remove(&id);
                        known.insert(id);
                        continue;
                    }
                    let is_new = known.insert(id);
                    if (is_new || first) && !tailers.contains_key(&id) {
                        match store.load(id) {
                            Ok(rec) if !rec.status.is_terminal() => {
                                tailers.insert(id, Tailer::new(id));
                            }
                            Ok(rec) if is_new => {
                                let _ = runner.inner.events.send(RunEvent::Updated(Box::new(rec)));
                            }
                            _ => {}
                        }
                    }
                }
                first = false;
                let mut finished = Vec::new();
                for (id, t) in tailers.iter_mut() {
                    match t.poll(&store, &runner.inner.events) {
                        Ok(true) => finished.push(*id),
                        Ok(false) => {}
                        Err(e) => {
                            let _ = runner.inner.events.send(RunEvent::Problem { run: Some(*id), message: e.to_string() });
                            finished.push(*id);
                        }
                    }
                }
                for id in finished {
                    tailers.remove(&id);
                }
            }
        });
    }
}

fn check_gate_waiting(rec: &RunRecord, job: &str) -> Result<(), CiError> {
    let j = rec.job(job).ok_or_else(|| CiError::NoSuchJob { run: rec.id, job: job.to_string() })?;
    if j.gate.is_none() {
        return Err(CiError::Other(format!("`{job}` in run #{} is not a gate", rec.id)));
    }
    if j.status != JobStatus::Waiting {
        return Err(CiError::WrongState {
            run: rec.id,
            status: rec.status.label().into(),
            what: format!("gate `{job}` is not waiting (it is {})", j.status.label()),
        });
    }
    Ok(())
}

fn write_control(store: &RunStore, id: RunId, name: &str, body: &[u8]) -> Result<(), CiError> {
    let dir = store.control_dir(id);
    std::fs::create_dir_all(&dir).map_err(|e| CiError::storage(format!("cannot create {}", dir.display()), e))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, body)
        .and_then(|_| std::fs::rename(&tmp, dir.join(name)))
        .map_err(|e| CiError::storage(format!("cannot write a request into {}", dir.display()), e))
}

impl CiProvider for LocalRunner {
    fn evidence(&self, run: RunId) -> BoxFuture<'_, Result<crate::ci::RunEvidence, CiError>> {
        let store = self.inner.store.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let rec = store.load(run)?;
                Ok(store.evidence(&rec))
            })
            .await
            .map_err(|e| CiError::Other(e.to_string()))?
        }
        .boxed()
    }

    fn name(&self) -> &str {
        "local"
    }

    fn pipelines(&self) -> Vec<String> {
        self.inner.config.pipelines.keys().cloned().collect()
    }

    fn list_runs(&self) -> BoxFuture<'_, Result<Vec<RunRecord>, CiError>> {
        let runner = self.clone();
        let events = self.inner.events.clone();
        async move {
            let (runs, problems) = tokio::task::spawn_blocking(move || {
                runner.recover_interrupted()?;
                runner.inner.store.list()
            })
            .await
            .map_err(|e| CiError::Other(e.to_string()))??;
            for p in problems {
                let _ = events.send(RunEvent::Problem { run: None, message: p });
            }
            Ok(runs)
        }
        .boxed()
    }

    fn trigger(&self, pipeline: String, trigger: Trigger) -> BoxFuture<'_, Result<RunId, CiError>> {
        async move {
            let rec = self.create_run(&pipeline, trigger)?;
            let id = rec.id;
            self.start(rec)?;
            Ok(id)
        }
        .boxed()
    }

    fn cancel(&self, run: RunId) -> BoxFuture<'_, Result<(), CiError>> {
        async move { self.cancel_blocking(run) }.boxed()
    }

    fn retry(&self, run: RunId, trigger: Trigger) -> BoxFuture<'_, Result<(), CiError>> {
        async move { self.retry_blocking(run, trigger) }.boxed()
    }

    fn decide_gate(&self, run: RunId, job: String, decision: GateDecision) -> BoxFuture<'_, Result<(), CiError>> {
        self.decide(run, job, decision).boxed()
    }

    fn read_log(&self, run: RunId, job: String) -> BoxFuture<'_, Result<Vec<RawLine>, CiError>> {
        let store = self.inner.store.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let rec = store.load(run)?;
                store.read_log(&rec, &job)
            })
            .await
            .map_err(|e| CiError::Other(e.to_string()))?
        }
        .boxed()
    }
}

/// Saves the record and tells the listeners; a failed save is reported, not ignored.
fn persist(inner: &Inner, rec: &mut RunRecord) {
    // While it executes, the run's status follows its jobs (e.g. `waiting` at a gate); the final
    // status is set when the run ends.
    if rec.finished_at.is_none() {
        let derived = rec.derive_status();
        rec.status = if derived.is_terminal() { RunStatus::Running } else { derived };
        if rec.status == RunStatus::Queued {
            rec.status = RunStatus::Running;
        }
    }
    if let Err(e) = inner.store.save(rec) {
        let _ = inner.events.send(RunEvent::Problem { run: Some(rec.id), message: e.to_string() });
    }
    let _ = inner.events.send(RunEvent::Updated(Box::new(rec.clone())));
}

/// Writes a flightdeck-authored line into a job's log and shows it.
fn meta_line(inner: &Inner, rec: &RunRecord, job: &str, text: String) {
    let lines: Vec<RawLine> =
        text.lines().map(|l| RawLine { ts_ms: now_ms(), stream: Stream::Meta, bytes: l.as_bytes().to_vec() }).collect();
    if let Some(path) = inner.store.log_path(rec, job) {
        let mut buf = Vec::new();
        for line in &lines {
            encode_line(&mut buf, line);
        }
        let res =
            std::fs::OpenOptions::new().create(true).append(true).open(&path).and_then(|mut f| std::io::Write::write_all(&mut f, &buf));
        if let Err(e) = res {
            let _ = inner
                .events
                .send(RunEvent::Problem { run: Some(rec.id), message: format!("cannot write the log {}: {e}", path.display()) });
        }
    }
    let _ = inner.events.send(RunEvent::Log { run: rec.id, job: job.to_string(), lines });
}

async fn drive(inner: Arc<Inner>, mut rec: RunRecord, lock: OwnerLock, cancel: CancellationToken, mut gates: UnboundedReceiver<GateMsg>) {
    let id = rec.id;
    rec.status = RunStatus::Running;
    rec.started_at.get_or_insert_with(Timestamp::now);
    rec.finished_at = None;
    rec.owner_pid = std::process::id();
    persist(&inner, &mut rec);

    let (started_tx, mut started_rx) = unbounded_channel::<(String, Timestamp)>();
    let mut set: JoinSet<(String, JobResult)> = JoinSet::new();
    let mut task_keys: HashMap<tokio::task::Id, String> = HashMap::new();
    let mut launched: HashSet<String> = HashSet::new();
    let mut cancelling = false;
    let mut control = tokio::time::interval(CONTROL_POLL);
    control.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        if !cancelling && schedule(&inner, &mut rec, &mut set, &mut task_keys, &mut launched, &started_tx, &cancel) {
            persist(&inner, &mut rec);
        }
        let waiting = rec.jobs.iter().any(|j| j.status == JobStatus::Waiting);
        if set.is_empty() && !waiting {
            break;
        }
        let deadline =
            rec.jobs.iter().filter(|j| j.status == JobStatus::Waiting).filter_map(|j| j.gate.as_ref()?.deadline).min().map(|d| {
                let ms = (d.as_millisecond() - Timestamp::now().as_millisecond()).max(0) as u64;
                tokio::time::Instant::now() + Duration::from_millis(ms)
            });
        tokio::select! {
            biased;
            Some((key, at)) = started_rx.recv() => {
                // The job may already have finished (both messages can be ready at once).
                if let Some(j) = rec.job_mut(&key).filter(|j| j.status == JobStatus::Pending) {
                    j.status = JobStatus::Running;
                    j.started_at = Some(at);
                }
                persist(&inner, &mut rec);
            }
            Some(joined) = set.join_next_with_id() => {
                match joined {
                    Ok((_, (key, result))) => finish_job(&mut rec, &key, result),
                    Err(e) => {
                        // A job task that died must still end the job, or the run would wait forever.
                        let key = task_keys.get(&e.id()).cloned().unwrap_or_default();
                        let _ = inner.events.send(RunEvent::Problem { run: Some(id), message: format!("job `{key}` of run #{id} failed internally: {e}") });
                        let result = JobResult { status: JobStatus::Failed, findings: None, started: None, finished: Timestamp::now(), exit_code: None, attempts: 0, error: Some(format!("internal error: {e}")) };
                        finish_job(&mut rec, &key, result);
                    }
                }
                persist(&inner, &mut rec);
            }
            Some(msg) = gates.recv() => {
                let result = apply_gate(&inner, &mut rec, &msg.job, msg.decision);
                if result.is_ok() {
                    persist(&inner, &mut rec);
                }
                if let Some(reply) = msg.reply {
                    let _ = reply.send(result);
                }
            }
            _ = async { if let Some(d) = deadline { tokio::time::sleep_until(d).await } else { std::future::pending::<()>().await } } => {
                expire_gates(&inner, &mut rec);
                persist(&inner, &mut rec);
            }
            _ = cancel.cancelled(), if !cancelling => {
                cancelling = true;
                let now = Timestamp::now();
                let mut gate_keys = Vec::new();
                for j in rec.jobs.iter_mut().filter(|j| matches!(j.status, JobStatus::Pending | JobStatus::Waiting)) {
                    if j.status == JobStatus::Waiting {
                        gate_keys.push(j.key.clone());
                    }
                    j.status = JobStatus::Cancelled;
                    j.finished_at = Some(now);
                }
                for k in gate_keys {
                    meta_line(&inner, &rec, &k, "run cancelled while this gate was waiting".into());
                }
                persist(&inner, &mut rec);
            }
            _ = control.tick() => {
                for req in take_control(&inner.store, id) {
                    match req {
                        Control::Cancel => cancel.cancel(),
                        Control::Gate(g) => {
                            if apply_gate(&inner, &mut rec, &g.job, g.decision).is_ok() {
                                persist(&inner, &mut rec);
                            }
                        }
                    }
                }
            }
        }
    }
    // Jobs that can never start because something they need did not run.
    for j in rec.jobs.iter_mut().filter(|j| j.status == JobStatus::Pending) {
        j.status = if cancelling { JobStatus::Cancelled } else { JobStatus::Skipped };
    }
    rec.finished_at = Some(Timestamp::now());
    rec.status = rec.derive_status();
    if let Ok(mut a) = inner.active.lock() {
        a.remove(&id);
    }
    persist(&inner, &mut rec);
    let _ = std::fs::remove_dir_all(inner.store.control_dir(id));
    drop(lock);
}

/// Starts every job whose needs are met, skips those whose needs failed. Returns whether anything changed.
fn schedule(
    inner: &Arc<Inner>,
    rec: &mut RunRecord,
    set: &mut JoinSet<(String, JobResult)>,
    task_keys: &mut HashMap<tokio::task::Id, String>,
    launched: &mut HashSet<String>,
    started: &UnboundedSender<(String, Timestamp)>,
    cancel: &CancellationToken,
) -> bool {
    let mut changed = false;
    loop {
        let mut progressed = false;
        for idx in 0..rec.jobs.len() {
            let job = &rec.jobs[idx];
            if job.status != JobStatus::Pending || launched.contains(&job.key) {
                continue;
            }
            let needs = rec.stages.iter().find(|s| s.name == job.stage).map(|s| s.needs.clone()).unwrap_or_default();
            let needed: Vec<&JobRecord> = rec.jobs.iter().filter(|j| needs.contains(&j.stage)).collect();
            if let Some(blocker) = needed.iter().find(|j| j.status.is_terminal() && !j.status.satisfies_needs()) {
                let msg = format!("skipped: `{}` {}", blocker.key, blocker.status.label());
                let j = &mut rec.jobs[idx];
                j.status = JobStatus::Skipped;
                j.error = Some(msg);
                j.finished_at = Some(Timestamp::now());
                progressed = true;
                continue;
            }
            if !needed.iter().all(|j| j.status.satisfies_needs()) {
                continue;
            }
            let key = rec.jobs[idx].key.clone();
            let stage_cfg =
                inner.config.pipeline(&rec.pipeline).and_then(|p| p.stages.iter().find(|s| s.name == rec.jobs[idx].stage)).cloned();
            let Some(stage) = stage_cfg else {
                let j = &mut rec.jobs[idx];
                j.status = JobStatus::Failed;
                j.error = Some(format!("stage `{}` is no longer in pipeline `{}` of the configuration", j.stage, rec.pipeline));
                j.finished_at = Some(Timestamp::now());
                progressed = true;
                continue;
            };
            if let Some(gate) = &stage.gate {
                let now = Timestamp::now();
                let j = &mut rec.jobs[idx];
                j.status = JobStatus::Waiting;
                j.started_at = Some(now);
                let deadline = gate.timeout.and_then(|t| now.checked_add(jiff::SignedDuration::try_from(t).ok()?).ok());
                if let Some(g) = j.gate.as_mut() {
                    g.deadline = deadline;
                }
                let text = match gate.timeout {
                    Some(t) => format!("waiting for approval (times out after {})", format_duration(t)),
                    None => "waiting for approval".to_string(),
                };
                let text = if gate.message.is_empty() { text } else { format!("{text}: {}", gate.message) };
                meta_line(inner, rec, &key, text);
                progressed = true;
                continue;
            }
            let combo = rec.jobs[idx].matrix.clone();
            let mut env: Vec<(String, String)> = stage.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            for (axis, v) in &combo {
                env.push((format!("MATRIX_{}", axis.to_ascii_uppercase()), v.clone()));
            }
            env.push(("FLIGHTDECK_RUN_ID".into(), rec.id.to_string()));
            env.push(("FLIGHTDECK_PIPELINE".into(), rec.pipeline.clone()));
            env.push(("FLIGHTDECK_JOB".into(), key.clone()));
            // So a stage can call flightdeck itself (e.g. start a rollout) on the same project.
            if let Ok(exe) = std::env::current_exe() {
                env.push(("FLIGHTDECK".into(), exe.display().to_string()));
            }
            if let Some(p) = &inner.config.path {
                env.push(("FLIGHTDECK_CONFIG".into(), std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()).display().to_string()));
            }
            env.push(("FLIGHTDECK_DATA_DIR".into(), inner.store.data_dir().display().to_string()));
            let spec = JobSpec {
                command: plan::expand_command(&stage, &combo),
                cwd: stage.cwd.clone(),
                env,
                timeout: stage.timeout.or(inner.config.runner.default_timeout),
                kill_grace: inner.config.runner.kill_grace,
            };
            let log_path = inner.store.log_path(rec, &key);
            launched.insert(key.clone());
            let handle = set.spawn(job_task(
                inner.clone(),
                rec.clone(),
                key.clone(),
                spec,
                stage.retries,
                stage.allow_failure,
                cancel.child_token(),
                started.clone(),
                log_path,
            ));
            task_keys.insert(handle.id(), key);
            progressed = true;
        }
        if !progressed {
            break;
        }
        changed = true;
    }
    changed
}

fn finish_job(rec: &mut RunRecord, key: &str, result: JobResult) {
    if let Some(j) = rec.job_mut(key) {
        j.status = result.status;
        j.exit_code = result.exit_code;
        j.attempts += result.attempts;
        j.error = result.error;
        j.finished_at = Some(result.finished);
        j.started_at = result.started.or(j.started_at).or(j.finished_at);
        if result.findings.is_some() {
            j.findings = result.findings;
        }
    }
}

fn apply_gate(inner: &Inner, rec: &mut RunRecord, job: &str, decision: GateDecision) -> Result<(), CiError> {
    check_gate_waiting(rec, job)?;
    let approved = decision.approved;
    let text = match (approved, decision.comment.is_empty()) {
        (true, true) => format!("approved by {}", decision.by),
        (true, false) => format!("approved by {}: {}", decision.by, decision.comment),
        (false, true) => format!("rejected by {}", decision.by),
        (false, false) => format!("rejected by {}: {}", decision.by, decision.comment),
    };
    if let Some(j) = rec.job_mut(job) {
        j.status = if approved { JobStatus::Success } else { JobStatus::Failed };
        j.finished_at = Some(Timestamp::now());
        j.error = if approved { None } else { Some(text.clone()) };
        if let Some(g) = j.gate.as_mut() {
            g.decision = Some(decision);
        }
    }
    meta_line(inner, rec, job, text);
    Ok(())
}

fn expire_gates(inner: &Inner, rec: &mut RunRecord) {
    let now = Timestamp::now();
    let expired: Vec<String> = rec
        .jobs
        .iter()
        .filter(|j| j.status == JobStatus::Waiting && j.gate.as_ref().and_then(|g| g.deadline).is_some_and(|d| d <= now))
        .map(|j| j.key.clone())
        .collect();
    for key in expired {
        if let Some(j) = rec.job_mut(&key) {
            j.status = JobStatus::TimedOut;
            j.finished_at = Some(now);
            j.error = Some("no decision before the gate's timeout".into());
        }
        meta_line(inner, rec, &key, "the gate timed out without a decision".into());
        let env = rec.job(&key).and_then(|j| j.gate.as_ref()?.environment.clone());
        let draft = crate::audit::Draft {
            actor: "flightdeck".into(),
            origin: "local".into(),
            environment: env,
            target: key.clone(),
            action: "gate.timeout".into(),
            parameters: serde_json::json!({ "run": rec.id, "pipeline": rec.pipeline, "gate": key }),
            reason: "no decision before the gate's timeout".into(),
            phase: Some(crate::audit::Phase::Event),
            result: "recorded".into(),
            ..Default::default()
        };
        if let Err(e) = inner.journal.append(draft) {
            let _ = inner
                .events
                .send(RunEvent::Problem { run: Some(rec.id), message: format!("the gate timeout could not be journaled: {e}") });
        }
    }
}

enum Control {
    Cancel,
    Gate(GateRequest),
}

/// Reads and removes requests other processes left for this run.
fn take_control(store: &RunStore, id: RunId) -> Vec<Control> {
    let dir = store.control_dir(id);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| !n.starts_with('.')).collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let body = std::fs::read(&path).unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        if name == "cancel" {
            out.push(Control::Cancel);
        } else if name.starts_with("gate-")
            && let Ok(req) = serde_json::from_slice::<GateRequest>(&body)
        {
            out.push(Control::Gate(req));
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
async fn job_task(
    inner: Arc<Inner>,
    rec: RunRecord,
    key: String,
    spec: JobSpec,
    retries: u32,
    allow_failure: bool,
    cancel: CancellationToken,
    started: UnboundedSender<(String, Timestamp)>,
    log_path: Option<std::path::PathBuf>,
) -> (String, JobResult) {
    let permit = tokio::select! {
        p = inner.permits.clone().acquire_owned() => p.ok(),
        _ = cancel.cancelled() => None,
    };
    if permit.is_none() {
        return (
            key,
            JobResult {
                status: JobStatus::Cancelled,
                findings: None,
                started: None,
                finished: Timestamp::now(),
                exit_code: None,
                attempts: 0,
                error: None,
            },
        );
    }
    let started_at = Timestamp::now();
    let _ = started.send((key.clone(), started_at));
    let run = rec.id;
    let (tx, rx) = unbounded_channel();
    let sink = tokio::spawn(log_sink(inner.events.clone(), run, key.clone(), log_path, rx));
    // One stored line per text line: the log format is line-oriented, and scripts are multi-line.
    let meta = |text: String| {
        for line in text.lines() {
            let _ = tx.send(RawLine { ts_ms: now_ms(), stream: Stream::Meta, bytes: line.as_bytes().to_vec() });
        }
    };
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        let of = if retries > 0 { format!(" (attempt {attempt} of {})", retries + 1) } else { String::new() };
        meta(format!("$ {}{of}", spec.command));
        let t0 = std::time::Instant::now();
        let mut this_attempt = spec.clone();
        this_attempt.env.push(("FLIGHTDECK_ATTEMPT".into(), attempt.to_string()));
        let outcome = process::run(&this_attempt, tx.clone(), cancel.clone()).await;
        let took = format_duration(t0.elapsed());
        let (status, code, error) = match outcome {
            Outcome::Exited(0) => (JobStatus::Success, Some(0), None),
            Outcome::Exited(c) => (JobStatus::Failed, Some(c), Some(format!("exited with code {c}"))),
            Outcome::Signalled(s) => (JobStatus::Failed, None, Some(format!("killed by signal {s}"))),
            Outcome::TimedOut => (
                JobStatus::TimedOut,
                None,
                Some(format!("timed out after {}; its process group was ended", spec.timeout.map(format_duration).unwrap_or_default())),
            ),
            Outcome::Cancelled => (JobStatus::Cancelled, None, Some("cancelled; its process group was ended".into())),
            Outcome::SpawnFailed(e) => (JobStatus::Failed, None, Some(e)),
        };
        meta(match &error {
            None => format!("✓ succeeded in {took}"),
            Some(e) => format!("✗ {e} after {took}"),
        });
        let retry = matches!(status, JobStatus::Failed | JobStatus::TimedOut) && attempt <= retries && !cancel.is_cancelled();
        if retry {
            meta(format!("retrying in 1s: attempt {} of {}", attempt + 1, retries + 1));
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                _ = cancel.cancelled() => break JobResult { status: JobStatus::Cancelled, findings: None, started: Some(started_at), finished: Timestamp::now(), exit_code: code, attempts: attempt, error: Some("cancelled before the retry".into()) },
            }
        }
        let status = if status == JobStatus::Failed && allow_failure { JobStatus::FailedAllowed } else { status };
        break JobResult {
            status,
            findings: None,
            started: Some(started_at),
            finished: Timestamp::now(),
            exit_code: code,
            attempts: attempt,
            error,
        };
    };
    let mut result = result;
    let reports = rec.job(&key).map(|j| j.reports.clone()).unwrap_or_default();
    if !reports.is_empty() && matches!(result.status, JobStatus::Success | JobStatus::Failed | JobStatus::FailedAllowed) {
        let summary = read_reports(&inner, &rec, &key, &spec.cwd, &reports).await;
        let text = if summary.errors.is_empty() {
            let from: Vec<String> = summary.reports.iter().map(|r| format!("{} ({}, {} findings)", r.path, r.format, r.findings)).collect();
            format!("findings: {} from {}", summary.counts.badge(), from.join(", "))
        } else {
            format!("findings: {} — unreadable: {}", summary.counts.badge(), summary.errors.join("; "))
        };
        meta(text);
        result.findings = Some(summary);
    }
    drop(tx);
    let _ = sink.await;
    drop(permit);
    (key, result)
}

/// Parses the job's declared reports (off the async threads), stores them with the run, and
/// summarises them for the job record.
async fn read_reports(
    inner: &Arc<Inner>,
    rec: &RunRecord,
    key: &str,
    cwd: &std::path::Path,
    reports: &[String],
) -> crate::domain::FindingsSummary {
    let (inner2, rec2, key2, cwd2, reports2) = (inner.clone(), rec.clone(), key.to_string(), cwd.to_path_buf(), reports.to_vec());
    let parsed = tokio::task::spawn_blocking(move || {
        let max = inner2.config.findings.max_report_bytes;
        let mut jf = store::JobFindings::default();
        for r in &reports2 {
            match crate::findings::read_report(&cwd2.join(r), r, max) {
                Ok(p) => jf.reports.push(p),
                Err(e) => jf.errors.push(e),
            }
        }
        if let Err(e) = inner2.store.save_findings(&rec2, &key2, &jf) {
            jf.errors.push(crate::findings::ReportError { path: reports2.join(", "), problem: e.to_string() });
        }
        jf
    })
    .await
    .unwrap_or_else(|e| store::JobFindings {
        reports: vec![],
        errors: vec![crate::findings::ReportError { path: reports.join(", "), problem: format!("internal error: {e}") }],
    });
    let all: Vec<crate::findings::Finding> = parsed.reports.iter().flat_map(|r| r.findings.iter().cloned()).collect();
    crate::domain::FindingsSummary {
        counts: crate::findings::Counts::of(crate::findings::group(all).iter().filter(|f| f.suppressed.is_none())),
        reports: parsed
            .reports
            .iter()
            .map(|r| crate::domain::ReportSummary {
                path: r.path.clone(),
                format: r.format.name().into(),
                tool: r.tool.clone(),
                findings: r.findings.len(),
            })
            .collect(),
        errors: parsed.errors.iter().map(|e| e.to_string()).collect(),
    }
}

/// Appends a job's lines to its log file and forwards them, batched, to whoever listens.
async fn log_sink(
    events: UnboundedSender<RunEvent>,
    run: RunId,
    job: String,
    path: Option<std::path::PathBuf>,
    mut rx: UnboundedReceiver<RawLine>,
) {
    use tokio::io::AsyncWriteExt;
    let mut file = match &path {
        Some(p) => match tokio::fs::OpenOptions::new().create(true).append(true).open(p).await {
            Ok(f) => Some(f),
            Err(e) => {
                let _ = events.send(RunEvent::Problem {
                    run: Some(run),
                    message: format!("cannot write the log of `{job}` to {}: {e}", p.display()),
                });
                None
            }
        },
        None => None,
    };
    let mut batch = Vec::with_capacity(256);
    let mut buf = Vec::with_capacity(64 * 1024);
    while rx.recv_many(&mut batch, 4096).await > 0 {
        if let Some(f) = file.as_mut() {
            buf.clear();
            for l in &batch {
                encode_line(&mut buf, l);
            }
            if let Err(e) = f.write_all(&buf).await {
                let shown = path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
                let _ = events.send(RunEvent::Problem {
                    run: Some(run),
                    message: format!("cannot write the log of `{job}` to {shown}: {e}; the rest of it is only on screen"),
                });
                file = None;
            }
        }
        let _ = events.send(RunEvent::Log { run, job: job.clone(), lines: std::mem::take(&mut batch) });
    }
    if let Some(mut f) = file {
        let _ = f.flush().await;
    }
}
