//! Executing a run in this process: the DAG scheduler, each job's process with retries and
//! timeouts, gates, control requests from other processes, logs and reports.

use super::gates::{apply_gate, backed_by_journal, expire_gates, refuse_unjournaled};
use super::process::{JobSpec, Outcome};
use super::reports::read_reports;
use super::*;

/// Saves the record and tells the listeners; a failed save is reported, not ignored.
pub(super) fn persist(inner: &Inner, rec: &mut RunRecord) {
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
        let _ = inner.events.send(RunEvent::Problem { run: Some(rec.id.clone()), message: e.to_string() });
    }
    let _ = inner.events.send(RunEvent::Updated(Box::new(rec.clone())));
}

/// Writes a flightdeck-authored line into a job's log and shows it.
pub(super) fn meta_line(inner: &Inner, rec: &RunRecord, job: &str, text: String) {
    let lines: Vec<RawLine> =
        text.lines().map(|l| RawLine { ts_ms: now_ms(), stream: Stream::Meta, bytes: l.as_bytes().to_vec() }).collect();
    if let Some(path) = inner.store.log_path(rec, job).filter(|_| !inner.store.space().is_full()) {
        let mut buf = Vec::new();
        for line in &lines {
            encode_line(&mut buf, line);
        }
        let res =
            std::fs::OpenOptions::new().create(true).append(true).open(&path).and_then(|mut f| std::io::Write::write_all(&mut f, &buf));
        if let Err(e) = res {
            let _ = inner
                .events
                .send(RunEvent::Problem { run: Some(rec.id.clone()), message: format!("cannot write the log {}: {e}", path.display()) });
        }
    }
    let _ = inner.events.send(RunEvent::Log { run: rec.id.clone(), job: job.to_string(), lines });
}

pub(super) async fn drive(
    inner: Arc<Inner>,
    mut rec: RunRecord,
    lock: OwnerLock,
    cancel: CancellationToken,
    mut gates: UnboundedReceiver<GateMsg>,
) {
    let id = rec.id.clone();
    rec.status = RunStatus::Running;
    rec.started_at.get_or_insert_with(Timestamp::now);
    rec.finished_at = None;
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
                        let _ = inner.events.send(RunEvent::Problem { run: Some(id.clone()), message: format!("job `{key}` of run #{id} failed internally: {e}") });
                        let result = JobResult { status: JobStatus::Failed, findings: None, started: None, finished: Timestamp::now(), exit_code: None, attempts: 0, error: Some(format!("internal error: {e}")) };
                        finish_job(&mut rec, &key, result);
                    }
                }
                persist(&inner, &mut rec);
            }
            Some(msg) = gates.recv() => {
                let result = backed_by_journal(&inner, &rec, &msg.job, &msg.decision)
                    .and_then(|()| apply_gate(&inner, &mut rec, &msg.job, msg.decision));
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
                for req in take_control(&inner.store, id.clone()) {
                    match req {
                        Control::Cancel => cancel.cancel(),
                        Control::Gate(g) => match backed_by_journal(&inner, &rec, &g.job, &g.decision) {
                            Ok(()) => {
                                if apply_gate(&inner, &mut rec, &g.job, g.decision).is_ok() {
                                    persist(&inner, &mut rec);
                                }
                            }
                            Err(e) => refuse_unjournaled(&inner, &rec, &g.job, &g.decision, &e),
                        },
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
    if rec.status == RunStatus::Failed {
        let failed: Vec<String> = rec
            .jobs
            .iter()
            .filter(|j| matches!(j.status, JobStatus::Failed | JobStatus::TimedOut))
            .map(|j| format!("`{}` {}", j.key, j.status.label()))
            .collect();
        journal_observation(&inner, &rec, "", "run.failed", failed.join(", "), serde_json::json!({}));
    }
    // Recorded as ended before it stops counting as active: whoever waits for idleness (the
    // supervisor before it exits) must find the final record.
    persist(&inner, &mut rec);
    if let Ok(mut a) = inner.active.lock() {
        a.remove(&id);
    }
    let _ = std::fs::remove_dir_all(inner.store.control_dir(&id));
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
                journal_observation(inner, rec, &key, "gate.waiting", gate.message.clone(), serde_json::json!({ "deadline": deadline }));
                progressed = true;
                continue;
            }
            let combo = rec.jobs[idx].matrix.clone();
            let mut env: Vec<(String, String)> = stage.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            for (axis, v) in &combo {
                env.push((format!("MATRIX_{}", axis.to_ascii_uppercase()), v.clone()));
            }
            // The reference flightdeck itself takes (`local:42`), and the bare number for scripts.
            env.push(("FLIGHTDECK_RUN".into(), rec.id.text()));
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
            // Marks every process of the job, so one its executor left behind can be found.
            env.push((reap::TOKEN_VAR.into(), reap::token(&inner.store, &rec.id)));
            let spec = JobSpec {
                command: plan::expand_command(&stage, &combo),
                cwd: stage.cwd.clone(),
                env,
                withheld: inner.config.secret_env_vars(),
                base_env: inner.active.lock().ok().and_then(|a| a.get(&rec.id).and_then(|r| r.env.clone())),
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
                stage.reports_may_predate,
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

enum Control {
    Cancel,
    Gate(GateRequest),
}

/// Reads and removes requests other processes left for this run.
fn take_control(store: &RunStore, id: RunRef) -> Vec<Control> {
    let dir = store.control_dir(&id);
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
    reports_may_predate: bool,
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
    let run = rec.id.clone();
    // Bounded: a job that writes faster than its log is stored waits on its pipe, and memory stays
    // flat however much it writes.
    let (tx, rx) = tokio::sync::mpsc::channel(LINE_QUEUE);
    let sink = tokio::spawn(log_sink(inner.events.clone(), inner.store.space().clone(), run, key.clone(), log_path, rx));
    // One stored line per text line: the log format is line-oriented, and scripts are multi-line.
    let meta = |text: String| {
        let tx = tx.clone();
        async move {
            for line in text.lines() {
                let _ = tx.send(RawLine { ts_ms: now_ms(), stream: Stream::Meta, bytes: line.as_bytes().to_vec() }).await;
            }
        }
    };
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        let of = if retries > 0 { format!(" (attempt {attempt} of {})", retries + 1) } else { String::new() };
        meta(format!("$ {}{of}", spec.command)).await;
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
        })
        .await;
        let retry = matches!(status, JobStatus::Failed | JobStatus::TimedOut) && attempt <= retries && !cancel.is_cancelled();
        if retry {
            meta(format!("retrying in 1s: attempt {} of {}", attempt + 1, retries + 1)).await;
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
        let since = (!reports_may_predate).then_some(started_at);
        let summary = read_reports(&inner, &rec, &key, &spec.cwd, &reports, since).await;
        let text = if summary.errors.is_empty() {
            let from: Vec<String> = summary.reports.iter().map(|r| format!("{} ({}, {} findings)", r.path, r.format, r.findings)).collect();
            format!("findings: {} from {}", summary.counts.badge(), from.join(", "))
        } else {
            format!("findings: {} — unreadable: {}", summary.counts.badge(), summary.errors.join("; "))
        };
        meta(text).await;
        result.findings = Some(summary);
    }
    drop(tx);
    let _ = sink.await;
    drop(permit);
    (key, result)
}

/// Lines waiting between a job's pipes and its log file.
const LINE_QUEUE: usize = 1024;

/// Appends a job's lines to its log file and forwards them, batched, to whoever listens.
async fn log_sink(
    events: UnboundedSender<RunEvent>,
    space: super::space::Space,
    run: RunRef,
    job: String,
    path: Option<std::path::PathBuf>,
    mut rx: tokio::sync::mpsc::Receiver<RawLine>,
) {
    use tokio::io::AsyncWriteExt;
    let mut file = match &path {
        Some(p) => match tokio::fs::OpenOptions::new().create(true).append(true).open(p).await {
            Ok(f) => Some(f),
            Err(e) => {
                let _ = events.send(RunEvent::Problem {
                    run: Some(run.clone()),
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
        if file.is_some() && space.is_full() {
            // What space is left is for the runs' final states.
            let _ = events.send(RunEvent::Problem {
                run: Some(run.clone()),
                message: format!("the disk is full: the rest of the log of `{job}` is only on screen"),
            });
            file = None;
        }
        if let Some(f) = file.as_mut() {
            buf.clear();
            for l in &batch {
                encode_line(&mut buf, l);
            }
            if let Err(e) = f.write_all(&buf).await {
                space.note(&e);
                let shown = path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
                let _ = events.send(RunEvent::Problem {
                    run: Some(run.clone()),
                    message: format!("cannot write the log of `{job}` to {shown}: {e}; the rest of it is only on screen"),
                });
                file = None;
            }
        }
        let _ = events.send(RunEvent::Log { run: run.clone(), job: job.clone(), lines: std::mem::take(&mut batch) });
    }
    if let Some(mut f) = file {
        let _ = f.flush().await;
    }
}

/// Journals something the runner observed (a gate waiting, a run failing): the journal is where
/// notifications are built from. A journal that cannot be written does not stop the run.
fn journal_observation(inner: &Inner, rec: &RunRecord, job: &str, action: &str, reason: String, extra: serde_json::Value) {
    let environment = rec.job(job).and_then(|j| j.gate.as_ref()?.environment.clone());
    let mut parameters = serde_json::json!({ "run": rec.id, "pipeline": rec.pipeline });
    if !job.is_empty() {
        parameters["gate"] = serde_json::Value::String(job.to_string());
    }
    if let (Some(p), serde_json::Value::Object(more)) = (parameters.as_object_mut(), extra) {
        p.extend(more.into_iter().filter(|(_, v)| !v.is_null()));
    }
    let draft = crate::audit::Draft {
        actor: "flightdeck".into(),
        origin: "local".into(),
        environment,
        target: if job.is_empty() { rec.id.text() } else { job.to_string() },
        action: action.into(),
        parameters,
        reason,
        phase: Some(crate::audit::Phase::Event),
        result: "recorded".into(),
        ..Default::default()
    };
    if let Err(e) = inner.journal.append(draft) {
        let _ =
            inner.events.send(RunEvent::Problem { run: Some(rec.id.clone()), message: format!("`{action}` could not be journaled: {e}") });
    }
}
