//! Runs NGINX canaries through their steps and applies people's actions. One change at a time per
//! rollout: an in-process mutex plus an flock on a lock file, so the cockpit, the CLI and a
//! pipeline stage never interleave. Every change re-reads the record and the include file first.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;

use super::nginx;
use super::record::{self, Pause, Phase, Record, Verdict};
use super::{OnFailure, RolloutError, RolloutSpec, Step};
use crate::delivery::{RolloutAction, Seen};
use crate::metrics::{Backend, ServiceSpec};

/// What the user saw of a rollout, as every provider describes it: if the rollout has moved on
/// when their action arrives, the action is refused rather than applied to a state nobody looked at.
pub fn seen(rec: &Record, spec: &RolloutSpec) -> Seen {
    Seen {
        revision: rec.revision.to_string(),
        step: Some((rec.step + 1).min(spec.steps.len())),
        state: rec.phase.label().to_string(),
        pending: None,
    }
}

#[derive(Clone)]
pub struct Controller {
    inner: Arc<Inner>,
}

struct Inner {
    specs: BTreeMap<String, RolloutSpec>,
    dir: PathBuf,
    analysis: BTreeMap<String, (Backend, ServiceSpec)>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Where the controller records what it does by itself (steps, automatic aborts).
    journal: Option<crate::audit::Journal>,
    /// When each rollout was last judged by this process (once per analysis interval is
    /// enough), and how many analyses in a row could not be taken.
    judged_at: Mutex<HashMap<String, AnalysisClock>>,
}

#[derive(Clone, Copy)]
struct AnalysisClock {
    at: Timestamp,
    errors_in_a_row: usize,
}

/// The actor name of the controller's own moves.
pub const CONTROLLER: &str = "controller";

/// Held while a rollout is being changed.
struct Guard {
    _local: tokio::sync::OwnedMutexGuard<()>,
    _file: std::fs::File,
}

fn flock(path: &Path) -> Result<std::fs::File, RolloutError> {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| RolloutError::Io(format!("cannot open {}: {e}", path.display())))?;
    // SAFETY: a valid open descriptor; flock has no memory effects.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(RolloutError::Io(format!("cannot lock {}: {}", path.display(), std::io::Error::last_os_error())));
    }
    Ok(f)
}

impl Controller {
    /// `journal` records the controller's own moves (people's actions are journaled by `ops`).
    pub fn new(
        specs: BTreeMap<String, RolloutSpec>,
        data_dir: &Path,
        analysis: BTreeMap<String, (Backend, ServiceSpec)>,
        journal: Option<crate::audit::Journal>,
    ) -> Controller {
        let dir = data_dir.join("rollouts");
        Controller { inner: Arc::new(Inner { specs, dir, analysis, locks: Mutex::default(), journal, judged_at: Mutex::default() }) }
    }

    /// Journals something the controller did by itself. A journal that cannot be written does not
    /// stop traffic from being protected; it is logged.
    async fn record_event(&self, spec: &RolloutSpec, rec: &Record, action: &str, detail: &str) {
        let Some(journal) = self.inner.journal.clone() else { return };
        let draft = crate::audit::Draft {
            actor: CONTROLLER.into(),
            origin: "rollout controller".into(),
            environment: spec.environment.clone(),
            target: spec.name.clone(),
            action: action.into(),
            parameters: serde_json::json!({ "revision": rec.revision, "step": rec.step, "weight": rec.weight, "version": rec.version, "phase": rec.phase.label() }),
            reason: detail.to_string(),
            phase: Some(crate::audit::Phase::Event),
            result: rec.phase.label().to_lowercase(),
            error: rec.cause.clone().filter(|_| matches!(rec.phase, Phase::Aborted | Phase::Degraded)),
            intent: None,
            break_glass: false,
        };
        let appended = tokio::task::spawn_blocking(move || journal.append(draft)).await;
        if !matches!(appended, Ok(Ok(_))) {
            tracing::error!(rollout = %spec.name, action, "could not journal a rollout event");
        }
    }

    pub fn names(&self) -> Vec<String> {
        self.inner.specs.keys().cloned().collect()
    }

    pub fn spec(&self, name: &str) -> Result<&RolloutSpec, RolloutError> {
        self.inner.specs.get(name).ok_or_else(|| RolloutError::Unknown(name.to_string()))
    }

    async fn lock(&self, name: &str) -> Result<Guard, RolloutError> {
        let m = {
            let mut locks = self.inner.locks.lock().map_err(|_| RolloutError::Io("lock table poisoned".into()))?;
            locks.entry(name.to_string()).or_default().clone()
        };
        let local = m.lock_owned().await;
        std::fs::create_dir_all(&self.inner.dir)
            .map_err(|e| RolloutError::Io(format!("cannot create {}: {e}", self.inner.dir.display())))?;
        let path = self.inner.dir.join(format!("{name}.lock"));
        let file = tokio::task::spawn_blocking(move || flock(&path)).await.map_err(|e| RolloutError::Io(e.to_string()))??;
        Ok(Guard { _local: local, _file: file })
    }

    /// The record as it is now, without changing anything (a missing record is derived from the
    /// include file).
    pub async fn get(&self, name: &str) -> Result<Record, RolloutError> {
        let spec = self.spec(name)?.clone();
        let dir = self.inner.dir.clone();
        tokio::task::spawn_blocking(move || match record::load(&dir, &spec.name).map_err(RolloutError::Io)? {
            Some(r) => Ok(r),
            None => {
                let weight = nginx::current(&spec.nginx).unwrap_or(0);
                Ok(Record::new(&spec.name, weight))
            }
        })
        .await
        .map_err(|e| RolloutError::Io(e.to_string()))?
    }

    /// Loads the record under the lock and reconciles it with what the include file says.
    async fn load(&self, spec: &RolloutSpec) -> Result<Record, RolloutError> {
        let s = spec.clone();
        let dir = self.inner.dir.clone();
        tokio::task::spawn_blocking(move || {
            let stored = record::load(&dir, &s.name).map_err(RolloutError::Io)?;
            let actual = nginx::current(&s.nginx);
            let mut rec = stored.clone().unwrap_or_else(|| Record::new(&s.name, *actual.as_ref().unwrap_or(&0)));
            match actual {
                Ok(w) if w != rec.weight => {
                    let was = rec.weight;
                    rec.weight = w;
                    let under_way = matches!(rec.phase, Phase::Progressing | Phase::Paused);
                    if under_way {
                        rec.phase = Phase::Paused;
                        rec.pause = Some(Pause {
                            reason: format!("the include file says canary {w} %, the rollout expected {was} %; check and promote or abort"),
                            until: None,
                            by_user: false,
                        });
                    }
                    rec.note(CONTROLLER, format!("reconciled with {}: canary {w} % (recorded {was} %)", s.nginx.include.display()));
                    rec.seq += 1;
                    record::save(&dir, &rec).map_err(RolloutError::Io)?;
                }
                Ok(_) => {}
                Err(e) if stored.is_some() && rec.phase != Phase::Degraded => {
                    rec.phase = Phase::Degraded;
                    rec.cause = Some(e.to_string());
                    rec.note(CONTROLLER, format!("degraded: {e}"));
                    rec.seq += 1;
                    record::save(&dir, &rec).map_err(RolloutError::Io)?;
                }
                Err(_) => {}
            }
            Ok(rec)
        })
        .await
        .map_err(|e| RolloutError::Io(e.to_string()))?
    }

    fn save(&self, rec: &mut Record) -> Result<(), RolloutError> {
        rec.seq += 1;
        record::save(&self.inner.dir, rec).map_err(RolloutError::Io)
    }

    /// Writes a split to NGINX; the record's weight changes only once NGINX runs it.
    async fn set_weight(&self, spec: &RolloutSpec, rec: &mut Record, weight: u8, actor: &str, why: &str) -> Result<(), RolloutError> {
        let nginx = spec.nginx.clone();
        let note = format!("rollout {} revision {}, {why}", spec.name, rec.revision);
        let applied = tokio::task::spawn_blocking(move || nginx::apply(&nginx, weight, &note))
            .await
            .map_err(|e| RolloutError::Io(e.to_string()))??;
        let was = rec.weight;
        rec.weight = weight;
        let mut event = format!("{why}: canary {was} % → {weight} %");
        if let Some(w) = applied.warning {
            event.push_str(&format!(" ({w})"));
        }
        rec.note(actor, event);
        Ok(())
    }

    /// A weight change the controller makes by itself (a step, the end, an automatic abort):
    /// journaled, and a failure degrades the rollout. Returns whether it was applied.
    async fn auto_weight(&self, spec: &RolloutSpec, rec: &mut Record, weight: u8, why: &str) -> bool {
        match self.set_weight(spec, rec, weight, CONTROLLER, why).await {
            Ok(()) => {
                self.record_event(spec, rec, "rollout.set-weight", rec.message()).await;
                true
            }
            Err(e) => {
                self.degrade(spec, rec, e).await;
                false
            }
        }
    }

    /// Starts rolling out `version` from the first step, for pipeline run `run` if a run started it.
    /// `stable`, when known, is what the stable servers run.
    pub async fn start(
        &self,
        name: &str,
        version: &str,
        stable: Option<&str>,
        run: Option<crate::domain::RunRef>,
        actor: &str,
    ) -> Result<Record, RolloutError> {
        let spec = self.spec(name)?.clone();
        let _g = self.lock(name).await?;
        let mut rec = self.load(&spec).await?;
        if matches!(rec.phase, Phase::Progressing | Phase::Paused) {
            return Err(RolloutError::Refused(format!(
                "{name} is already rolling out {} (step {} of {}); promote or abort it first",
                rec.version.as_deref().unwrap_or("a version"),
                rec.step + 1,
                spec.steps.len()
            )));
        }
        rec.revision += 1;
        rec.run = run;
        rec.version = Some(version.to_string());
        if let Some(s) = stable {
            rec.stable_version = Some(s.to_string());
        }
        rec.restart_steps(Timestamp::now());
        rec.note(actor, format!("started rolling out {version} (revision {})", rec.revision));
        self.save(&mut rec)?;
        drop(_g);
        self.tick(name).await
    }

    /// A person's action, refused if the rollout is no longer what they saw.
    pub async fn act(&self, name: &str, action: &RolloutAction, seen: Option<&Seen>, actor: &str) -> Result<Record, RolloutError> {
        let spec = self.spec(name)?.clone();
        let _g = self.lock(name).await?;
        let mut rec = self.load(&spec).await?;
        if let Some(seen) = seen {
            let changes = seen.changes(&self::seen(&rec, &spec));
            if !changes.is_empty() {
                return Err(RolloutError::Refused(format!("{name} moved on since you looked ({}); nothing was sent", changes.join(", "))));
            }
        }
        check(action, &rec, &spec)?;
        let last = spec.steps.len();
        match action {
            RolloutAction::Promote => {
                let skipped = spec.steps.get(rec.step).map(Step::describe).unwrap_or_default();
                rec.pause = None;
                rec.phase = Phase::Progressing;
                if matches!(spec.steps.get(rec.step), Some(Step::Pause(_) | Step::Analysis(_))) {
                    rec.step += 1;
                }
                rec.step_started = None;
                rec.note(actor, format!("promoted past step {skipped}"));
            }
            RolloutAction::PromoteFull => {
                self.set_weight(&spec, &mut rec, 100, actor, "full promotion").await?;
                rec.step = last;
                rec.pause = None;
                // Done here, by the person: the controller has no step left to take, and does not
                // journal (or notify) the same promotion again as its own.
                rec.phase = Phase::Healthy;
                rec.note(actor, format!("{} is fully promoted", rec.version.as_deref().unwrap_or("the canary")));
            }
            RolloutAction::Pause => {
                rec.phase = Phase::Paused;
                rec.pause = Some(Pause { reason: format!("paused by {actor}"), until: None, by_user: true });
                rec.note(actor, "paused");
            }
            RolloutAction::Resume => {
                rec.phase = Phase::Progressing;
                rec.pause = None;
                rec.note(actor, "resumed");
            }
            RolloutAction::Abort => {
                self.set_weight(&spec, &mut rec, 0, actor, "abort").await?;
                rec.phase = Phase::Aborted;
                rec.pause = None;
                rec.cause = Some(format!("aborted by {actor}"));
            }
            RolloutAction::Retry => {
                rec.restart_steps(Timestamp::now());
                rec.note(actor, "retrying from the first step");
            }
            RolloutAction::Undo { .. } => {
                // The stable servers still run the previous version: they get all traffic back.
                self.set_weight(&spec, &mut rec, 0, actor, "undo").await?;
                rec.phase = Phase::Healthy;
                rec.note(
                    actor,
                    format!(
                        "undone: the stable servers ({}) serve 100 % again",
                        rec.stable_version.as_deref().unwrap_or("previous version")
                    ),
                );
            }
            // `check` refused these; a new version starts through `start`.
            RolloutAction::Restart
            | RolloutAction::TerminateAnalysis { .. }
            | RolloutAction::Deploy { .. }
            | RolloutAction::Sync { .. }
            | RolloutAction::Refresh { .. }
            | RolloutAction::TerminateOperation
            | RolloutAction::AutoSync { .. }
            | RolloutAction::Approve
            | RolloutAction::Reject
            | RolloutAction::Cancel
            | RolloutAction::IgnoreJob => {
                return Err(RolloutError::Refused(format!("{name}: {} is not an action on an NGINX canary under way", action.verb())));
            }
        }
        self.save(&mut rec)?;
        drop(_g);
        self.tick(name).await
    }

    /// Moves the rollout on as far as it can go now (weights, timed pauses, analysis), and returns
    /// the record.
    pub async fn tick(&self, name: &str) -> Result<Record, RolloutError> {
        let spec = self.spec(name)?.clone();
        let _g = self.lock(name).await?;
        let mut rec = self.load(&spec).await?;
        let before = rec.clone();
        // A few steps at once are fine (set weight, then start a pause), but never loop forever.
        for _ in 0..=spec.steps.len() + 1 {
            if !self.step_once(&spec, &mut rec).await? {
                break;
            }
        }
        if rec != before {
            self.save(&mut rec)?;
        }
        Ok(rec)
    }

    /// One move; returns whether another may follow right away.
    async fn step_once(&self, spec: &RolloutSpec, rec: &mut Record) -> Result<bool, RolloutError> {
        let now = Timestamp::now();
        if matches!(rec.phase, Phase::Healthy | Phase::Aborted | Phase::Degraded) {
            return Ok(false);
        }
        // An analysis step judges the canary itself (on its own intervals); the background
        // analysis covers the rest of the rollout.
        let in_analysis_step = matches!(spec.steps.get(rec.step), Some(Step::Analysis(_))) && rec.phase == Phase::Progressing;
        if spec.background_analysis && rec.weight > 0 && !in_analysis_step && self.judge(spec, rec, now, None, None).await? {
            return Ok(false);
        }
        if rec.phase == Phase::Paused {
            match rec.pause.as_ref().and_then(|p| p.until) {
                Some(until) if now >= until => {
                    rec.pause = None;
                    rec.phase = Phase::Progressing;
                    rec.step += 1;
                    rec.step_started = None;
                    rec.note(CONTROLLER, "timed pause over");
                    return Ok(true);
                }
                _ => return Ok(false),
            }
        }
        let Some(step) = spec.steps.get(rec.step).cloned() else {
            if rec.weight != 100 && !self.auto_weight(spec, rec, 100, "all steps done").await {
                return Ok(false);
            }
            rec.phase = Phase::Healthy;
            rec.note(CONTROLLER, format!("{} is fully promoted", rec.version.as_deref().unwrap_or("the canary")));
            self.record_event(spec, rec, "rollout.promoted", rec.message()).await;
            return Ok(false);
        };
        match step {
            Step::SetWeight(w) => {
                if !self.auto_weight(spec, rec, w, &format!("step {}", rec.step + 1)).await {
                    return Ok(false);
                }
                rec.step += 1;
                rec.step_started = None;
                Ok(true)
            }
            Step::Pause(d) => {
                rec.phase = Phase::Paused;
                rec.step_started = Some(now);
                let until = d.and_then(|d| jiff::SignedDuration::try_from(d).ok()).and_then(|d| now.checked_add(d).ok());
                let reason = match until {
                    Some(_) => format!("step {}: {}", rec.step + 1, step.describe()),
                    None => format!("step {}: waiting to be promoted", rec.step + 1),
                };
                rec.note(CONTROLLER, reason.clone());
                rec.pause = Some(Pause { reason: reason.clone(), until, by_user: false });
                if until.is_none() {
                    self.record_event(spec, rec, "rollout.waiting", &reason).await;
                }
                Ok(false)
            }
            Step::Analysis(d) => {
                let started = *rec.step_started.get_or_insert(now);
                let elapsed = now.as_second() - started.as_second();
                if self.judge(spec, rec, now, Some(started), Some(d)).await? {
                    return Ok(false);
                }
                if elapsed < d.as_secs() as i64 {
                    return Ok(false);
                }
                // The step's last interval may land a moment after its end: wait two intervals
                // for it rather than pausing on "Running".
                let every = self.interval_of(spec).as_secs() as i64;
                let still_running = rec.verdict.as_ref().is_some_and(|v| v.phase == crate::metrics::Phase::Running);
                if still_running && elapsed < d.as_secs() as i64 + 2 * every {
                    return Ok(false);
                }
                match &rec.verdict {
                    Some(v) if v.phase == crate::metrics::Phase::Successful => {
                        rec.note(CONTROLLER, format!("step {}: analysis passed", rec.step + 1));
                        rec.step += 1;
                        rec.step_started = None;
                        Ok(true)
                    }
                    v => {
                        let v = v.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "gave no verdict".into());
                        let reason = format!("step {}: analysis {v} — promote to go on or abort", rec.step + 1);
                        rec.phase = Phase::Paused;
                        rec.note(CONTROLLER, reason.clone());
                        rec.pause = Some(Pause { reason, until: None, by_user: false });
                        Ok(false)
                    }
                }
            }
        }
    }

    /// The analysis interval of the service judging a rollout.
    fn interval_of(&self, spec: &RolloutSpec) -> std::time::Duration {
        let service = spec.service.as_ref().and_then(|s| self.inner.analysis.get(s));
        service.map(|(_, s)| s.analysis.interval).unwrap_or(std::time::Duration::from_secs(15)).max(std::time::Duration::from_secs(1))
    }

    async fn degrade(&self, spec: &RolloutSpec, rec: &mut Record, e: RolloutError) {
        rec.phase = Phase::Degraded;
        rec.cause = Some(e.to_string());
        rec.note(CONTROLLER, format!("degraded: {e}"));
        self.record_event(spec, rec, "rollout.degraded", &e.to_string()).await;
    }

    /// Judges the canary (once per interval) since `since` (or the start of the rollout); returns
    /// true when it failed and the rollout was aborted or paused because of it.
    async fn judge(
        &self,
        spec: &RolloutSpec,
        rec: &mut Record,
        now: Timestamp,
        since: Option<Timestamp>,
        planned: Option<std::time::Duration>,
    ) -> Result<bool, RolloutError> {
        let Some((source, service)) = spec.service.as_ref().and_then(|s| self.inner.analysis.get(s)).cloned() else {
            if since.is_some() && rec.verdict.is_none() {
                let reason = "no analysed service is configured for this rollout".into();
                rec.verdict = Some(Verdict { phase: crate::metrics::Phase::Inconclusive, reason });
            }
            return Ok(false);
        };
        let every = service.analysis.interval.as_secs().max(1) as i64;
        let errors_so_far = {
            let mut judged = self.inner.judged_at.lock().map_err(|_| RolloutError::Io("analysis clock poisoned".into()))?;
            let clock = judged.entry(spec.name.clone()).or_insert(AnalysisClock { at: Timestamp::UNIX_EPOCH, errors_in_a_row: 0 });
            if now.as_second() - clock.at.as_second() < every {
                return Ok(false);
            }
            clock.at = now;
            clock.errors_in_a_row
        };
        let from = since.or(rec.attempt_started);
        // Nothing is judged during the initial delay (a canary warming its caches).
        let delay = service.analysis.initial_delay.as_secs() as i64;
        let elapsed = from.map(|f| now.as_second() - f.as_second() - delay).unwrap_or(every);
        if elapsed < 0 {
            let reason = format!("initial delay: judging starts in {}s", -elapsed);
            rec.verdict = Some(Verdict { phase: crate::metrics::Phase::Running, reason });
            return Ok(false);
        }
        let mut judged = service.clone();
        // An analysis step is as many intervals as its duration holds; until they are all in, the
        // verdict is Running unless a limit is clearly broken.
        if let Some(d) = planned {
            judged.analysis.count = ((d.as_secs() as i64 / every).max(1) as usize).min(service.analysis.count);
        }
        // Nothing from before this attempt judges it: not the samples, not the alerts; and a step
        // judges only its own intervals.
        judged.analysis.since = rec.attempt_started.map(|t| t.as_second());
        judged.analysis.judge_from = since.map(|t| t.as_second());
        let end = now.as_second() / every * every;
        let result = crate::metrics::analyse(&source, &judged, end).await;
        // One failed measurement is not a verdict: up to the limit, the last verdict stands and
        // says that the latest analysis could not be taken.
        let errors = if result.phase == crate::metrics::Phase::Error { errors_so_far + 1 } else { 0 };
        if let Ok(mut judged) = self.inner.judged_at.lock()
            && let Some(clock) = judged.get_mut(&spec.name)
        {
            clock.errors_in_a_row = errors;
        }
        let limit = service.analysis.consecutive_error_limit;
        if errors > 0 && errors <= limit {
            let last = rec.verdict.as_ref().filter(|v| v.phase != crate::metrics::Phase::Error);
            let phase = last.map(|v| v.phase).unwrap_or(crate::metrics::Phase::Running);
            let before = last.map(|v| v.reason.split(" — measurement error").next().unwrap_or_default().to_string());
            let reason = format!(
                "{} — measurement error {errors} of {limit} allowed in a row: {}",
                before.unwrap_or_else(|| "no verdict yet".into()),
                result.reason
            );
            rec.verdict = Some(Verdict { phase, reason });
            return Ok(false);
        }
        rec.verdict = Some(Verdict { phase: result.phase, reason: result.reason.clone() });
        if result.phase != crate::metrics::Phase::Failed {
            return Ok(false);
        }
        let cause = format!("analysis failed: {}", result.reason);
        match spec.on_failure {
            OnFailure::Abort => {
                if !self.auto_weight(spec, rec, 0, "automatic abort").await {
                    return Ok(true);
                }
                rec.phase = Phase::Aborted;
                rec.pause = None;
                rec.cause = Some(cause.clone());
                rec.note(CONTROLLER, format!("aborted: {cause}"));
                self.record_event(spec, rec, "rollout.auto-abort", &cause).await;
            }
            OnFailure::Pause => {
                rec.phase = Phase::Paused;
                rec.pause = Some(Pause { reason: cause.clone(), until: None, by_user: false });
                rec.note(CONTROLLER, format!("paused: {cause}"));
                self.record_event(spec, rec, "rollout.auto-pause", &cause).await;
            }
        }
        Ok(true)
    }
}

/// Whether an action makes sense now; says why not.
pub fn check(action: &RolloutAction, rec: &Record, spec: &RolloutSpec) -> Result<(), RolloutError> {
    let name = &spec.name;
    let refuse = |why: String| Err(RolloutError::Refused(why));
    let nothing = |why: String| Err(RolloutError::NothingToDo(why));
    match (action, rec.phase) {
        (RolloutAction::Restart | RolloutAction::TerminateAnalysis { .. }, _) => refuse(format!(
            "{name} is an NGINX canary: it has no pods to restart and no analysis run to stop (its analysis is flightdeck's own)"
        )),
        (RolloutAction::Undo { to_revision: Some(n) }, _) => {
            refuse(format!("{name} is an NGINX canary: undo sends traffic back to stable; it cannot go to revision {n}"))
        }
        (RolloutAction::Deploy { .. }, Phase::Progressing | Phase::Paused) => {
            refuse(format!("{name} is already rolling out {}; promote or abort it first", rec.version.as_deref().unwrap_or("a version")))
        }
        (RolloutAction::Deploy { .. }, _) => Ok(()),
        (RolloutAction::Promote | RolloutAction::PromoteFull, Phase::Progressing | Phase::Paused) => Ok(()),
        (RolloutAction::Promote | RolloutAction::PromoteFull, Phase::Aborted) => refuse(format!("{name} was aborted; retry it first")),
        (RolloutAction::Promote | RolloutAction::PromoteFull, _) => nothing(format!("{name} has no canary under way; nothing to promote")),
        (RolloutAction::Pause, Phase::Progressing) => Ok(()),
        (RolloutAction::Pause, Phase::Paused) => nothing(format!("{name} is already paused")),
        (RolloutAction::Pause, p) => refuse(format!("{name} is {}; there is nothing to pause", p.label())),
        (RolloutAction::Resume, Phase::Paused) if rec.pause.as_ref().is_some_and(|p| p.by_user) => Ok(()),
        (RolloutAction::Resume, Phase::Paused) => {
            refuse(format!("{name} is paused by its steps or its analysis, not by a person; promote to go on"))
        }
        (RolloutAction::Resume, p) => nothing(format!("{name} is {}, not paused", p.label())),
        (RolloutAction::Abort, Phase::Progressing | Phase::Paused | Phase::Degraded) => Ok(()),
        (RolloutAction::Abort, p) => nothing(format!("{name} is {}; there is no canary to abort", p.label())),
        (RolloutAction::Retry, Phase::Aborted | Phase::Degraded) if rec.version.is_some() => Ok(()),
        (RolloutAction::Retry, p) => nothing(format!("{name} is {}; only an aborted rollout can be retried", p.label())),
        (RolloutAction::Undo { .. }, Phase::Healthy) if rec.weight > 0 => Ok(()),
        (RolloutAction::Undo { .. }, Phase::Healthy) => {
            nothing(format!("{name}: the stable version already serves 100 %; nothing to undo (nothing was sent)"))
        }
        (RolloutAction::Undo { .. }, p) => refuse(format!("{name} is {}; abort instead of undo while a canary is under way", p.label())),
        (
            RolloutAction::Sync { .. } | RolloutAction::Refresh { .. } | RolloutAction::TerminateOperation | RolloutAction::AutoSync { .. },
            _,
        ) => refuse(format!("{name} is an NGINX canary, not a GitOps application: {} is for Argo CD", action.verb())),
        (RolloutAction::Approve | RolloutAction::Reject | RolloutAction::Cancel | RolloutAction::IgnoreJob, _) => {
            refuse(format!("{name} is an NGINX canary: it has no approval or jobs; promote to go on, abort to stop"))
        }
    }
}

/// How long a driver waits between moves.
pub const TICK: Duration = Duration::from_secs(1);
