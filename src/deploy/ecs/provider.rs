//! The ECS rollout provider: every configured service is a release (`ecs:CLUSTER/SERVICE`), polled
//! fast only while a deployment is under way. `promote` continues a deployment that waits for a
//! person (CodeDeploy's manual reroute, ECS's PAUSE hook); `promote-full` terminates CodeDeploy's
//! original task set without waiting; `abort` stops with rollback. Each sends exactly the call the
//! confirmation showed, after reading the deployment again.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use jiff::Timestamp;
use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::reader::{Reader, ServiceOrMissing, ServiceRead};
use super::view::{Shift, short_task_definition};
use super::{codedeploy, native};
use crate::aws::json_rpc::{AwsError, Session};
use crate::config::EcsSettings;
use crate::delivery::polling::{self, Polling, same_picture};
use crate::delivery::{
    By, DeliveryError, Denials, Detail, Health, Native, Permissions, Plan, PlanError, Release, ReleaseEvent, RolloutAction,
    RolloutProvider, Section, Seen,
};
use crate::domain::RolloutRef;
use crate::logstore::sanitize::plain;

/// The provider's name, the prefix of its references (`ecs:payments/payments-api`).
pub const ECS_PROVIDER: &str = "ecs";

#[derive(Clone)]
pub struct EcsProvider {
    inner: Arc<Inner>,
}

struct Inner {
    settings: EcsSettings,
    reader: Reader,
    /// Who AWS takes the user to be, once asked.
    caller: tokio::sync::Mutex<Option<String>>,
    /// What AWS refused this user (IAM), on which deployment.
    denied: Denials,
}

fn backend(e: AwsError) -> DeliveryError {
    DeliveryError::Backend(e.to_string())
}

impl EcsProvider {
    pub fn new(settings: EcsSettings) -> Result<EcsProvider, DeliveryError> {
        let session = Session::new(settings.region.clone(), settings.profile.clone(), settings.endpoint_url.clone()).map_err(backend)?;
        Ok(EcsProvider::with_session(settings, session))
    }

    /// With a session of the caller's making (fixed keys, a test's endpoint).
    pub fn with_session(settings: EcsSettings, session: Session) -> EcsProvider {
        EcsProvider {
            inner: Arc::new(Inner { settings, reader: Reader::new(session), caller: Default::default(), denied: Denials::default() }),
        }
    }

    fn reference(cluster: &str, service: &str) -> RolloutRef {
        RolloutRef { provider: ECS_PROVIDER.into(), scope: cluster.into(), name: service.into() }
    }

    /// Every configured service, read now. A service that cannot be read is a row saying why; the
    /// whole read fails only when no cluster answered.
    async fn read_all(&self) -> Result<Vec<Release>, DeliveryError> {
        let now = Timestamp::now();
        let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (c, s) in &self.inner.settings.services {
            by_cluster.entry(c).or_default().push(s.clone());
        }
        let mut out = Vec::new();
        let mut failures = Vec::new();
        for (cluster, names) in by_cluster {
            let found = match self.inner.reader.services(cluster, &names).await {
                Ok(found) => found,
                Err(e) => {
                    failures.push(e.to_string());
                    out.extend(names.iter().map(|n| self.unread(cluster, n, &e.to_string())));
                    continue;
                }
            };
            for f in found {
                let read = match f {
                    ServiceOrMissing::Found(svc) => {
                        let name = svc.service_name.clone();
                        match self.inner.reader.read(cluster, *svc).await {
                            Ok(r) => r,
                            Err(e) => {
                                out.push(self.unread(cluster, &name, &e.to_string()));
                                continue;
                            }
                        }
                    }
                    ServiceOrMissing::Missing(name, why) => ServiceRead::Missing { cluster: cluster.into(), service: name, why },
                };
                out.push(self.release(shift_of(&read, now)));
            }
        }
        if !failures.is_empty() && failures.len() == self.clusters() {
            return Err(DeliveryError::Backend(failures.join("; ")));
        }
        Ok(out)
    }

    fn clusters(&self) -> usize {
        self.inner.settings.services.iter().map(|(c, _)| c).collect::<std::collections::BTreeSet<_>>().len()
    }

    async fn read_one(&self, r: &RolloutRef) -> Result<Shift, DeliveryError> {
        if !self.inner.settings.services.iter().any(|(c, s)| *c == r.scope && *s == r.name) {
            return Err(DeliveryError::Unknown(r.to_string()));
        }
        let found = self.inner.reader.services(&r.scope, std::slice::from_ref(&r.name)).await.map_err(backend)?;
        let read = match found.into_iter().next() {
            Some(ServiceOrMissing::Found(svc)) => self.inner.reader.read(&r.scope, *svc).await.map_err(backend)?,
            Some(ServiceOrMissing::Missing(name, why)) => ServiceRead::Missing { cluster: r.scope.clone(), service: name, why },
            None => return Err(DeliveryError::Unknown(r.to_string())),
        };
        Ok(shift_of(&read, Timestamp::now()))
    }

    fn unread(&self, cluster: &str, service: &str, why: &str) -> Release {
        let shift = Shift {
            cluster: cluster.into(),
            service: service.into(),
            kind: "ECS".into(),
            status: "unread".into(),
            health: Some(Health::Unknown),
            urgency: 5,
            state: "Not read".into(),
            message: Some(plain(why)),
            ..Shift::default()
        };
        self.release(shift)
    }

    fn release(&self, shift: Shift) -> Release {
        let reference = Self::reference(&shift.cluster, &shift.service);
        let key = format!("{}/{}", shift.cluster, shift.service);
        let step = shift.step();
        Release {
            kind: shift.kind.clone(),
            environment: self.inner.settings.environment_of(&shift.cluster, &shift.service),
            service: self.inner.settings.judged_by.get(&key).cloned(),
            health: shift.health.unwrap_or(Health::Unknown),
            state: shift.state.clone(),
            message: shift.message.clone(),
            urgency: shift.urgency,
            step,
            weight: shift.weight(),
            desired_weight: shift.desired_weight,
            version: shift.replacement.as_ref().map(|s| short_task_definition(&s.task_definition)),
            stable_version: shift.original.as_ref().map(|s| short_task_definition(&s.task_definition)),
            run: None,
            analysis_run: None,
            pause_until: shift.wait_until,
            supports: shift.calls.keys().copied().collect(),
            seen: seen_of(&shift),
            measured_on: shift.measured_on(),
            native: Native::new(shift),
            reference,
        }
    }

    async fn caller(&self) -> Option<String> {
        let mut kept = self.inner.caller.lock().await;
        if kept.is_none() {
            *kept = crate::aws::sts::caller_arn(&self.inner.reader.session).await.ok();
        }
        kept.clone()
    }
}

/// The picture of whatever was read.
fn shift_of(read: &ServiceRead, now: Timestamp) -> Shift {
    match read {
        ServiceRead::CodeDeploy(r) => codedeploy::shift(r, now),
        ServiceRead::Native(r) => native::shift(r, now),
        ServiceRead::Other { service, why } => Shift {
            cluster: service.cluster_arn.rsplit('/').next().unwrap_or_default().into(),
            service: service.service_name.clone(),
            kind: "ECS".into(),
            status: "other".into(),
            health: Some(if service.running_count >= service.desired_count { Health::Healthy } else { Health::Progressing }),
            urgency: 4,
            state: format!("Running {}/{}", service.running_count, service.desired_count),
            message: Some(why.clone()),
            original: service.task_definition.as_ref().map(|td| super::view::Side {
                task_definition: td.clone(),
                running: service.running_count,
                desired: service.desired_count,
                weight: Some(100.0),
                target_group: None,
            }),
            ..Shift::default()
        },
        ServiceRead::Missing { cluster, service, why } => Shift {
            cluster: cluster.clone(),
            service: service.clone(),
            kind: "ECS".into(),
            status: "missing".into(),
            health: Some(Health::Unknown),
            urgency: 5,
            state: "Not found".into(),
            message: Some(format!("ECS: {why}")),
            ..Shift::default()
        },
    }
}

/// What the check before an action compares: the deployment, where its lifecycle is, and AWS's
/// status (traffic moving within a stage is not a change that voids a decision).
fn seen_of(shift: &Shift) -> Seen {
    Seen { revision: shift.id.clone().unwrap_or_default(), step: shift.step().map(|(i, _)| i), state: shift.status.clone(), pending: None }
}

impl RolloutProvider for EcsProvider {
    fn name(&self) -> &str {
        ECS_PROVIDER
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<Release>, DeliveryError>> {
        self.read_all().boxed()
    }

    fn get(&self, r: RolloutRef) -> BoxFuture<'_, Result<Release, DeliveryError>> {
        async move { Ok(self.release(self.read_one(&r).await?)) }.boxed()
    }

    fn watch(&self, events: UnboundedSender<ReleaseEvent>, stop: CancellationToken) {
        let me = self.clone();
        let poll = Polling {
            provider: ECS_PROVIDER,
            label: format!("ECS · {}", me.inner.reader.session.region),
            active: me.inner.settings.active_poll,
            idle: me.inner.settings.idle_poll,
            nudge: None,
        };
        polling::spawn(
            poll,
            move || {
                let me = me.clone();
                async move { me.read_all().await }
            },
            same_picture::<Shift>,
            events,
            stop,
        );
    }

    fn detail(&self, r: RolloutRef) -> BoxFuture<'_, Result<Detail, DeliveryError>> {
        async move {
            let shift = self.read_one(&r).await?;
            let permissions = self.permissions_for(&r, &shift).await;
            let mut sections = Vec::new();
            let traffic: Vec<String> =
                [shift.original.as_ref().map(|s| s.line("original")), shift.replacement.as_ref().map(|s| s.line("replacement"))]
                    .into_iter()
                    .flatten()
                    .collect();
            if !traffic.is_empty() {
                sections.push(Section { title: "Traffic".into(), lines: traffic });
            }
            if !shift.listener.is_empty() {
                sections.push(Section { title: "Production listener rule (ELBv2)".into(), lines: shift.listener.clone() });
            }
            let alarms = shift.alarm_lines();
            sections.push(Section {
                title: "Alarms".into(),
                lines: if alarms.is_empty() { vec!["none guard this deployment".into()] } else { alarms },
            });
            let mut keys: Vec<String> = shift.calls.iter().map(|(verb, call)| format!("{verb}: {}", call.text())).collect();
            keys.extend(shift.not_offered.iter().map(|(verb, why)| format!("{verb}: not offered — {why}")));
            if !keys.is_empty() {
                sections.push(Section { title: "What the keys send".into(), lines: keys });
            }
            Ok(Detail {
                reference: Some(r),
                loaded: true,
                error: None,
                about: shift.about.clone(),
                steps: shift.steps(),
                revisions: Vec::new(),
                sections,
                timeline: shift.timeline.clone(),
                permissions: Some(permissions),
                native: Native::new(shift),
                parts: Vec::new(),
                related: Vec::new(),
            })
        }
        .boxed()
    }

    fn detail_changes(&self, _r: RolloutRef) -> futures::stream::BoxStream<'static, ()> {
        self.inner.denied.changes()
    }

    fn permissions(&self, r: RolloutRef) -> BoxFuture<'_, Result<Permissions, DeliveryError>> {
        async move {
            let shift = self.read_one(&r).await?;
            Ok(self.permissions_for(&r, &shift).await)
        }
        .boxed()
    }

    fn plan(&self, release: &Release, detail: Option<&Detail>, action: &RolloutAction, _now: Timestamp) -> Result<Plan, PlanError> {
        let shift = release.native.get::<Shift>().ok_or_else(|| PlanError::Invalid(format!("{}: not read yet", release.reference)))?;
        let verb = action.verb();
        let Some(call) = shift.calls.get(verb) else {
            if let Some(why) = shift.not_offered.get(verb) {
                return Err(PlanError::Invalid(why.clone()));
            }
            return Err(match verb {
                "abort" | "promote" | "promote-full" if shift.health == Some(Health::Healthy) || shift.urgency == 1 => {
                    PlanError::NothingToDo(format!("{}: nothing to {verb}: {}", release.reference.short(), shift.state))
                }
                _ => PlanError::Invalid(format!("{verb} is not something an ECS deployment can do now ({})", shift.state)),
            });
        };
        let weight = shift.weight().map(|w| format!(", {w} % of traffic on the replacement")).unwrap_or_default();
        Ok(Plan {
            effect: vec![
                format!("Now: {}{weight}.", shift.state),
                format!("{}.", crate::util::capitalised(&call.does)),
                format!("Sends: {}", call.text()),
            ],
            parameters: json!({
                "cluster": shift.cluster,
                "service": shift.service,
                "deployment": shift.id,
                "request": {"service": call.service.title, "operation": call.operation, "input": call.input},
            }),
            denied: detail.and_then(|d| d.permissions.as_ref()).and_then(|p| p.denies(action)).map(str::to_string),
            reaches: Vec::new(),
            run_link: None,
        })
    }

    fn execute(&self, r: RolloutRef, action: RolloutAction, seen: Option<Seen>, _by: By) -> BoxFuture<'_, Result<String, DeliveryError>> {
        async move {
            let shift = self.read_one(&r).await?;
            Seen::still(seen.as_ref(), &seen_of(&shift), &r.short())?;
            let verb = action.verb();
            let Some(call) = shift.calls.get(verb) else {
                let why = shift.not_offered.get(verb).cloned().unwrap_or_else(|| format!("{verb} makes no sense now ({})", shift.state));
                return Err(DeliveryError::Refused(format!("{}: {why}; nothing was sent", r.short())));
            };
            match self.inner.reader.session.call(&call.service, call.operation, &call.input).await {
                Ok(_) => Ok(format!("{}: asked {} to {} ({})", r.short(), call.service.title, call.does, call.operation)),
                Err(e @ AwsError::AccessDenied { .. }) => {
                    let why = e.to_string();
                    self.inner.denied.remember(&r, verb, shift.id.as_deref().unwrap_or_default(), why.clone());
                    Err(DeliveryError::Refused(why))
                }
                // AWS said no to the request itself (the deployment finished meanwhile…).
                Err(e @ AwsError::Service { status: 400..=499, .. }) => Err(DeliveryError::Refused(e.to_string())),
                Err(e) => Err(backend(e)),
            }
        }
        .boxed()
    }
}

impl EcsProvider {
    async fn permissions_for(&self, r: &RolloutRef, shift: &Shift) -> Permissions {
        Permissions {
            denied: self.inner.denied.of(r, shift.id.as_deref()),
            notes: BTreeMap::new(),
            authenticated: self.caller().await.map(|arn| ("aws".to_string(), arn)),
        }
    }
}
