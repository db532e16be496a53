//! Argo CD Applications as releases: one row per application on the Releases overview, what
//! needs a human first, with the same safety path as every rollout (plan → policy → confirmation
//! → journal → execute). Through the API server when one is configured, else through the
//! Kubernetes API.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use jiff::Timestamp;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::actions::app_action;
use super::kube::{AppUpdate, KubeApps};
use super::model::{App, short};
use super::ops;
use super::server::{ServerApps, ServerError, StreamUpdate};
use crate::argo::client::ArgoError;
use crate::delivery::{
    By, DeliveryError, Detail, Feed, FeedState, Health, Native, Permissions, Plan, PlanError, Release, ReleaseEvent, RolloutAction,
    RolloutProvider, Seen,
};
use crate::domain::RolloutRef;
use crate::logstore::sanitize::excerpt;

/// The provider's name, the prefix of its references (`argocd:checkout`).
pub const ARGOCD: &str = "argocd";

#[derive(Clone)]
pub enum Backend {
    Server(ServerApps),
    Kube(LazyKube),
}

/// The Kubernetes way in, connected on first use (the cockpit draws before it reaches a cluster).
#[derive(Clone)]
pub struct LazyKube {
    cell: std::sync::Arc<tokio::sync::OnceCell<KubeApps>>,
    kubeconfig: Option<std::path::PathBuf>,
    context: Option<String>,
    namespace: Option<String>,
    timeout: std::time::Duration,
}

impl LazyKube {
    pub fn new(
        kubeconfig: Option<std::path::PathBuf>,
        context: Option<String>,
        namespace: Option<String>,
        timeout: std::time::Duration,
    ) -> LazyKube {
        LazyKube { cell: Default::default(), kubeconfig, context, namespace, timeout }
    }

    async fn get(&self) -> Result<&KubeApps, DeliveryError> {
        self.cell
            .get_or_try_init(|| async {
                let cluster =
                    crate::argo::client::Cluster::connect(self.kubeconfig.as_deref(), self.context.as_deref(), self.timeout).await?;
                Ok::<_, ArgoError>(KubeApps::new(cluster, self.namespace.as_deref()))
            })
            .await
            .map_err(backend_error)
    }
}

#[derive(Clone)]
pub struct ArgoCdProvider {
    backend: Backend,
    /// Project → environment (policy applies per environment).
    environments: BTreeMap<String, String>,
    /// Environments whose out-of-sync apps come first.
    production: BTreeSet<String>,
    /// Who a Kubernetes-mode operation is initiated by (the API server knows its own user).
    actor: String,
    /// Argo Rollout (`namespace/name`) → the service whose canary verdict judges it.
    services: BTreeMap<String, String>,
}

fn backend_error(e: impl std::fmt::Display) -> DeliveryError {
    DeliveryError::Backend(e.to_string())
}

impl ArgoCdProvider {
    pub fn new(backend: Backend, environments: BTreeMap<String, String>, production: BTreeSet<String>, actor: String) -> ArgoCdProvider {
        ArgoCdProvider { backend, environments, production, actor, services: BTreeMap::new() }
    }

    /// The canary verdicts to show beside apps: the service judging each Argo Rollout
    /// (`[kubernetes] services`), for the app that manages it.
    pub fn with_services(mut self, services: BTreeMap<String, String>) -> ArgoCdProvider {
        self.services = services;
        self
    }

    /// From `[argocd]`: the API server named there, or in `ARGOCD_SERVER`, or the argocd CLI's
    /// current context; else the Kubernetes API.
    pub fn from_settings(
        settings: &crate::config::ArgoCdSettings,
        production: BTreeSet<String>,
        actor: String,
    ) -> Result<ArgoCdProvider, DeliveryError> {
        use super::server::Connection;
        let connection = if settings.kubernetes_only {
            None
        } else {
            match Connection::find_for(settings.server.as_deref(), None).map_err(backend_error)? {
                // A server named in the configuration wins over the CLI's; the token still comes
                // from the environment or the CLI's configuration.
                Some(c) => Some(Connection {
                    server: settings.server.clone().map(|s| super::server::with_scheme(&s, false)).unwrap_or(c.server),
                    token: c.token,
                }),
                None if settings.server.is_some() => {
                    return Err(DeliveryError::Backend(
                        "[argocd] names a server, but no token was found: set ARGOCD_AUTH_TOKEN or run `argocd login`".into(),
                    ));
                }
                None => None,
            }
        };
        let backend = match connection {
            Some(c) => Backend::Server(ServerApps::new(c).map_err(backend_error)?),
            None => Backend::Kube(LazyKube::new(
                settings.kubeconfig.clone(),
                settings.context.clone(),
                settings.namespace.clone(),
                settings.timeout,
            )),
        };
        Ok(ArgoCdProvider::new(backend, settings.environments.clone(), production, actor))
    }

    fn way_in(&self) -> &'static str {
        match self.backend {
            Backend::Server(_) => "Argo CD API server",
            Backend::Kube(_) => "Kubernetes API (no Argo CD server configured)",
        }
    }

    async fn apps(&self) -> Result<Vec<App>, DeliveryError> {
        match &self.backend {
            Backend::Server(s) => s.list().await.map_err(backend_error),
            Backend::Kube(k) => k.get().await?.list().await.map_err(backend_error),
        }
    }

    async fn app(&self, name: &str) -> Result<App, DeliveryError> {
        match &self.backend {
            Backend::Server(s) => s.get(name).await.map_err(backend_error),
            Backend::Kube(k) => k.get().await?.get(name).await.map_err(backend_error),
        }
    }

    /// One application as a row.
    pub fn release(&self, app: &App) -> Release {
        let environment = self.environments.get(&app.spec.project).cloned();
        let production = environment.as_ref().is_some_and(|e| self.production.contains(e));
        let health = match app.status.health.status.as_str() {
            "Healthy" => Health::Healthy,
            "Progressing" => Health::Progressing,
            "Suspended" => Health::Paused,
            "Degraded" | "Missing" => Health::Degraded,
            _ => Health::Unknown,
        };
        let op = app.status.operation_state.as_ref();
        let sync = if app.status.sync.status.is_empty() { "Unknown" } else { app.status.sync.status.as_str() };
        let mut state = format!("{sync} · {}", if app.status.health.status.is_empty() { "Unknown" } else { &app.status.health.status });
        if let Some(o) = op.filter(|o| matches!(o.phase.as_str(), "Running" | "Terminating" | "Failed" | "Error")) {
            state.push_str(&format!(" · sync {}", o.phase.to_lowercase()));
        } else if app.operation.is_some() {
            state.push_str(" · sync requested");
        }
        let message = op
            .and_then(|o| o.message.clone())
            .or_else(|| app.status.health.message.clone())
            .or_else(|| app.status.conditions.first().map(|c| c.message.clone()))
            .map(|m| excerpt(&m, 200));
        let mut supports = vec!["sync", "refresh", "auto-sync"];
        if app.operation_running() {
            supports.push("terminate-operation");
        }
        if !app.auto_sync() && app.status.history.len() > 1 {
            supports.push("undo");
        }
        if app.auto_sync() {
            // What `A` does now: turn it off.
            supports.push("auto-sync-off");
        }
        Release {
            reference: RolloutRef { provider: ARGOCD.into(), scope: String::new(), name: app.name().to_string() },
            kind: "Argo CD app".into(),
            environment,
            service: app
                .status
                .resources
                .iter()
                .filter(|r| r.kind == "Rollout")
                .find_map(|r| self.services.get(&format!("{}/{}", r.namespace, r.name)).cloned()),
            health,
            state: excerpt(&state, 80),
            message,
            urgency: match app.urgency(production) {
                0 => 0,
                1 => 3,
                _ => 4,
            },
            step: None,
            weight: None,
            desired_weight: None,
            version: app.short_revision().map(|r| excerpt(&r, 40)),
            stable_version: app.status.history.iter().rev().nth(1).and_then(|h| h.revision.as_deref()).map(|r| excerpt(short(r), 40)),
            run: None,
            analysis_run: None,
            pause_until: None,
            supports,
            seen: seen_of(app),
            native: Native::new(app.clone()),
            measured_on: None,
        }
    }

    async fn tree(&self, app: &App) -> Result<super::tree::Tree, DeliveryError> {
        match &self.backend {
            Backend::Server(s) => s.tree(app.name()).await.map_err(backend_error),
            Backend::Kube(k) => k.get().await?.tree(app).await.map_err(backend_error),
        }
    }

    async fn events(&self, app: &App) -> Result<Vec<serde_json::Value>, DeliveryError> {
        match &self.backend {
            Backend::Server(s) => s.events(app.name()).await.map_err(backend_error),
            Backend::Kube(k) => k.get().await?.events(app.name()).await.map_err(backend_error),
        }
    }

    /// What the user may do, asked of the backend (Argo CD's RBAC, or the cluster's).
    async fn denied(&self, app: &App) -> Result<BTreeMap<String, String>, DeliveryError> {
        let mut denied = BTreeMap::new();
        match &self.backend {
            Backend::Server(s) => {
                for (verbs, rbac) in
                    [(&["sync", "undo", "terminate-operation"][..], "sync"), (&["auto-sync"][..], "update"), (&["refresh"][..], "get")]
                {
                    if !s.can_i(rbac, &app.spec.project, app.name()).await.map_err(backend_error)? {
                        for v in verbs {
                            denied.insert(
                                v.to_string(),
                                format!("Argo CD's RBAC does not let you `{rbac}` {}/{}", app.spec.project, app.name()),
                            );
                        }
                    }
                }
            }
            Backend::Kube(k) => {
                let access = k.get().await?.may_change(app.name()).await.map_err(backend_error)?;
                if !access.allowed {
                    let why = if access.reason.is_empty() { "no RBAC rule lets you patch applications".to_string() } else { access.reason };
                    for v in ["sync", "undo", "terminate-operation", "auto-sync", "refresh"] {
                        denied.insert(v.to_string(), why.clone());
                    }
                }
            }
        }
        Ok(denied)
    }
}

impl ArgoCdProvider {
    /// The sync windows that apply to the app, said for people, and whether a manual sync may go
    /// now (with a note when only a window's `manualSync` lets it).
    async fn windows(&self, app: &App) -> Result<super::windows::Judged, DeliveryError> {
        use super::windows::{Judged, can_sync_manually, describe_for, judge_manual};
        match &self.backend {
            Backend::Server(s) => {
                let w = s.windows(app.name()).await.map_err(backend_error)?;
                let lines = w
                    .assigned
                    .iter()
                    .map(|x| {
                        let manual = if x.manual_sync { " · manual sync allowed" } else { "" };
                        format!("{} — {}{manual}", x.describe(), if w.active.contains(x) { "active now" } else { "not active" })
                    })
                    .collect();
                // The server's word decides; the same judgement over its windows says which one.
                let judged: Vec<_> = w.assigned.iter().map(|x| (x, w.active.contains(x))).collect();
                let manual = match (w.can_sync, judge_manual(&judged)) {
                    (true, Ok(note)) => Ok(note),
                    (true, Err(_)) => Ok(None),
                    (false, Err(why)) => Err(why),
                    (false, Ok(_)) => Err("cannot sync: blocked by a sync window (the server says so)".to_string()),
                };
                Ok(Judged { lines, manual })
            }
            Backend::Kube(k) => {
                let windows = k.get().await?.windows(&app.spec.project).await.map_err(backend_error)?;
                let now = Timestamp::now();
                Ok(Judged { lines: describe_for(&windows, app, now), manual: can_sync_manually(&windows, app, now) })
            }
        }
    }
}

/// What the user sees of an app, for the check before an action is sent: the revision, the sync
/// status, the operation (an operation running is the app's own state, not one of ours pending:
/// stopping it must stay possible) and auto-sync, last (the `A` key flips what it says).
fn seen_of(app: &App) -> Seen {
    let op = match (&app.operation, &app.status.operation_state) {
        (Some(_), Some(o)) => format!("operation {}", o.phase),
        (Some(_), None) => "operation requested".to_string(),
        (None, _) => "no operation".to_string(),
    };
    Seen {
        revision: app.status.sync.revision.clone().unwrap_or_default(),
        step: None,
        state: format!("{} / {op} / auto-sync {}", app.status.sync.status, if app.auto_sync() { "on" } else { "off" }),
        pending: None,
    }
}

impl RolloutProvider for ArgoCdProvider {
    fn name(&self) -> &str {
        ARGOCD
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<Release>, DeliveryError>> {
        async move { Ok(self.apps().await?.iter().map(|a| self.release(a)).collect()) }.boxed()
    }

    fn get(&self, r: RolloutRef) -> BoxFuture<'_, Result<Release, DeliveryError>> {
        async move { Ok(self.release(&self.app(&r.name).await?)) }.boxed()
    }

    fn watch(&self, events: UnboundedSender<ReleaseEvent>, stop: CancellationToken) {
        let me = self.clone();
        tokio::spawn(async move {
            let label = format!("Argo CD · {}", me.way_in());
            let feed = |state: FeedState| ReleaseEvent::Feed {
                provider: ARGOCD.into(),
                feed: Feed { label: label.clone(), state, scopes: Vec::new() },
            };
            let mut backoff = std::time::Duration::from_millis(500);
            loop {
                // The whole set first, then what changes. The Kubernetes watch lists by itself (a
                // page at a time); the server's stream says only what changes.
                let listed = match &me.backend {
                    Backend::Server(_) => me.list().await.map(Some),
                    Backend::Kube(_) => Ok(None),
                };
                match listed {
                    Ok(None) => {}
                    Ok(Some(releases)) => {
                        backoff = std::time::Duration::from_millis(500);
                        if events.send(ReleaseEvent::Reset { provider: ARGOCD.into(), releases }).is_err()
                            || events.send(feed(FeedState::Live)).is_err()
                        {
                            return;
                        }
                    }
                    Err(e) => {
                        if events.send(feed(FeedState::Retrying(e.to_string()))).is_err() {
                            return;
                        }
                    }
                }
                let broken = match &me.backend {
                    Backend::Server(s) => {
                        let mut stream = Box::pin(s.stream());
                        loop {
                            let next = tokio::select! {
                                _ = stop.cancelled() => return,
                                n = stream.next() => n,
                            };
                            let ev = match next {
                                Some(StreamUpdate::Apply(app)) => ReleaseEvent::Changed(Box::new(me.release(&app))),
                                Some(StreamUpdate::Delete(name)) => {
                                    ReleaseEvent::Gone(RolloutRef { provider: ARGOCD.into(), scope: String::new(), name })
                                }
                                Some(StreamUpdate::Broken(why)) => break why,
                                None => break "the stream ended".to_string(),
                            };
                            if events.send(ev).is_err() {
                                return;
                            }
                        }
                    }
                    Backend::Kube(k) => {
                        let kube = match k.get().await {
                            Ok(kube) => kube,
                            Err(e) => {
                                let _ = events.send(feed(FeedState::Retrying(e.to_string())));
                                tokio::select! {
                                    _ = stop.cancelled() => return,
                                    _ = tokio::time::sleep(backoff) => {}
                                }
                                backoff = (backoff * 2).min(std::time::Duration::from_secs(30));
                                continue;
                            }
                        };
                        let mut stream = Box::pin(kube.watch());
                        loop {
                            let next = tokio::select! {
                                _ = stop.cancelled() => return,
                                n = stream.next() => n,
                            };
                            let ev = match next {
                                Some(AppUpdate::Reset(apps)) => {
                                    let releases = apps.iter().map(|a| me.release(a)).collect();
                                    if events.send(ReleaseEvent::Reset { provider: ARGOCD.into(), releases }).is_err() {
                                        return;
                                    }
                                    backoff = std::time::Duration::from_millis(500);
                                    feed(FeedState::Live)
                                }
                                Some(AppUpdate::Apply(app)) => ReleaseEvent::Changed(Box::new(me.release(&app))),
                                Some(AppUpdate::Delete(name)) => {
                                    ReleaseEvent::Gone(RolloutRef { provider: ARGOCD.into(), scope: String::new(), name })
                                }
                                // The watcher starts again by itself; the feed says it.
                                Some(AppUpdate::Error(why)) => feed(FeedState::Retrying(why)),
                                None => break "the watch ended".to_string(),
                            };
                            if events.send(ev).is_err() {
                                return;
                            }
                        }
                    }
                };
                if events.send(feed(FeedState::Retrying(broken))).is_err() {
                    return;
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(std::time::Duration::from_secs(30));
            }
        });
    }

    fn detail(&self, r: RolloutRef) -> BoxFuture<'_, Result<Detail, DeliveryError>> {
        async move {
            let app = self.app(&r.name).await?;
            let (tree, events, windows, denied) = futures::join!(self.tree(&app), self.events(&app), self.windows(&app), self.denied(&app));
            let err = |e: DeliveryError| e.to_string();
            let read = super::detail::Read {
                tree: tree.map_err(err),
                events: events.map_err(err),
                windows: windows.map_err(err),
                denied: denied.unwrap_or_default(),
                way_in: self.way_in(),
                app,
            };
            Ok(super::detail::detail(r, read))
        }
        .boxed()
    }

    fn permissions(&self, r: RolloutRef) -> BoxFuture<'_, Result<Permissions, DeliveryError>> {
        async move {
            let app = self.app(&r.name).await?;
            let mut denied = self.denied(&app).await?;
            let mut notes = BTreeMap::new();
            match self.windows(&app).await?.manual {
                Err(why) => {
                    denied.entry("sync".into()).or_insert(why);
                }
                Ok(Some(note)) => {
                    notes.insert("sync".to_string(), note);
                }
                Ok(None) => {}
            }
            Ok(Permissions { denied, notes, authenticated: None })
        }
        .boxed()
    }

    fn plan(&self, release: &Release, detail: Option<&Detail>, action: &RolloutAction, now: Timestamp) -> Result<Plan, PlanError> {
        // The row is the freshest (the watch keeps it); the opened app, read whole, adds the
        // resources a sync may be limited to.
        let row = release.native.get::<App>().ok_or_else(|| PlanError::Invalid(format!("{}: not read yet", release.reference)))?;
        let mut with_resources = None;
        // Only a sync of named resources needs them (the footer plans every key each frame).
        let names_resources = matches!(action, RolloutAction::Sync { resources, .. } if !resources.is_empty());
        if let Some(whole) = detail.and_then(|d| d.native.get::<App>()).filter(|_| names_resources) {
            let mut app = row.clone();
            app.status.resources = whole.status.resources.clone();
            with_resources = Some(app);
        }
        let app = with_resources.as_ref().unwrap_or(row);
        let wanted = app_action(app, action)?;
        let write = ops::plan(app, &wanted, &self.actor, &now.to_string()).map_err(PlanError::Invalid)?;
        let what = match &self.backend {
            Backend::Server(s) => format!("Argo CD API server {}: {}", s.server(), super::server::call_for(app.name(), &wanted).text()),
            Backend::Kube(_) => {
                format!("Kubernetes: a merge patch of applications/{} in the Argo CD namespace: {}", app.name(), write.patch)
            }
        };
        Ok(Plan {
            effect: vec![
                format!("Now: {} at {}.", release.state, release.version.as_deref().unwrap_or("no revision")),
                format!("{}.", crate::util::capitalised(&write.summary)),
                what,
            ],
            parameters: serde_json::json!({"application": app.name(), "project": app.spec.project, "revision": app.status.sync.revision, "action": wanted}),
            denied: detail.and_then(|d| d.permissions.as_ref()).and_then(|p| p.denies(action)).map(str::to_string),
            reaches: Vec::new(),
            run_link: None,
        })
    }

    fn execute(&self, r: RolloutRef, action: RolloutAction, seen: Option<Seen>, by: By) -> BoxFuture<'_, Result<String, DeliveryError>> {
        async move {
            let app = self.app(&r.name).await?;
            Seen::still(seen.as_ref(), &seen_of(&app), &r.name)?;
            let wanted = app_action(&app, &action).map_err(|e| DeliveryError::Refused(e.to_string()))?;
            let actor = if by.actor.is_empty() { self.actor.clone() } else { by.actor.clone() };
            // What Argo CD or the cluster refused is a refusal (nothing was done); a server that
            // cannot be reached is a failure of the backend.
            let summary = match &self.backend {
                Backend::Server(s) => s.act(&r.name, &wanted, None).await.map_err(|e| match e {
                    ServerError::Refused(_) | ServerError::Forbidden(_) | ServerError::NotFound(_) => DeliveryError::Refused(e.to_string()),
                    e => DeliveryError::Backend(e.to_string()),
                })?,
                Backend::Kube(k) => k.get().await?.act(&r.name, &wanted, None, &actor).await.map_err(|e| match e {
                    ArgoError::Refused(_) | ArgoError::Forbidden(_) | ArgoError::NotFound(_) | ArgoError::Conflict(_) => {
                        DeliveryError::Refused(e.to_string())
                    }
                    e => DeliveryError::Backend(e.to_string()),
                })?,
            }
            .1;
            Ok(format!("{}: asked Argo CD to {summary}", r.name))
        }
        .boxed()
    }
}
