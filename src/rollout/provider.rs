//! NGINX canaries as a rollout provider: the controller's records become releases, people's
//! actions go through the controller (one change at a time per rollout, across processes), and
//! the watch is the driver that moves every rollout through its steps.

use futures::FutureExt;
use futures::future::BoxFuture;
use jiff::Timestamp;
use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::controller::{self, Controller, TICK};
use super::{Phase, Record, RolloutError, RolloutSpec, Step};
use crate::delivery::{
    By, DeliveryError, Detail, Feed, FeedState, Health, Native, Plan, PlanError, Release, ReleaseEvent, RolloutAction, RolloutProvider,
    Section, Seen, StepState, StepView, TimelineEntry,
};
use crate::domain::{NGINX, RolloutRef};

#[derive(Clone)]
pub struct NginxProvider {
    controller: Controller,
    keeper: Option<std::sync::Arc<dyn super::Keeper>>,
}

impl NginxProvider {
    pub fn new(controller: Controller) -> NginxProvider {
        NginxProvider { controller, keeper: None }
    }

    /// A provider that hands every canary left under way to `keeper`, so it goes on without us.
    pub fn kept_by(controller: Controller, keeper: std::sync::Arc<dyn super::Keeper>) -> NginxProvider {
        NginxProvider { controller, keeper: Some(keeper) }
    }

    /// Reads a rollout, moving it on only where nobody else does. With a keeper (the supervisor),
    /// a canary under way is the keeper's to move and judge: it is only read here, and the keeper
    /// is reminded when `remind` (which starts it again if it is gone; if it cannot be, the canary
    /// is moved on here). An idle canary is still checked against NGINX here.
    async fn advance(&self, name: &str, remind: bool) -> Result<Record, RolloutError> {
        if let Some(keeper) = self.keeper.clone() {
            let rec = self.controller.get(name).await?;
            if rec.moving() {
                if !remind {
                    return Ok(rec);
                }
                let kept = tokio::task::spawn_blocking(move || keeper.keep_moving()).await.unwrap_or_else(|e| Err(e.to_string()));
                if kept.is_ok() {
                    return Ok(rec);
                }
            }
        }
        self.controller.tick(name).await
    }

    fn name_of(&self, r: &RolloutRef) -> Result<String, DeliveryError> {
        self.controller.spec(&r.name).map(|s| s.name.clone()).map_err(|_| DeliveryError::Unknown(r.text()))
    }
}

impl From<RolloutError> for DeliveryError {
    fn from(e: RolloutError) -> DeliveryError {
        match e {
            RolloutError::Unknown(n) => DeliveryError::Unknown(n),
            RolloutError::Refused(why) | RolloutError::NothingToDo(why) => DeliveryError::Refused(why),
            RolloutError::Nginx(e) | RolloutError::Io(e) => DeliveryError::Backend(e),
        }
    }
}

/// The actions an NGINX canary offers.
const SUPPORTS: [&str; 8] = ["promote", "promote-full", "pause", "resume", "abort", "retry", "undo", "deploy"];

/// A record as a release.
pub fn release(spec: &RolloutSpec, rec: &Record) -> Release {
    let health = match rec.phase {
        Phase::Healthy => Health::Healthy,
        Phase::Progressing => Health::Progressing,
        Phase::Paused => Health::Paused,
        Phase::Aborted => Health::Aborted,
        Phase::Degraded => Health::Degraded,
    };
    let timed = rec.pause.as_ref().and_then(|p| p.until);
    Release {
        reference: RolloutRef::nginx(spec.name.clone()),
        kind: "NGINX canary".into(),
        environment: spec.environment.clone(),
        service: Some(spec.service.clone().unwrap_or_else(|| spec.name.clone())),
        health,
        state: rec.phase.label().to_string(),
        message: rec.pause.as_ref().map(|p| p.reason.clone()).or_else(|| rec.cause.clone()),
        urgency: match rec.phase {
            // As every provider ranks them: waiting for a person, then what went wrong, then timed waits.
            Phase::Paused if timed.is_some() => 2,
            Phase::Paused => 0,
            Phase::Aborted | Phase::Degraded => 1,
            Phase::Progressing => 3,
            Phase::Healthy => 4,
        },
        step: Some(((rec.step + 1).min(spec.steps.len()), spec.steps.len())),
        weight: Some(rec.weight),
        desired_weight: None,
        version: rec.version.clone(),
        stable_version: rec.stable_version.clone(),
        run: rec.run.clone(),
        analysis_run: None,
        pause_until: timed,
        supports: SUPPORTS.to_vec(),
        seen: controller::seen(rec, spec),
        native: Native::new((spec.clone(), rec.clone())),
        measured_on: None,
    }
}

/// A row for a canary whose state could not be read.
pub fn unreadable(spec: &RolloutSpec, error: String) -> Release {
    Release {
        reference: RolloutRef::nginx(spec.name.clone()),
        kind: "NGINX canary".into(),
        environment: spec.environment.clone(),
        service: Some(spec.service.clone().unwrap_or_else(|| spec.name.clone())),
        health: Health::Unknown,
        state: "unreadable".into(),
        message: Some(error),
        urgency: 0,
        step: None,
        weight: None,
        desired_weight: None,
        version: None,
        stable_version: None,
        run: None,
        analysis_run: None,
        pause_until: None,
        supports: Vec::new(),
        seen: Seen::default(),
        native: Native::default(),
        measured_on: None,
    }
}

fn step_label(s: &Step) -> String {
    match s {
        Step::SetWeight(w) => format!("{w}%"),
        Step::Pause(Some(d)) => format!("pause {}", crate::util::format_duration(*d)),
        Step::Pause(None) => "pause ∞".into(),
        Step::Analysis(d) => format!("analysis {}", crate::util::format_duration(*d)),
    }
}

/// What an action does to the canary as the user sees it, or why it makes no sense now.
pub fn plan(spec: &RolloutSpec, rec: &Record, action: &RolloutAction) -> Result<Plan, PlanError> {
    controller::check(action, rec, spec).map_err(|e| match e {
        RolloutError::NothingToDo(why) => PlanError::NothingToDo(why),
        e => PlanError::Invalid(e.to_string()),
    })?;
    let at = |i: usize| spec.steps.get(i).map(Step::describe).unwrap_or_else(|| "the end (100 %)".into());
    let now = format!(
        "`{}` is {} at step {}/{} ({}), canary {} % ({} → {}).",
        spec.name,
        rec.phase.label(),
        (rec.step + 1).min(spec.steps.len()),
        spec.steps.len(),
        at(rec.step),
        rec.weight,
        rec.stable_version.as_deref().unwrap_or("stable"),
        rec.version.as_deref().unwrap_or("-"),
    );
    let next = match action {
        RolloutAction::Deploy { version, stable_version, .. } => format!(
            "Starts rolling out {version} (stable: {}): {}.",
            stable_version.as_deref().or(rec.stable_version.as_deref()).unwrap_or("unknown version"),
            spec.steps.iter().map(Step::describe).collect::<Vec<_>>().join(" → ")
        ),
        RolloutAction::Promote => format!("Promote: goes on past {} to the next step.", at(rec.step)),
        RolloutAction::PromoteFull => {
            "Full promotion: the canary gets 100 % of the traffic now, skipping every remaining step and analysis.".into()
        }
        RolloutAction::Pause => "Pause: the rollout stays at its current weight until resumed.".into(),
        RolloutAction::Resume => "Resume: lifts the manual pause; the steps go on from where they were.".into(),
        RolloutAction::Abort => "Abort: all traffic goes back to the stable servers (canary 0 %).".into(),
        RolloutAction::Retry => "Retry: starts the steps again from the first one.".into(),
        RolloutAction::Undo { .. } => "Undo: the stable servers get 100 % of the traffic back.".into(),
        RolloutAction::Restart
        | RolloutAction::TerminateAnalysis { .. }
        | RolloutAction::Sync { .. }
        | RolloutAction::Refresh { .. }
        | RolloutAction::TerminateOperation
        | RolloutAction::AutoSync { .. }
        | RolloutAction::Approve
        | RolloutAction::Reject
        | RolloutAction::Cancel
        | RolloutAction::IgnoreJob => {
            return Err(format!("{}: not for NGINX canaries", action.verb()).into());
        }
    };
    Ok(Plan {
        effect: vec![now, next, format!("NGINX: upstream `{}` in {}.", spec.nginx.upstream, spec.nginx.include.display())],
        parameters: json!({
            "rollout": spec.name, "revision": rec.revision, "step": rec.step, "phase": rec.phase.label(),
            "weight": rec.weight, "version": rec.version,
        }),
        denied: None,
        reaches: Vec::new(),
        run_link: None,
    })
}

/// The opened canary: its upstream, its steps with the current one marked, the verdict and the
/// history.
pub fn detail(spec: &RolloutSpec, rec: &Record) -> Detail {
    let under_way = matches!(rec.phase, Phase::Progressing | Phase::Paused);
    let steps = spec
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| StepView {
            label: step_label(s),
            state: if i == rec.step && under_way {
                StepState::Current
            } else if i < rec.step {
                StepState::Done
            } else {
                StepState::Todo
            },
        })
        .collect();
    let mut status = format!("{} · canary {} % · revision {}", rec.phase.label(), rec.weight, rec.revision);
    if let Some(p) = &rec.pause {
        status.push_str(&format!(" · {}", p.reason));
    }
    if let Some(c) = &rec.cause {
        status.push_str(&format!(" · {c}"));
    }
    let mut sections = vec![Section { title: "status".into(), lines: vec![status] }];
    if let Some(v) = &rec.verdict {
        // The controller's own judgement, the one that moved (or stopped) the rollout; the live
        // analysis beside it may differ, judged over another window at another time.
        sections.push(Section { title: "the controller's last analysis (what moved the rollout)".into(), lines: vec![v.to_string()] });
    }
    Detail {
        reference: Some(RolloutRef::nginx(spec.name.clone())),
        loaded: true,
        error: None,
        about: vec![format!(
            "NGINX upstream `{}` · {} · on failure: {:?}",
            spec.nginx.upstream,
            spec.nginx.include.display(),
            spec.on_failure
        )],
        steps,
        revisions: Vec::new(),
        sections,
        timeline: rec
            .history
            .iter()
            .map(|h| TimelineEntry { at: Some(h.at), text: format!("{:>3} %  {:<10} {}", h.weight, h.actor, h.event) })
            .collect(),
        permissions: None,
        native: Native::default(),
        related: Vec::new(),
        parts: Vec::new(),
    }
}

impl RolloutProvider for NginxProvider {
    fn name(&self) -> &str {
        NGINX
    }

    fn claims(&self, short: &RolloutRef) -> bool {
        short.scope.is_empty() && self.controller.spec(&short.name).is_ok()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<Release>, DeliveryError>> {
        async move {
            let mut all = Vec::new();
            for name in self.controller.names() {
                let spec = self.controller.spec(&name)?;
                all.push(match self.controller.get(&name).await {
                    Ok(rec) => release(spec, &rec),
                    Err(e) => unreadable(spec, e.to_string()),
                });
            }
            Ok(all)
        }
        .boxed()
    }

    fn get(&self, r: RolloutRef) -> BoxFuture<'_, Result<Release, DeliveryError>> {
        async move {
            let name = self.name_of(&r)?;
            // What is shown is what is acted on: up to date, and moved on if nobody else does.
            let rec = self.advance(&name, true).await?;
            Ok(release(self.controller.spec(&name)?, &rec))
        }
        .boxed()
    }

    /// Every rollout once a tick, each change reported; moved on here only where nobody else does
    /// (see `advance`), the keeper reminded every `REMIND` ticks. The controller serialises with
    /// any other process moving the same rollout.
    fn watch(&self, events: UnboundedSender<ReleaseEvent>, stop: CancellationToken) {
        const REMIND: u64 = 30;
        let (me, c) = (self.clone(), self.controller.clone());
        tokio::spawn(async move {
            let mut ticks: u64 = 0;
            let feed = Feed { label: "NGINX canaries".into(), state: FeedState::Live, scopes: Vec::new() };
            if events.send(ReleaseEvent::Feed { provider: NGINX.into(), feed }).is_err() {
                return;
            }
            let mut last: std::collections::HashMap<String, Result<u64, String>> = Default::default();
            loop {
                for name in c.names() {
                    let Ok(spec) = c.spec(&name) else { continue };
                    let result = me.advance(&name, ticks.is_multiple_of(REMIND)).await.map_err(|e| e.to_string());
                    let key = result.as_ref().map(|r| r.seq).map_err(Clone::clone);
                    if last.get(&name) == Some(&key) {
                        continue;
                    }
                    last.insert(name.clone(), key);
                    let row = match result {
                        Ok(rec) => release(spec, &rec),
                        Err(e) => unreadable(spec, e),
                    };
                    if events.send(ReleaseEvent::Changed(Box::new(row))).is_err() {
                        return;
                    }
                }
                ticks += 1;
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(TICK) => {}
                }
            }
        });
    }

    fn detail(&self, r: RolloutRef) -> BoxFuture<'_, Result<Detail, DeliveryError>> {
        async move {
            let name = self.name_of(&r)?;
            let rec = self.controller.get(&name).await?;
            Ok(detail(self.controller.spec(&name)?, &rec))
        }
        .boxed()
    }

    fn plan(&self, release: &Release, _detail: Option<&Detail>, action: &RolloutAction, _now: Timestamp) -> Result<Plan, PlanError> {
        let (spec, rec) = release
            .native
            .get::<(RolloutSpec, Record)>()
            .ok_or_else(|| format!("{}: its state has not been read yet", release.reference))?;
        plan(spec, rec, action)
    }

    fn execute(&self, r: RolloutRef, action: RolloutAction, seen: Option<Seen>, by: By) -> BoxFuture<'_, Result<String, DeliveryError>> {
        async move {
            let name = self.name_of(&r)?;
            let rec = match &action {
                RolloutAction::Deploy { version, stable_version, run, .. } => {
                    self.controller.start(&name, version, stable_version.as_deref(), run.clone(), &by.actor).await?
                }
                _ => self.controller.act(&name, &action, seen.as_ref(), &by.actor).await?,
            };
            let mut message = format!("{name}: {}", rec.message());
            if let Some(keeper) = self.keeper.clone().filter(|_| rec.moving()) {
                let kept = tokio::task::spawn_blocking(move || keeper.keep_moving()).await.unwrap_or_else(|e| Err(e.to_string()));
                if let Err(e) = kept {
                    message.push_str(&format!(" (warning: nothing will move it on while no flightdeck is open: {e})"));
                }
            }
            Ok(message)
        }
        .boxed()
    }
}
