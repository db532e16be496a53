//! The built-in pipeline runner: stages from the config run as a DAG, in parallel up to a limit,
//! with matrix expansion, timeouts, retries and manual gates. Every run is persisted so history and
//! logs survive restarts, and runs executed by other flightdeck processes can be followed.

mod execute;
mod gates;
mod plan;
pub mod process;
pub mod reap;
mod reports;
mod requests;
pub mod space;
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

use crate::ci::{CiError, CiProvider, RunEvent, RunPage, RunQuery};
use crate::config::Config;
use crate::domain::{GateDecision, JobRecord, JobStatus, RunRecord, RunRef, RunStatus, Trigger};
use crate::logstore::{RawLine, Stream};
use crate::util::{format_duration, now_ms};
use execute::drive;
use store::OwnerLock;
pub use store::RunStore;
pub use store::{encode_line, stream_log_file};
pub use tail::Tailer;

/// A queued run whose executor never took its lock within this time is considered lost.
const QUEUED_GRACE: Duration = Duration::from_secs(30);
/// How often an executing run looks for requests from other processes (cancel, gate decisions).
const CONTROL_POLL: Duration = Duration::from_millis(300);

#[derive(Clone)]
pub struct LocalRunner {
    inner: Arc<Inner>,
}

/// Who executes the runs a runner creates, when it is not this process: a supervisor that outlives
/// whoever asked (the cockpit, the command line).
pub trait Dispatch: Send + Sync {
    /// Asks for a queued, recorded run to be executed; returns once an executor has taken it.
    fn execute(&self, run: &RunRef) -> Result<(), CiError>;
}

struct Inner {
    config: Arc<Config>,
    /// None: runs execute in this process (the supervisor, and tests).
    dispatch: Option<Arc<dyn Dispatch>>,
    store: RunStore,
    /// Where gate timeouts are recorded (decisions are journaled by whoever makes them).
    journal: crate::audit::Journal,
    events: UnboundedSender<RunEvent>,
    active: Mutex<HashMap<RunRef, ActiveRun>>,
    /// Set, under `active`'s lock, once every run was cancelled: no run starts after that.
    stopping: std::sync::atomic::AtomicBool,
    permits: Arc<Semaphore>,
}

struct ActiveRun {
    cancel: CancellationToken,
    gates: UnboundedSender<GateMsg>,
    /// The environment its jobs start from: the one of whoever asked for the run (None: this
    /// process's own).
    env: Option<Arc<Vec<(String, String)>>>,
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
        LocalRunner::build(config, data_dir, events, None)
    }

    /// A runner whose runs are executed by `dispatch` rather than by this process: quitting the
    /// cockpit, or losing its terminal, then leaves them running.
    pub fn dispatching(
        config: Arc<Config>,
        data_dir: &Path,
        events: UnboundedSender<RunEvent>,
        dispatch: Arc<dyn Dispatch>,
    ) -> Result<LocalRunner, CiError> {
        LocalRunner::build(config, data_dir, events, Some(dispatch))
    }

    fn build(
        config: Arc<Config>,
        data_dir: &Path,
        events: UnboundedSender<RunEvent>,
        dispatch: Option<Arc<dyn Dispatch>>,
    ) -> Result<LocalRunner, CiError> {
        let store = RunStore::open(data_dir)?;
        let permits = Arc::new(Semaphore::new(config.runner.max_parallel_jobs));
        let journal = crate::audit::Journal::in_data_dir(data_dir);
        let active = Mutex::new(HashMap::new());
        let stopping = Default::default();
        Ok(LocalRunner { inner: Arc::new(Inner { config, dispatch, store, journal, events, active, stopping, permits }) })
    }

    /// Executes a queued run: here, or by asking the dispatcher.
    async fn launch(&self, rec: RunRecord) -> Result<(), CiError> {
        match &self.inner.dispatch {
            None => self.start(rec),
            Some(d) => {
                let d = d.clone();
                tokio::task::spawn_blocking(move || d.execute(&rec.id)).await.map_err(|e| CiError::Other(e.to_string()))?
            }
        }
    }

    pub fn store(&self) -> &RunStore {
        &self.inner.store
    }

    /// Marks every unfinished run that no live process executes as `interrupted`.
    pub fn recover_interrupted(&self) -> Result<Vec<RunRef>, CiError> {
        let (runs, _) = self.inner.store.list()?;
        let mut marked = Vec::new();
        for rec in runs.into_iter().filter(|r| !r.status.is_terminal()) {
            match self.recover_if_abandoned(&rec.id, true) {
                Ok(true) => marked.push(rec.id),
                Ok(false) => {}
                // A history this account may only read (read-only, or another user's) is shown as
                // it is: recovering it is for whoever can write it.
                Err(e) => tracing::warn!("run #{} cannot be checked for a lost executor: {e}", rec.id),
            }
        }
        Ok(marked)
    }

    /// Marks the run `interrupted` when it is unfinished and no live process executes it (its
    /// executor holds its lock for as long as it lives); ends whatever its jobs left running.
    /// `queued_grace`: a run queued a moment ago may still be on its way to its executor; a caller
    /// that knows an executor had taken it says false.
    pub fn recover_if_abandoned(&self, id: &RunRef, queued_grace: bool) -> Result<bool, CiError> {
        if self.is_active_here(id) {
            return Ok(false);
        }
        let Some(_lock) = self.inner.store.try_lock(id)? else {
            return Ok(false);
        };
        // Read again under the lock: the executor may have finished it and gone meanwhile.
        let mut rec = self.inner.store.load(id)?;
        if rec.status.is_terminal() {
            return Ok(false);
        }
        // Queued since it was created or put back for a retry: its executor may be starting.
        if queued_grace
            && rec.status == RunStatus::Queued
            && self.inner.store.last_saved(id).is_some_and(|t| t.elapsed().map_or(true, |age| age < QUEUED_GRACE))
        {
            return Ok(false);
        }
        let now = Timestamp::now();
        for j in rec.jobs.iter_mut().filter(|j| !j.status.is_terminal()) {
            j.status = JobStatus::Interrupted;
            j.finished_at = Some(now);
            j.error = Some("the flightdeck process executing this job stopped before it finished".into());
        }
        rec.status = RunStatus::Interrupted;
        rec.finished_at = Some(now);
        let pid = self.inner.store.owner_pid(id);
        rec.note = Some(format!("interrupted: the flightdeck process executing it (pid {pid}) stopped before the run finished"));
        self.inner.store.save(&rec)?;
        // Whatever its jobs left running has nobody to end it now: this run's while its lock is
        // still ours (a guard reaping at this moment sees the lock held and leaves them), then
        // any other run's.
        reap::end_run_processes(&self.inner.store, id);
        reap::reap_orphans(&self.inner.store);
        Ok(true)
    }

    fn is_active_here(&self, id: &RunRef) -> bool {
        self.inner.active.lock().map(|a| a.contains_key(id)).unwrap_or(false)
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
            note: None,
            retried_by: Vec::new(),
            refused: Default::default(),
        };
        if let Err(e) = self.inner.store.save(&rec) {
            self.inner.store.discard(&rec.id);
            return Err(e);
        }
        Ok(rec)
    }

    /// Executes a run in this process (it must not be executing anywhere else).
    pub fn start(&self, rec: RunRecord) -> Result<(), CiError> {
        self.start_with(rec, None)
    }

    /// Executes a run in this process, its jobs starting from `env` rather than this process's.
    pub fn start_with(&self, rec: RunRecord, env: Option<Arc<Vec<(String, String)>>>) -> Result<(), CiError> {
        let lock = self.take(&rec.id)?;
        self.start_locked(rec, lock, env)
    }

    /// The run's executor lock, or who holds it.
    fn take(&self, id: &RunRef) -> Result<OwnerLock, CiError> {
        self.inner.store.try_lock(id)?.ok_or_else(|| CiError::OwnedElsewhere { run: id.clone(), pid: self.inner.store.owner_pid(id) })
    }

    /// Executes a run whose lock this process already holds.
    fn start_locked(&self, rec: RunRecord, lock: OwnerLock, env: Option<Arc<Vec<(String, String)>>>) -> Result<(), CiError> {
        let cancel = CancellationToken::new();
        let (gates_tx, gates_rx) = unbounded_channel();
        {
            let mut active = self.inner.active.lock().map_err(|_| CiError::Other("internal state poisoned".into()))?;
            // Checked under the same lock `cancel_all` takes: a run either is cancelled with the
            // others, or never starts.
            if self.inner.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(CiError::Other(format!("run #{} was not started: its executor is stopping; ask again", rec.id)));
            }
            active.insert(rec.id.clone(), ActiveRun { cancel: cancel.clone(), gates: gates_tx, env });
        }
        let inner = self.inner.clone();
        tokio::spawn(drive(inner, rec, lock, cancel, gates_rx));
        Ok(())
    }

    /// Cancels every run this process executes, and starts none after it (the supervisor stopping).
    /// Returns the runs it cancelled.
    pub fn cancel_all(&self) -> Vec<RunRef> {
        let active = self
            .inner
            .active
            .lock()
            .map(|a| {
                self.inner.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
                a.iter().map(|(id, r)| (id.clone(), r.cancel.clone())).collect::<Vec<_>>()
            })
            .unwrap_or_default();
        active
            .into_iter()
            .map(|(id, cancel)| {
                cancel.cancel();
                id
            })
            .collect()
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

    fn local(&self, id: &RunRef) -> Option<(CancellationToken, UnboundedSender<GateMsg>)> {
        self.inner.active.lock().ok()?.get(id).map(|a| (a.cancel.clone(), a.gates.clone()))
    }

    fn cancel_blocking(&self, id: &RunRef) -> Result<(), CiError> {
        if let Some((cancel, _)) = self.local(id) {
            cancel.cancel();
            return Ok(());
        }
        let rec = self.inner.store.load(id)?;
        if rec.status.is_terminal() {
            return Err(CiError::WrongState {
                run: id.clone(),
                status: rec.status.label().into(),
                what: "there is nothing to cancel".into(),
            });
        }
        match self.inner.store.try_lock(id)? {
            None => write_control(&self.inner.store, id.clone(), "cancel", b"cancel\n"),
            Some(_lock) => {
                drop(_lock);
                self.recover_interrupted()?;
                Err(CiError::WrongState {
                    run: id.clone(),
                    status: "interrupted".into(),
                    what: "its executor is gone, so there is nothing to cancel".into(),
                })
            }
        }
    }

    /// Puts a finished run's failed, cancelled or skipped jobs back in the queue.
    fn requeue(&self, id: &RunRef, trigger: Trigger) -> Result<RunRecord, CiError> {
        if self.is_active_here(id) {
            return Err(CiError::WrongState { run: id.clone(), status: "running".into(), what: "retry it when it has finished".into() });
        }
        let mut rec = self.inner.store.load(id)?;
        if !rec.status.is_terminal() {
            return Err(CiError::WrongState {
                run: id.clone(),
                status: rec.status.label().into(),
                what: "retry it when it has finished".into(),
            });
        }
        let retryable: Vec<usize> = rec.jobs.iter().enumerate().filter(|(_, j)| j.status.is_retryable()).map(|(i, _)| i).collect();
        if retryable.is_empty() {
            return Err(CiError::WrongState {
                run: id.clone(),
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
        rec.retried_by.push(trigger.actor.clone());
        self.inner.store.save(&rec)?;
        Ok(rec)
    }

    async fn decide(&self, id: &RunRef, job: String, decision: GateDecision) -> Result<(), CiError> {
        if let Some((_, gates)) = self.local(id) {
            let (tx, rx) = oneshot::channel();
            let sent = gates.send(GateMsg { job: job.clone(), decision, reply: Some(tx) });
            let answer = match sent {
                Ok(()) => rx.await.ok(),
                Err(_) => None,
            };
            // The run ended meanwhile: say who decided, when someone did.
            return answer.unwrap_or_else(|| {
                let rec = self.inner.store.load(id)?;
                gates::already_decided(&rec, &job)?;
                Err(CiError::WrongState { run: id.clone(), status: "finished".into(), what: "the gate is no longer waiting".into() })
            });
        }
        let store = self.inner.store.clone();
        let rec = store.load(id)?;
        gates::already_decided(&rec, &job)?;
        check_gate_waiting(&rec, &job)?;
        if store.try_lock(id)?.is_some() {
            self.recover_interrupted()?;
            return Err(CiError::WrongState {
                run: id.clone(),
                status: "interrupted".into(),
                what: "its executor is gone; retry the run to wait at the gate again".into(),
            });
        }
        let body =
            serde_json::to_vec(&GateRequest { job: job.clone(), decision: decision.clone() }).map_err(|e| CiError::Other(e.to_string()))?;
        write_control(&store, id.clone(), &format!("gate-{}-{}", std::process::id(), now_ms()), &body)?;
        // The executor applies it within a poll interval; wait until the record says so.
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let rec = store.load(id)?;
            match rec.job(&job) {
                // Decided: by this request, or by another that won the race.
                Some(j) if j.status != JobStatus::Waiting => {
                    return match j.gate.as_ref().and_then(|g| g.decision.as_ref()) {
                        Some(d) if *d == decision => Ok(()),
                        Some(_) => gates::already_decided(&rec, &job),
                        None => Err(CiError::WrongState {
                            run: id.clone(),
                            status: rec.status.label().into(),
                            what: format!("gate `{job}` ended without this decision (it is {})", j.status.label()),
                        }),
                    };
                }
                Some(_) => {}
                None => return Err(CiError::NoSuchJob { run: id.clone(), job }),
            }
        }
        Err(CiError::Other(format!("run #{id}'s executor did not apply the decision within 10s; it is still waiting")))
    }
}

fn check_gate_waiting(rec: &RunRecord, job: &str) -> Result<(), CiError> {
    let j = rec.job(job).ok_or_else(|| CiError::NoSuchJob { run: rec.id.clone(), job: job.to_string() })?;
    if j.gate.is_none() {
        return Err(CiError::Other(format!("`{job}` in run #{} is not a gate", rec.id)));
    }
    if j.status != JobStatus::Waiting {
        return Err(CiError::WrongState {
            run: rec.id.clone(),
            status: rec.status.label().into(),
            what: format!("gate `{job}` is not waiting (it is {})", j.status.label()),
        });
    }
    Ok(())
}

fn write_control(store: &RunStore, id: RunRef, name: &str, body: &[u8]) -> Result<(), CiError> {
    let dir = store.control_dir(&id);
    std::fs::create_dir_all(&dir).map_err(|e| CiError::storage(format!("cannot create {}", dir.display()), e))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, body)
        .and_then(|_| std::fs::rename(&tmp, dir.join(name)))
        .map_err(|e| CiError::storage(format!("cannot write a request into {}", dir.display()), e))
}

impl CiProvider for LocalRunner {
    fn evidence(&self, run: RunRef) -> BoxFuture<'_, Result<crate::ci::RunEvidence, CiError>> {
        let store = self.inner.store.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let rec = store.load(&run)?;
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

    fn claims(&self, bare_id: &str) -> bool {
        bare_id.parse::<u64>().is_ok()
    }

    /// Pages are cut by run number: `next` is the number the next page starts below.
    fn list_runs(&self, query: RunQuery) -> BoxFuture<'_, Result<RunPage, CiError>> {
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
            let below = match &query.after {
                Some(cursor) => Some(cursor.parse::<u64>().map_err(|_| CiError::Other(format!("`{cursor}` is not a page of local runs")))?),
                None => None,
            };
            let mut runs: Vec<RunRecord> = runs
                .into_iter()
                .filter(|r| below.is_none_or(|b| r.id.local_number().is_some_and(|n| n < b)))
                .filter(|r| query.pipeline.as_ref().is_none_or(|p| r.pipeline == *p))
                .filter(|r| query.filter.matches(r))
                .collect();
            let mut next = None;
            if query.limit > 0 && runs.len() > query.limit {
                runs.truncate(query.limit);
                next = runs.last().and_then(|r| r.id.local_number()).map(|n| n.to_string());
            }
            Ok(RunPage { runs, next, problems: Vec::new() })
        }
        .boxed()
    }

    fn watch(&self, stop: CancellationToken) {
        self.watch_foreign(stop);
    }

    fn trigger(&self, pipeline: String, trigger: Trigger) -> BoxFuture<'_, Result<RunRef, CiError>> {
        async move {
            if trigger.git_ref.is_some() || !trigger.inputs.is_empty() {
                return Err(CiError::Other(format!(
                    "`{pipeline}` runs on the local runner, from the working tree: --ref and --input are for GitHub workflows"
                )));
            }
            let rec = self.create_run(&pipeline, trigger)?;
            let id = rec.id.clone();
            self.launch(rec).await?;
            Ok(id)
        }
        .boxed()
    }

    fn run(&self, run: RunRef) -> BoxFuture<'_, Result<RunRecord, CiError>> {
        let store = self.inner.store.clone();
        async move { tokio::task::spawn_blocking(move || store.load(&run)).await.map_err(|e| CiError::Other(e.to_string()))? }.boxed()
    }

    fn cancel(&self, run: RunRef) -> BoxFuture<'_, Result<(), CiError>> {
        async move { self.cancel_blocking(&run) }.boxed()
    }

    fn retry(&self, run: RunRef, trigger: Trigger) -> BoxFuture<'_, Result<(), CiError>> {
        async move {
            let rec = self.requeue(&run, trigger)?;
            self.launch(rec).await
        }
        .boxed()
    }

    fn decide_gate(&self, run: RunRef, job: String, decision: GateDecision) -> BoxFuture<'_, Result<(), CiError>> {
        async move { self.decide(&run, job, decision).await }.boxed()
    }

    fn log_file(&self, run: RunRef, job: String) -> BoxFuture<'_, Option<std::path::PathBuf>> {
        let store = self.inner.store.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || store.load(&run).ok().and_then(|rec| store.log_path(&rec, &job))).await.ok().flatten()
        })
    }

    fn read_log(&self, run: RunRef, job: String) -> BoxFuture<'_, Result<Vec<RawLine>, CiError>> {
        let store = self.inner.store.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let rec = store.load(&run)?;
                store.read_log(&rec, &job)
            })
            .await
            .map_err(|e| CiError::Other(e.to_string()))?
        }
        .boxed()
    }
}
