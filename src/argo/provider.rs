//! Argo Rollouts as a rollout provider: the rollouts of one kubeconfig context (and namespace)
//! watched as releases, their details read and re-read as their objects change, the access review
//! turned into greyed keys, and actions planned purely and sent as the Argo Rollouts plugin
//! sends them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::actions::{self, Request, Target};
use super::client::{ArgoError, Cluster, Permissions as Access, WatchUpdate};
use super::model::{ReplicaSet, Rollout};
use super::status::{self, State};
use crate::config::KubernetesSettings;
use crate::delivery::{
    By, DeliveryError, Detail, Feed, FeedState, Health, Native, Permissions, Plan, PlanError, Release, ReleaseEvent, Revision,
    RolloutAction, RolloutProvider, Section, Seen, StepState, StepView, TimelineEntry,
};
use crate::domain::{ARGO, RolloutRef};

/// Where the cockpit's feed reads: a context, and a namespace (None: all).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Scope {
    context: Option<String>,
    namespace: Option<String>,
}

/// Cheap to clone: the watch task holds a clone.
#[derive(Clone)]
pub struct ArgoProvider {
    settings: Arc<KubernetesSettings>,
    /// One client per context, made on first use.
    clusters: Arc<tokio::sync::Mutex<HashMap<String, Cluster>>>,
    scope: Arc<Mutex<Scope>>,
    /// Restarts the feed after a change of scope.
    rescoped: Arc<tokio::sync::Notify>,
}

impl From<ArgoError> for DeliveryError {
    fn from(e: ArgoError) -> DeliveryError {
        match e {
            ArgoError::Refused(why) => DeliveryError::Refused(why),
            other => DeliveryError::Backend(other.to_string()),
        }
    }
}

impl ArgoProvider {
    pub fn new(settings: KubernetesSettings) -> ArgoProvider {
        let scope = Scope { context: settings.context.clone(), namespace: settings.namespace.clone() };
        ArgoProvider {
            settings: Arc::new(settings),
            clusters: Default::default(),
            scope: Arc::new(Mutex::new(scope)),
            rescoped: Default::default(),
        }
    }

    fn scope(&self) -> Scope {
        self.scope.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The context a reference without one means: the feed's, else the kubeconfig's current one.
    fn default_context(&self) -> String {
        if let Some(c) = self.scope().context {
            return c;
        }
        let kc = match &self.settings.kubeconfig {
            Some(p) => kube::config::Kubeconfig::read_from(p),
            None => kube::config::Kubeconfig::read(),
        };
        kc.ok().and_then(|k| k.current_context).unwrap_or_default()
    }

    pub async fn cluster(&self, context: &str) -> Result<Cluster, DeliveryError> {
        let mut clusters = self.clusters.lock().await;
        if let Some(c) = clusters.get(context) {
            return Ok(c.clone());
        }
        let s = &self.settings;
        let chosen = (!context.is_empty()).then_some(context);
        let c = Cluster::connect(s.kubeconfig.as_deref(), chosen, s.timeout)
            .await
            .map_err(|e| DeliveryError::Backend(format!("cannot use the kubeconfig (set KUBECONFIG, or [kubernetes] kubeconfig): {e}")))?;
        clusters.insert(c.context.clone(), c.clone());
        clusters.insert(context.to_string(), c.clone());
        Ok(c)
    }

    /// The cluster and the (namespace, name) of a reference.
    async fn locate(&self, r: &RolloutRef) -> Result<(Cluster, String, String), DeliveryError> {
        let r = self.complete(r.clone());
        let (context, namespace) = r.argo_scope().ok_or_else(|| DeliveryError::Unknown(r.text()))?;
        Ok((self.cluster(context).await?, namespace.to_string(), r.name.clone()))
    }

    fn release(&self, context: &str, r: Rollout, now: Timestamp) -> Release {
        release(&self.settings, context, r, now)
    }

    /// Streams the feed's rollouts until the scope changes or `stop`.
    async fn feed(&self, scope: &Scope, events: &UnboundedSender<ReleaseEvent>) -> Result<(), ()> {
        let send_feed = |state: FeedState, context: &str, scopes: Vec<String>| {
            let label = format!("Argo Rollouts · {context} · {}", scope.namespace.as_deref().unwrap_or("all namespaces"));
            events.send(ReleaseEvent::Feed { provider: ARGO.into(), feed: Feed { label, state, scopes } }).map_err(|_| ())
        };
        let context = scope.context.clone().unwrap_or_else(|| self.default_context());
        send_feed(FeedState::Connecting, &context, Vec::new())?;
        let cluster = match self.cluster(&context).await {
            Ok(c) => c,
            Err(e) => {
                send_feed(FeedState::Retrying(e.to_string()), &context, Vec::new())?;
                return Ok(());
            }
        };
        let scopes = Cluster::contexts(self.settings.kubeconfig.as_deref()).unwrap_or_default();
        // A quiet cluster, a stuck server and a silently dead connection all say nothing. After
        // `idle` of silence the watch is started again (its first list answers at once from a
        // healthy server); only a new watch that gets no answer either is a stall.
        let idle = (self.settings.timeout * 4).max(std::time::Duration::from_secs(10));
        let watch = || Box::pin(cluster.watch_renewed(scope.namespace.as_deref(), Some((idle.as_secs() / 2).max(1) as u32)));
        let mut stream = watch();
        let mut renewed = false;
        let mut live = false;
        loop {
            let update = match tokio::time::timeout(idle, stream.next()).await {
                Ok(Some(update)) => update,
                Ok(None) => break,
                Err(_) if !renewed => {
                    renewed = true;
                    stream = watch();
                    continue;
                }
                Err(_) => {
                    let why = format!("stalled: no answer from the API server for {}s; reconnecting", 2 * idle.as_secs());
                    send_feed(FeedState::Retrying(why), &cluster.context, scopes.clone())?;
                    return Ok(());
                }
            };
            renewed = false;
            let now = Timestamp::now();
            // Healthy again: an old error must not stay on screen.
            if !live && !matches!(update, WatchUpdate::Error(_)) {
                live = true;
                send_feed(FeedState::Live, &cluster.context, scopes.clone())?;
            }
            let sent = match update {
                WatchUpdate::Reset(all) => {
                    let releases = all.into_iter().map(|r| self.release(&cluster.context, r, now)).collect();
                    events.send(ReleaseEvent::Reset { provider: ARGO.into(), releases })
                }
                WatchUpdate::Apply(r) => events.send(ReleaseEvent::Changed(Box::new(self.release(&cluster.context, *r, now)))),
                WatchUpdate::Delete(key) => {
                    let (ns, name) = key.split_once('/').unwrap_or(("", &key));
                    events.send(ReleaseEvent::Gone(RolloutRef::argo(cluster.context.clone(), ns, name)))
                }
                WatchUpdate::Error(e) => {
                    live = false;
                    send_feed(FeedState::Retrying(e), &cluster.context, scopes.clone())?;
                    Ok(())
                }
            };
            sent.map_err(|_| ())?;
        }
        Ok(())
    }
}

fn health(st: &State) -> Health {
    match st {
        State::Healthy => Health::Healthy,
        State::Progressing(_) | State::Syncing(_) => Health::Progressing,
        State::Paused { .. } | State::PausedManual => Health::Paused,
        State::Aborted(_) => Health::Aborted,
        State::Degraded(_) => Health::Degraded,
    }
}

/// A rollout as a release, in `context`; the row keeps the rollout compacted.
pub fn release(settings: &KubernetesSettings, context: &str, rollout: Rollout, now: Timestamp) -> Release {
    let rollout = rollout.compact();
    let r = &rollout;
    let st = status::state(r, now);
    let (state, pause_until) = match &st {
        // The countdown is drawn from the end time, so the row needs no new read every second.
        State::Paused { reason, remaining: Some(s) } => (format!("Paused ({reason})"), Some(now + jiff::SignedDuration::from_secs(*s))),
        other => (other.describe(), None),
    };
    let c = &r.status.canary;
    let analysis_run = [&c.current_step_analysis_run_status, &c.current_background_analysis_run_status]
        .into_iter()
        .flatten()
        .find(|a| matches!(a.status.as_str(), "Running" | "Pending" | ""))
        .map(|a| a.name.clone());
    let images = super::model::images(r.spec.template.as_ref());
    let n = r.steps().len();
    let mut supports = vec!["promote", "promote-full", "abort", "retry", "restart", "undo", "deploy", "terminate-analysis"];
    if !r.is_blue_green() || r.spec.paused || st.label() != "Paused" {
        supports.extend(["pause", "resume"]);
    }
    Release {
        reference: RolloutRef::argo(context.to_string(), &r.metadata.namespace, &r.metadata.name),
        kind: if r.is_blue_green() { "Argo Rollout (blue-green)" } else { "Argo Rollout" }.into(),
        environment: settings.environment(context).map(str::to_string),
        service: settings.services.get(&r.key()).cloned(),
        health: health(&st),
        state,
        message: None,
        urgency: st.urgency(),
        step: (n > 0).then(|| ((r.step_index() + 1).min(n), n)),
        weight: (!r.is_blue_green()).then(|| status::actual_weight(r).clamp(0, 100) as u8),
        desired_weight: (!r.is_blue_green()).then(|| status::set_weight(r).clamp(0, 100) as u8),
        version: (!images.is_empty()).then(|| images.join(", ")),
        stable_version: None,
        run: r.release_run(),
        analysis_run,
        pause_until,
        supports,
        seen: actions::seen(r, now),
        native: Native::new(rollout),
        measured_on: None,
    }
}

/// Which verbs the access review forbids: each verb by the requests it sends.
fn permissions(access: &Access) -> Permissions {
    let status = |v: Value| Request { target: Target::RolloutStatus, body: actions::Body::Merge(v) };
    let spec = |v: Value| Request { target: Target::Rollout, body: actions::Body::Merge(v) };
    let needs: [(&str, Vec<Request>); 8] = [
        ("promote", vec![status(json!({}))]),
        ("promote-full", vec![status(json!({}))]),
        ("abort", vec![status(json!({}))]),
        ("retry", vec![status(json!({}))]),
        ("pause", vec![spec(json!({}))]),
        ("resume", vec![spec(json!({}))]),
        ("restart", vec![spec(json!({}))]),
        ("undo", vec![spec(json!({}))]),
    ];
    let mut p = Permissions::default();
    for (verb, requests) in needs {
        if let Some(why) = access.denies(&requests) {
            p.denied.insert(verb.to_string(), why);
        }
    }
    if let Some(why) = access.denies(&[spec(json!({}))]) {
        p.denied.insert("deploy".into(), why);
    }
    p
}

/// The opened rollout's own objects, kept for planning an undo (the rollout read whole: a row
/// keeps only a compact copy).
#[derive(Clone, Debug, PartialEq)]
struct Objects {
    rollout: Rollout,
    revisions: Vec<ReplicaSet>,
    access: Option<Access>,
    /// Who the API server takes the user to be: journaled with every action beside the local
    /// account.
    user: Option<String>,
}

fn revision_label(r: &Rollout, rs: &ReplicaSet) -> String {
    let hash = rs.hash().unwrap_or("");
    let b = &r.status.blue_green;
    // Blue-green names its sides active and preview; a canary, stable and canary.
    let sides = if r.is_blue_green() {
        [(b.active_selector.as_deref(), "active"), (b.preview_selector.as_deref(), "preview")]
    } else {
        [(r.status.stable_rs.as_deref(), "stable"), (r.status.current_pod_hash.as_deref(), "canary")]
    };
    let tag = sides.into_iter().find(|(h, _)| *h == Some(hash)).map(|(_, t)| t).unwrap_or("");
    format!(
        "{:<26} {:<7} ready {}/{}  {}",
        rs.metadata.name,
        tag,
        rs.status.ready_replicas.unwrap_or(0),
        rs.spec.replicas.unwrap_or(0),
        rs.images().join(", ")
    )
}

fn ts(s: Option<&str>) -> Option<Timestamp> {
    s.and_then(|s| s.parse().ok())
}

/// The detail of rollout `r` in `context` from its objects as read (the cockpit's follower reads
/// them; tests hand them in).
pub fn detail_for(
    r: &Rollout,
    context: &str,
    revisions: Vec<ReplicaSet>,
    access: Option<Access>,
    runs: &[Value],
    events: &[Value],
) -> Detail {
    let reference = RolloutRef::argo(context.to_string(), &r.metadata.namespace, &r.metadata.name);
    detail(r, reference, Objects { rollout: r.clone(), revisions, access, user: None }, runs, events, Vec::new())
}

/// Everything the detail shows, from what was read; each part may have failed on its own.
fn detail(r: &Rollout, reference: RolloutRef, objects: Objects, runs: &[Value], events: &[Value], problems: Vec<String>) -> Detail {
    let strategy = if r.is_blue_green() { "blue-green" } else { "canary" };
    let revision = r.metadata.annotations.get(super::model::REVISION).cloned().unwrap_or_else(|| "-".into());
    let mut about = vec![format!("{strategy} · revision {revision} · generation {}", r.metadata.generation.unwrap_or(0))];
    if r.is_blue_green() {
        let b = &r.status.blue_green;
        about.push(format!(
            "active service → {} · preview → {}",
            b.active_selector.as_deref().unwrap_or("-"),
            b.preview_selector.as_deref().unwrap_or("-")
        ));
    } else {
        about.push(format!("weight: desired {} % · actual {} %", status::set_weight(r), status::actual_weight(r)));
    }
    let i = r.step_index();
    let steps = r
        .steps()
        .iter()
        .enumerate()
        .map(|(k, s)| StepView {
            label: s.describe(),
            state: match k.cmp(&i) {
                std::cmp::Ordering::Less => StepState::Done,
                std::cmp::Ordering::Equal => StepState::Current,
                std::cmp::Ordering::Greater => StepState::Todo,
            },
        })
        .collect();
    let current = r.status.current_pod_hash.as_deref();
    let revisions = objects
        .revisions
        .iter()
        .map(|rs| Revision {
            number: rs.revision(),
            label: revision_label(r, rs),
            current: rs.hash().is_some() && rs.hash() == current,
            created: ts(rs.metadata.creation_timestamp.as_deref()),
        })
        .collect();
    let mut analysis = Vec::new();
    for run in runs {
        let mut text =
            format!("{}: {}", run["metadata"]["name"].as_str().unwrap_or("?"), run["status"]["phase"].as_str().unwrap_or("Pending"));
        for m in run["status"]["metricResults"].as_array().into_iter().flatten() {
            let last = m["measurements"].as_array().and_then(|v| v.last());
            text.push_str(&format!(
                " · {} {} (last {})",
                m["name"].as_str().unwrap_or("?"),
                m["phase"].as_str().unwrap_or("?"),
                last.and_then(|l| l["value"].as_str()).unwrap_or("-")
            ));
        }
        analysis.push(text);
    }
    let mut sections = Vec::new();
    if !analysis.is_empty() {
        sections.push(Section { title: "analysis runs".into(), lines: analysis });
    }
    let mut timeline = Vec::new();
    timeline.extend(events.iter().map(TimelineEntry::of_event));
    for c in &r.status.conditions {
        if let Some(when) = ts(c.last_transition_time.as_deref()) {
            timeline.push(TimelineEntry { at: Some(when), text: format!("{}={} {}: {}", c.type_, c.status, c.reason, c.message) });
        }
    }
    for p in &r.status.pause_conditions {
        if let Some(when) = ts(p.start_time.as_deref()) {
            timeline.push(TimelineEntry { at: Some(when), text: format!("paused: {}", p.reason) });
        }
    }
    if let Some(when) = ts(r.status.aborted_at.as_deref()) {
        timeline.push(TimelineEntry { at: Some(when), text: "aborted".into() });
    }
    timeline.sort_by_key(|t| t.at);
    Detail {
        reference: Some(reference),
        loaded: true,
        error: (!problems.is_empty()).then(|| problems.join("; ")),
        about,
        steps,
        revisions,
        sections,
        timeline,
        permissions: objects.access.as_ref().map(permissions),
        native: Native::new(objects),
        related: Vec::new(),
        parts: Vec::new(),
    }
}

impl RolloutProvider for ArgoProvider {
    fn name(&self) -> &str {
        ARGO
    }

    /// `NAMESPACE/NAME` is an Argo Rollout in the configured context.
    fn claims(&self, short: &RolloutRef) -> bool {
        short.argo_scope().is_some()
    }

    fn complete(&self, r: RolloutRef) -> RolloutRef {
        match r.argo_scope() {
            Some(("", namespace)) => RolloutRef::argo(self.default_context(), namespace, &r.name),
            _ => r,
        }
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<Release>, DeliveryError>> {
        async move {
            let scope = self.scope();
            let cluster = self.cluster(&scope.context.clone().unwrap_or_else(|| self.default_context())).await?;
            let now = Timestamp::now();
            let all = cluster.list(scope.namespace.as_deref()).await?;
            Ok(all.into_iter().map(|r| self.release(&cluster.context, r, now)).collect())
        }
        .boxed()
    }

    fn get(&self, r: RolloutRef) -> BoxFuture<'_, Result<Release, DeliveryError>> {
        async move {
            let (cluster, ns, name) = self.locate(&r).await?;
            let rollout = cluster.get(&ns, &name).await?;
            Ok(self.release(&cluster.context, rollout, Timestamp::now()))
        }
        .boxed()
    }

    fn watch(&self, events: UnboundedSender<ReleaseEvent>, stop: CancellationToken) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let scope = me.scope();
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = me.rescoped.notified() => continue,
                    ended = me.feed(&scope, &events) => {
                        if ended.is_err() {
                            return;
                        }
                        // The watch gave up (it could not connect): try again in a while.
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            _ = me.rescoped.notified() => {}
                            _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                        }
                    }
                }
            }
        });
    }

    fn rescope(&self, change: &str) -> Result<(), DeliveryError> {
        let mut scope = self.scope.lock().map_err(|_| DeliveryError::Backend("scope lock poisoned".into()))?;
        match change.split_once('=') {
            Some(("context", c)) if !c.is_empty() => scope.context = Some(c.to_string()),
            Some(("namespace", "all" | "")) => scope.namespace = None,
            Some(("namespace", ns)) => scope.namespace = Some(ns.to_string()),
            _ => {
                return Err(DeliveryError::Refused(format!(
                    "Argo Rollouts cannot switch to `{change}` (context=NAME, namespace=NAME|all)"
                )));
            }
        }
        self.rescoped.notify_waiters();
        Ok(())
    }

    fn detail(&self, r: RolloutRef) -> BoxFuture<'_, Result<Detail, DeliveryError>> {
        async move {
            let r = self.complete(r);
            let (cluster, ns, name) = self.locate(&r).await?;
            let rollout = cluster.get(&ns, &name).await?;
            let mut problems = Vec::new();
            let mut objects = Objects { rollout: rollout.clone(), revisions: Vec::new(), access: None, user: None };
            match cluster.revisions(&rollout).await {
                Ok(v) => objects.revisions = v,
                Err(e) => problems.push(format!("revisions: {e}")),
            }
            let runs = cluster.analysis_runs(&rollout).await.unwrap_or_else(|e| {
                problems.push(format!("analysis runs: {e}"));
                Vec::new()
            });
            let events = cluster.events(&rollout).await.unwrap_or_else(|e| {
                problems.push(format!("events: {e}"));
                Vec::new()
            });
            match cluster.permissions(&ns, &name).await {
                Ok(p) => objects.access = Some(p),
                Err(e) => problems.push(format!("access review: {e}")),
            }
            match cluster.user().await {
                Ok(u) => objects.user = u,
                Err(e) => problems.push(format!("who the cluster takes you to be: {e}")),
            }
            Ok(detail(&rollout, r, objects, &runs, &events, problems))
        }
        .boxed()
    }

    fn detail_changes(&self, r: RolloutRef) -> BoxStream<'static, ()> {
        let me = self.clone();
        let r = self.complete(r);
        futures::stream::once(async move {
            let Ok((cluster, ns, name)) = me.locate(&r).await else { return futures::stream::empty().boxed() };
            match cluster.get(&ns, &name).await {
                Ok(rollout) => cluster.watch_related(&rollout).boxed(),
                Err(_) => futures::stream::empty().boxed(),
            }
        })
        .flatten()
        .boxed()
    }

    fn permissions(&self, r: RolloutRef) -> BoxFuture<'_, Result<Permissions, DeliveryError>> {
        async move {
            let (cluster, ns, name) = self.locate(&r).await?;
            let mut p = permissions(&cluster.permissions(&ns, &name).await?);
            p.authenticated = cluster.user().await.ok().flatten().map(|u| ("kubernetes".to_string(), u));
            Ok(p)
        }
        .boxed()
    }

    fn plan(&self, release: &Release, detail: Option<&Detail>, action: &RolloutAction, now: Timestamp) -> Result<Plan, PlanError> {
        let r = release.native.get::<Rollout>().ok_or_else(|| format!("{}: it has not been read yet", release.reference))?;
        let objects = detail.filter(|d| d.reference.as_ref() == Some(&release.reference)).and_then(|d| d.native.get::<Objects>());
        if matches!(action, RolloutAction::Undo { .. }) && objects.is_none() {
            return Err(format!("{}: its revisions have not been read yet (open it first)", release.reference).into());
        }
        let revisions = objects.map(|o| o.revisions.as_slice()).unwrap_or_default();
        // An undo restores a whole pod template, compared with the whole current one.
        let whole = match objects {
            Some(o) if matches!(action, RolloutAction::Undo { .. }) => &o.rollout,
            _ => r,
        };
        let requests = actions::plan(whole, action, revisions, now)?;
        let st = status::state(r, now);
        let (context, _) = release.reference.argo_scope().unwrap_or_default();
        let mut effect = vec![format!(
            "`{}` in {context} is {}, step {}, canary weight {} % (desired {} %).",
            r.key(),
            st.describe(),
            release.step_text(),
            status::actual_weight(r),
            status::set_weight(r)
        )];
        if let RolloutAction::Undo { to_revision } = action {
            // Name where it goes back to, and show the whole request (the template it restores).
            if let Ok(t) = actions::undo_target(whole, revisions, *to_revision) {
                effect.push(format!("Back to revision {}: {}.", t.revision(), t.images().join(", ")));
            }
            effect.extend(requests.iter().map(|q| match &q.body {
                actions::Body::Json(v) | actions::Body::Merge(v) => format!("PATCH rollout: {v}"),
            }));
        } else {
            effect.extend(requests.iter().map(Request::describe));
        }
        Ok(Plan {
            effect,
            parameters: json!({
                "context": context, "namespace": r.metadata.namespace, "rollout": r.metadata.name, "action": action,
                "resource_version": r.metadata.resource_version, "step": r.step_index(), "state": st.label(),
                "kubernetes_user": objects.and_then(|o| o.user.clone()),
            }),
            denied: objects.and_then(|o| o.access.as_ref()).and_then(|a| a.denies(&requests)),
            reaches: Vec::new(),
            run_link: None,
        })
    }

    fn execute(&self, r: RolloutRef, action: RolloutAction, seen: Option<Seen>, by: By) -> BoxFuture<'_, Result<String, DeliveryError>> {
        async move {
            let (cluster, ns, name) = self.locate(&r).await?;
            let by = super::client::By { actor: by.actor, reason: by.reason, record_event: self.settings.record_events };
            let outcome = super::client::execute(&cluster, &ns, &name, &action, seen.as_ref(), &by).await?;
            let mut msg = format!("{ns}/{name}: {} sent ({})", action.verb(), outcome.sent.join("; "));
            if let Some(e) = outcome.event_error {
                msg.push_str(&format!("; the Kubernetes Event could not be recorded: {e}"));
            }
            Ok(msg)
        }
        .boxed()
    }
}
