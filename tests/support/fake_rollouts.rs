//! A scripted rollout provider that lives in memory: what a third delivery backend (an ECS
//! blue/green service, a Cloud Deploy canary) looks like to the core — its own references, its
//! own plans and permissions — so the seam can be tested without one. It records every call.

use std::collections::BTreeMap;
use std::sync::Mutex;

use flightdeck::delivery::{
    By, DeliveryError, Detail, Feed, FeedState, Health, Native, Permissions, Plan, PlanError, Release, ReleaseEvent, Revision,
    RolloutAction, RolloutProvider, Seen, StepState, StepView, TimelineEntry,
};
use flightdeck::domain::RolloutRef;
use futures::FutureExt;
use futures::future::BoxFuture;
use jiff::Timestamp;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

pub const NAME: &str = "ecs";

/// One scripted deployment: traffic shifts in steps of `STEPS`, pausing after each for a person.
#[derive(Clone, Debug, PartialEq)]
pub struct Deployment {
    pub step: usize,
    pub health: Health,
    pub revision: i64,
    pub version: String,
    pub stable: String,
    pub run: Option<flightdeck::domain::RunRef>,
}

const STEPS: [u8; 3] = [10, 50, 100];

#[derive(Default)]
struct Inner {
    deployments: BTreeMap<String, Deployment>,
    events: Option<UnboundedSender<ReleaseEvent>>,
    calls: Vec<String>,
}

#[derive(Default)]
pub struct FakeRollouts {
    inner: Mutex<Inner>,
}

impl FakeRollouts {
    /// `prod/payments`, paused at its first step (10 %), rolling out 2.0 over 1.9.
    pub fn new() -> FakeRollouts {
        let f = FakeRollouts::default();
        f.put(
            "payments",
            Deployment { step: 0, health: Health::Paused, revision: 7, version: "2.0".into(), stable: "1.9".into(), run: None },
        );
        f
    }

    pub fn put(&self, name: &str, d: Deployment) {
        let mut s = self.inner.lock().unwrap();
        s.deployments.insert(name.into(), d.clone());
        if let Some(tx) = &s.events {
            let _ = tx.send(ReleaseEvent::Changed(Box::new(release(name, &d))));
        }
    }

    pub fn deployment(&self, name: &str) -> Deployment {
        self.inner.lock().unwrap().deployments[name].clone()
    }

    /// Every call received, as `verb ref`.
    pub fn calls(&self) -> Vec<String> {
        self.inner.lock().unwrap().calls.clone()
    }
}

pub fn reference(name: &str) -> RolloutRef {
    RolloutRef { provider: NAME.into(), scope: "prod".into(), name: name.into() }
}

fn seen(d: &Deployment) -> Seen {
    Seen { revision: d.revision.to_string(), step: Some(d.step + 1), state: format!("{:?}", d.health), pending: None }
}

fn release(name: &str, d: &Deployment) -> Release {
    Release {
        reference: reference(name),
        kind: "ECS blue/green".into(),
        environment: Some("prod".into()),
        service: None,
        health: d.health,
        state: format!("{:?}", d.health),
        message: None,
        urgency: if d.health == Health::Paused { 0 } else { 4 },
        step: Some((d.step + 1, STEPS.len())),
        weight: Some(STEPS[d.step]),
        desired_weight: None,
        version: Some(d.version.clone()),
        stable_version: Some(d.stable.clone()),
        run: d.run.clone(),
        analysis_run: None,
        pause_until: None,
        supports: vec!["promote", "promote-full", "abort", "undo"],
        seen: seen(d),
        native: Native::new(d.clone()),
        measured_on: None,
    }
}

impl RolloutProvider for FakeRollouts {
    fn name(&self) -> &str {
        NAME
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<Release>, DeliveryError>> {
        let s = self.inner.lock().unwrap();
        let all = s.deployments.iter().map(|(n, d)| release(n, d)).collect();
        async move { Ok(all) }.boxed()
    }

    fn get(&self, r: RolloutRef) -> BoxFuture<'_, Result<Release, DeliveryError>> {
        let s = self.inner.lock().unwrap();
        let found = s.deployments.get(&r.name).map(|d| release(&r.name, d)).ok_or(DeliveryError::Unknown(r.text()));
        async move { found }.boxed()
    }

    fn watch(&self, events: UnboundedSender<ReleaseEvent>, _stop: CancellationToken) {
        let mut s = self.inner.lock().unwrap();
        let feed = Feed { label: "ECS · prod".into(), state: FeedState::Live, scopes: Vec::new() };
        let _ = events.send(ReleaseEvent::Feed { provider: NAME.into(), feed });
        let releases = s.deployments.iter().map(|(n, d)| release(n, d)).collect();
        let _ = events.send(ReleaseEvent::Reset { provider: NAME.into(), releases });
        s.events = Some(events);
    }

    fn detail(&self, r: RolloutRef) -> BoxFuture<'_, Result<Detail, DeliveryError>> {
        let d = self.deployment(&r.name);
        let detail = Detail {
            reference: Some(r),
            loaded: true,
            error: None,
            about: vec!["service payments in cluster prod · CodeDeploy blue/green".into()],
            steps: STEPS
                .iter()
                .enumerate()
                .map(|(i, w)| StepView {
                    label: format!("{w}%"),
                    state: match i.cmp(&d.step) {
                        std::cmp::Ordering::Less => StepState::Done,
                        std::cmp::Ordering::Equal => StepState::Current,
                        std::cmp::Ordering::Greater => StepState::Todo,
                    },
                })
                .collect(),
            revisions: vec![
                Revision { number: d.revision, label: format!("task definition payments:{}", d.version), current: true, created: None },
                Revision { number: d.revision - 1, label: format!("task definition payments:{}", d.stable), current: false, created: None },
            ],
            sections: Vec::new(),
            timeline: vec![TimelineEntry { at: Some(Timestamp::now()), text: "deployment d-123 created".into() }],
            permissions: Some(Permissions {
                denied: [("promote-full".to_string(), "IAM: codedeploy:ContinueDeployment is not allowed for this role".to_string())]
                    .into(),
                ..Permissions::default()
            }),
            native: Native::default(),
            related: Vec::new(),
            parts: Vec::new(),
        };
        async move { Ok(detail) }.boxed()
    }

    fn plan(&self, release: &Release, _detail: Option<&Detail>, action: &RolloutAction, _now: Timestamp) -> Result<Plan, PlanError> {
        let d = release.native.get::<Deployment>().ok_or_else(|| PlanError::Invalid("not read yet".into()))?;
        let effect = match action {
            RolloutAction::Promote if d.health != Health::Paused => {
                return Err(PlanError::NothingToDo("payments is not waiting for a promotion".into()));
            }
            RolloutAction::Promote => format!("ECS: shift traffic {} % → {} %", STEPS[d.step], STEPS[(d.step + 1).min(STEPS.len() - 1)]),
            RolloutAction::Abort => "ECS: stop deployment, traffic back to the blue task set".into(),
            RolloutAction::Undo { to_revision } => {
                format!("ECS: redeploy task definition revision {}", to_revision.unwrap_or(d.revision - 1))
            }
            other => return Err(format!("{} is not offered by this fake", other.verb()).into()),
        };
        Ok(Plan {
            effect: vec![effect],
            parameters: serde_json::json!({"revision": d.revision, "step": d.step}),
            denied: None,
            reaches: Vec::new(),
            run_link: None,
        })
    }

    fn execute(
        &self,
        r: RolloutRef,
        action: RolloutAction,
        seen_then: Option<Seen>,
        by: By,
    ) -> BoxFuture<'_, Result<String, DeliveryError>> {
        let result = (|| {
            let mut s = self.inner.lock().unwrap();
            s.calls.push(format!("{} {} by {}", action.verb(), r.text(), by.actor));
            let d = s.deployments.get_mut(&r.name).ok_or(DeliveryError::Unknown(r.text()))?;
            Seen::still(seen_then.as_ref(), &seen(d), &r.short())?;
            match action {
                RolloutAction::Promote => {
                    d.step = (d.step + 1).min(STEPS.len() - 1);
                    d.health = if d.step + 1 == STEPS.len() { Health::Healthy } else { Health::Paused };
                }
                RolloutAction::Abort => d.health = Health::Aborted,
                RolloutAction::Undo { .. } => {
                    d.revision += 1;
                    d.health = Health::Healthy;
                }
                _ => return Err(DeliveryError::Refused("not offered".into())),
            }
            let row = release(&r.name, d);
            if let Some(tx) = &s.events {
                let _ = tx.send(ReleaseEvent::Changed(Box::new(row)));
            }
            Ok(format!("{}: {} done", r.short(), action.verb()))
        })();
        async move { result }.boxed()
    }
}
