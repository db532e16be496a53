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
    RolloutProvider, Section, Seen, TimelineEntry,
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
}

fn backend_error(e: impl std::fmt::Display) -> DeliveryError {
    DeliveryError::Backend(e.to_string())
}

impl ArgoCdProvider {
    pub fn new(backend: Backend, environments: BTreeMap<String, String>, production: BTreeSet<String>, actor: String) -> ArgoCdProvider {
        ArgoCdProvider { backend, environments, production, actor }
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
            match Connection::find(None).map_err(backend_error)? {
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
            service: None,
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
    /// The sync windows that apply to the app, said for people, and why a manual sync is blocked
    /// now (None: it may go).
    async fn windows(&self, app: &App) -> Result<(Vec<String>, Option<String>), DeliveryError> {
        match &self.backend {
            Backend::Server(s) => {
                let w = s.windows(app.name()).await.map_err(backend_error)?;
                let lines = w
                    .assigned
                    .iter()
                    .map(|x| format!("{}{}", x.describe(), if w.active.contains(x) { " — active now" } else { "" }))
                    .collect();
                let blocked = (!w.can_sync).then(|| {
                    let which = w.active.iter().find(|x| x.kind == "deny").or(w.assigned.first()).map(|x| x.describe()).unwrap_or_default();
                    format!("cannot sync: blocked by sync window ({which})")
                });
                Ok((lines, blocked))
            }
            Backend::Kube(k) => {
                let windows = k.get().await?.windows(&app.spec.project).await.map_err(backend_error)?;
                let now = Timestamp::now();
                Ok((super::windows::describe_for(&windows, app, now), super::windows::can_sync_manually(&windows, app, now).err()))
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
            let mut sections = Vec::new();
            if let Some(op) = &app.status.operation_state {
                let mut lines = vec![format!("{} — {}", op.phase, excerpt(op.message.as_deref().unwrap_or(""), 300))];
                if let Some(result) = &op.sync_result {
                    for res in &result.resources {
                        lines.push(format!(
                            "{} {}/{} {}",
                            res.status.as_deref().unwrap_or("-"),
                            excerpt(&res.kind, 60),
                            excerpt(&res.name, 100),
                            excerpt(res.message.as_deref().unwrap_or(""), 200)
                        ));
                    }
                }
                sections.push(Section { title: "Last operation".into(), lines });
            }
            let out_of_sync: Vec<String> = app
                .status
                .resources
                .iter()
                .map(|res| {
                    let health = res.health.as_ref().map(|h| h.status.as_str()).unwrap_or("-");
                    format!(
                        "{} {}/{} {} · {}",
                        if res.status.as_deref() == Some("OutOfSync") { "≠" } else { "=" },
                        excerpt(&res.kind, 60),
                        excerpt(&res.name, 100),
                        res.status.as_deref().unwrap_or("-"),
                        health
                    )
                })
                .collect();
            if !out_of_sync.is_empty() {
                sections.push(Section { title: "Resources".into(), lines: out_of_sync });
            }
            if !app.status.conditions.is_empty() {
                sections.push(Section {
                    title: "Conditions".into(),
                    lines: app
                        .status
                        .conditions
                        .iter()
                        .map(|c| format!("{}: {}", excerpt(&c.kind, 60), excerpt(&c.message, 300)))
                        .collect(),
                });
            }
            let timeline = app
                .status
                .history
                .iter()
                .map(|h| TimelineEntry {
                    at: h.deployed_at.as_deref().and_then(|t| t.parse().ok()),
                    text: format!(
                        "#{} {} by {}",
                        h.id,
                        h.revision.as_deref().map(short).unwrap_or("-"),
                        if h.initiated_by.automated {
                            "auto-sync".to_string()
                        } else {
                            excerpt(h.initiated_by.username.as_deref().unwrap_or("?"), 80)
                        }
                    ),
                })
                .collect();
            let source = app.spec.source.as_ref().map(|s| {
                format!(
                    "{} {} @ {}",
                    excerpt(s["repoURL"].as_str().unwrap_or("?"), 200),
                    excerpt(s["path"].as_str().or(s["chart"].as_str()).unwrap_or(""), 100),
                    excerpt(s["targetRevision"].as_str().unwrap_or("HEAD"), 60)
                )
            });
            // The history as revisions to roll back to, newest first (the undo picker's list).
            let last = app.last_deployed().map(|h| h.id);
            let mut revisions: Vec<crate::delivery::Revision> = app
                .status
                .history
                .iter()
                .map(|h| crate::delivery::Revision {
                    number: h.id,
                    label: format!(
                        "{} · by {}",
                        h.revision.as_deref().map(short).unwrap_or("-"),
                        if h.initiated_by.automated {
                            "auto-sync".to_string()
                        } else {
                            excerpt(h.initiated_by.username.as_deref().unwrap_or("?"), 80)
                        }
                    ),
                    current: Some(h.id) == last,
                    created: h.deployed_at.as_deref().and_then(|t| t.parse().ok()),
                })
                .collect();
            revisions.sort_by_key(|r| std::cmp::Reverse(r.number));
            let mut denied = self.denied(&app).await.unwrap_or_default();
            let (window_lines, blocked) = self.windows(&app).await.unwrap_or_else(|e| (vec![format!("cannot read them: {e}")], None));
            if !window_lines.is_empty() {
                sections.push(Section { title: "Sync windows".into(), lines: window_lines });
            }
            if let Some(why) = blocked {
                denied.entry("sync".into()).or_insert(why);
            }
            Ok(Detail {
                reference: Some(r),
                loaded: true,
                about: vec![
                    format!(
                        "Argo CD application in project {} → {} ({})",
                        excerpt(&app.spec.project, 60),
                        app.destination_text(),
                        self.way_in()
                    ),
                    source.unwrap_or_else(|| format!("{} sources", app.spec.sources.len())),
                    format!("auto-sync {}", if app.auto_sync() { "on" } else { "off" }),
                ],
                sections,
                timeline,
                revisions,
                permissions: Some(Permissions { denied, authenticated: None }),
                native: Native::new(app),
                ..Detail::default()
            })
        }
        .boxed()
    }

    fn permissions(&self, r: RolloutRef) -> BoxFuture<'_, Result<Permissions, DeliveryError>> {
        async move {
            let app = self.app(&r.name).await?;
            let mut denied = self.denied(&app).await?;
            if let (_, Some(why)) = self.windows(&app).await? {
                denied.entry("sync".into()).or_insert(why);
            }
            Ok(Permissions { denied, authenticated: None })
        }
        .boxed()
    }

    fn plan(&self, release: &Release, detail: Option<&Detail>, action: &RolloutAction, now: Timestamp) -> Result<Plan, PlanError> {
        let app = release.native.get::<App>().ok_or_else(|| PlanError::Invalid(format!("{}: not read yet", release.reference)))?;
        let wanted = app_action(app, action)?;
        let write = ops::plan(app, &wanted, &self.actor, &now.to_string()).map_err(PlanError::Invalid)?;
        let what = match &self.backend {
            Backend::Server(_) => format!("Argo CD API server: {} of application {}.", wanted.verb(), app.name()),
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
        })
    }

    fn execute(&self, r: RolloutRef, action: RolloutAction, seen: Option<Seen>, by: By) -> BoxFuture<'_, Result<String, DeliveryError>> {
        async move {
            let app = self.app(&r.name).await?;
            if let Some(seen) = seen {
                let changes = seen.changes(&seen_of(&app));
                if !changes.is_empty() {
                    return Err(DeliveryError::Refused(format!(
                        "{} moved on since you looked ({}); nothing was sent",
                        r.name,
                        changes.join(", ")
                    )));
                }
            }
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
