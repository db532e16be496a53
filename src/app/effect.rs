//! Effects are plain values describing I/O. The runner executes each on its own tokio task with a
//! timeout and sends the result back as an `Action`; the UI task never waits for them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::action::Action;
use crate::audit::{Draft, Journal};
use crate::ci::CiProvider;
use crate::domain::RunId;
use crate::ops::Approved;
use crate::ui::theme::{ColorDepth, Theme, ThemeSpec};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    LoadRuns {
        request: u64,
    },
    LoadLog {
        request: u64,
        run: RunId,
        job: String,
    },
    /// An authorised, confirmed change: journal intent, act, journal outcome.
    Execute(Box<Approved>),
    /// Record a refused attempt in the journal.
    Journal(Box<Draft>),
    LoadFindings {
        run: RunId,
    },
    LoadAcceptances,
    /// Analyse a service's canary over the last `window` seconds.
    Analyse {
        request: u64,
        service: String,
        window: i64,
    },
    LoadAudit {
        request: u64,
    },
    LoadTheme {
        name: String,
    },
    /// Watch Argo Rollouts in a context (None: the configured or current one) and namespace
    /// (None: all), replacing any watch under way.
    ArgoWatch {
        context: Option<String>,
        namespace: Option<String>,
    },
    /// Read an Argo Rollout's revisions, analysis runs, events and what the user may do, and read
    /// them again whenever they change (until another rollout is opened); None: stop following.
    ArgoDetail {
        key: Option<String>,
    },
    /// Demo only: change what the canary does (slow, erroring, healthy).
    InjectFault(crate::demo::fault::Fault),
    /// Leave the event loop (the loop cancels local runs and restores the terminal).
    Quit,
}

/// Longest any single effect may take before it is reported as failed.
const EFFECT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct EffectRunner {
    pub ci: Arc<dyn CiProvider>,
    pub actions: UnboundedSender<Action>,
    pub config_dir: Option<PathBuf>,
    pub depth: ColorDepth,
    pub journal: Journal,
    /// The risk acceptances file.
    pub acceptances: PathBuf,
    /// Analysed services with their Prometheus source.
    pub canary: Arc<std::collections::BTreeMap<String, (crate::metrics::Source, crate::metrics::ServiceSpec)>>,
    /// The demo canary's fault control, when running the demo.
    pub fault_url: Option<String>,
    /// NGINX canaries, when any are configured.
    pub rollouts: Option<crate::rollout::Controller>,
    /// Argo Rollouts, when a Kubernetes context is configured.
    pub argo: Option<Arc<ArgoRuntime>>,
}

/// The Kubernetes side shared by effects: the cluster of the current context, and the watch
/// task feeding the screen (replaced on a context or namespace switch).
pub struct ArgoRuntime {
    pub settings: crate::config::KubernetesSettings,
    cluster: tokio::sync::Mutex<Option<crate::argo::client::Cluster>>,
    watch: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Watches the opened rollout's ReplicaSets, analysis runs and Events, and re-reads them.
    detail_watch: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl ArgoRuntime {
    pub fn new(settings: crate::config::KubernetesSettings) -> ArgoRuntime {
        ArgoRuntime {
            settings,
            cluster: tokio::sync::Mutex::new(None),
            watch: std::sync::Mutex::new(None),
            detail_watch: std::sync::Mutex::new(None),
        }
    }

    async fn cluster(&self) -> Result<crate::argo::client::Cluster, String> {
        self.cluster.lock().await.clone().ok_or_else(|| "not connected to Kubernetes yet".to_string())
    }

    /// Connects to `context` and streams its rollouts to the reducer until replaced.
    async fn watch(&self, context: Option<String>, namespace: Option<String>, tx: UnboundedSender<Action>) {
        use super::action::ArgoMsg;
        use futures::StreamExt;
        let s = &self.settings;
        let context = context.or_else(|| s.context.clone());
        let cluster = match crate::argo::client::Cluster::connect(s.kubeconfig.as_deref(), context.as_deref(), s.timeout).await {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(Action::Argo(ArgoMsg::Failed(e.to_string())));
                return;
            }
        };
        let contexts = crate::argo::client::Cluster::contexts(s.kubeconfig.as_deref()).unwrap_or_default();
        let _ = tx.send(Action::Argo(ArgoMsg::Connected { context: cluster.context.clone(), contexts }));
        let stream = cluster.watch(namespace.as_deref());
        *self.cluster.lock().await = Some(cluster);
        let task = tokio::spawn(async move {
            let mut stream = Box::pin(stream);
            while let Some(update) = stream.next().await {
                if tx.send(Action::Argo(ArgoMsg::Watch(update))).is_err() {
                    break;
                }
            }
        });
        replace(&self.watch, Some(task));
        // The opened rollout belonged to the previous context.
        replace(&self.detail_watch, None);
    }

    /// Reads the opened rollout's details now, and again whenever its ReplicaSets, analysis runs
    /// or Events change (replacing the watch of the previously opened one).
    async fn follow_detail(self: Arc<Self>, key: String, tx: UnboundedSender<Action>) {
        use super::action::ArgoMsg;
        use futures::StreamExt;
        let first = self.detail(key.clone(), None).await;
        // What the user may do does not change with the rollout's objects: asked once.
        let permissions = first.permissions.clone();
        let _ = tx.send(Action::Argo(ArgoMsg::Detail(Box::new(first))));
        let Ok(cluster) = self.cluster().await else { return };
        let Some((ns, name)) = key.split_once('/') else { return };
        let Ok(r) = cluster.get(ns, name).await else { return };
        let related = cluster.watch_related(&r);
        let me = self.clone();
        let task = tokio::spawn(async move {
            let mut related = Box::pin(related);
            while related.next().await.is_some() {
                // A burst of changes (a rollout step touches several objects) is read once.
                tokio::time::sleep(Duration::from_millis(200)).await;
                while let Some(Some(())) = futures::FutureExt::now_or_never(related.next()) {}
                let d = me.detail(key.clone(), permissions.clone()).await;
                if tx.send(Action::Argo(ArgoMsg::Detail(Box::new(d)))).is_err() {
                    break;
                }
            }
        });
        replace(&self.detail_watch, Some(task));
    }

    /// Everything the detail shows besides the watched object; each part fails on its own.
    /// `permissions`, when already known, are not asked again.
    async fn detail(&self, key: String, permissions: Option<crate::argo::client::Permissions>) -> super::state::ArgoDetail {
        let mut d = super::state::ArgoDetail { key: key.clone(), loaded: true, ..Default::default() };
        let cluster = match self.cluster().await {
            Ok(c) => c,
            Err(e) => {
                d.error = Some(e);
                return d;
            }
        };
        let Some((ns, name)) = key.split_once('/') else { return d };
        let r = match cluster.get(ns, name).await {
            Ok(r) => r,
            Err(e) => {
                d.error = Some(e.to_string());
                return d;
            }
        };
        let mut problems = Vec::new();
        match cluster.revisions(&r).await {
            Ok(v) => d.revisions = v,
            Err(e) => problems.push(format!("revisions: {e}")),
        }
        match cluster.analysis_runs(&r).await {
            Ok(v) => d.analysis_runs = v,
            Err(e) => problems.push(format!("analysis runs: {e}")),
        }
        match cluster.events(&r).await {
            Ok(v) => d.events = v,
            Err(e) => problems.push(format!("events: {e}")),
        }
        match permissions {
            Some(p) => d.permissions = Some(p),
            None => match cluster.permissions(ns, name).await {
                Ok(p) => d.permissions = Some(p),
                Err(e) => problems.push(format!("access review: {e}")),
            },
        }
        d.error = (!problems.is_empty()).then(|| problems.join("; "));
        d
    }
}

/// Puts `task` in `slot`, ending the task that was there.
fn replace(slot: &std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>, task: Option<tokio::task::JoinHandle<()>>) {
    if let Ok(mut w) = slot.lock()
        && let Some(old) = std::mem::replace(&mut *w, task)
    {
        old.abort();
    }
}

impl Drop for ArgoRuntime {
    fn drop(&mut self) {
        replace(&self.watch, None);
        replace(&self.detail_watch, None);
    }
}

impl EffectRunner {
    pub fn run(&self, effect: Effect) {
        let ci = self.ci.clone();
        let tx = self.actions.clone();
        let config_dir = self.config_dir.clone();
        let depth = self.depth;
        let journal = self.journal.clone();
        let acceptances = self.acceptances.clone();
        let canary = self.canary.clone();
        let fault_url = self.fault_url.clone();
        let rollouts = self.rollouts.clone();
        let argo = self.argo.clone();
        tokio::spawn(async move {
            let action = match effect {
                Effect::LoadRuns { request } => Action::RunsLoaded { request, result: timed(ci.list_runs()).await },
                Effect::LoadLog { request, run, job } => {
                    let result = timed(ci.read_log(run, job.clone())).await;
                    Action::LogLoaded { request, run, job, result }
                }
                Effect::Execute(approved) => {
                    let op = approved.op.key();
                    let is_rollout =
                        matches!(approved.op, crate::ops::Operation::Rollout { .. } | crate::ops::Operation::StartRollout { .. });
                    let is_argo = matches!(approved.op, crate::ops::Operation::Argo { .. });
                    let work = async {
                        match (&rollouts, is_rollout, &argo, is_argo) {
                            (Some(c), true, _, _) => crate::ops::execute_rollout(c, &journal, *approved).await,
                            (None, true, _, _) => Err("no rollout is configured".to_string()),
                            (_, _, Some(a), true) => {
                                let cluster = a.cluster().await?;
                                crate::ops::execute_argo(&cluster, &journal, *approved, a.settings.record_events).await
                            }
                            (_, _, None, true) => Err("no Kubernetes is configured".to_string()),
                            _ => crate::ops::execute(ci.as_ref(), &journal, *approved).await,
                        }
                    };
                    let result = match tokio::time::timeout(EFFECT_TIMEOUT, work).await {
                        Ok(r) => r,
                        Err(_) => Err(format!("no answer within {}s; check the run and the audit journal", EFFECT_TIMEOUT.as_secs())),
                    };
                    Action::OpDone { op, result }
                }
                Effect::Journal(draft) => {
                    let j = journal.clone();
                    let result = tokio::task::spawn_blocking(move || j.append(*draft).map(|_| ()).map_err(|e| e.to_string()))
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()));
                    Action::Journaled(result)
                }
                Effect::LoadFindings { run } => {
                    let result = timed(ci.evidence(run)).await;
                    Action::FindingsLoaded { run, result }
                }
                Effect::Analyse { request, service, window } => {
                    let Some((source, spec)) = canary.get(&service).cloned() else { return };
                    let step = spec.analysis.interval.as_secs().max(1) as i64;
                    let history = (window / step).clamp(1, 2000) as usize;
                    let end = jiff::Timestamp::now().as_second() / step * step;
                    let result = crate::metrics::analyse_with_history(&source, &spec, end, history).await;
                    Action::CanaryLoaded { request, service, result: Box::new(result) }
                }
                Effect::LoadAcceptances => {
                    let result = tokio::task::spawn_blocking(move || crate::findings::Acceptances::load(&acceptances))
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()));
                    Action::AcceptancesLoaded(result)
                }
                Effect::LoadAudit { request } => {
                    let j = journal.clone();
                    let result = tokio::task::spawn_blocking(move || j.read().map_err(|e| e.to_string()))
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()));
                    Action::AuditLoaded { request, result }
                }
                Effect::LoadTheme { name } => {
                    let result =
                        tokio::task::spawn_blocking(move || ThemeSpec::load(&name, config_dir.as_deref()).map(|s| Theme::new(&s, depth)))
                            .await
                            .unwrap_or_else(|e| Err(e.to_string()));
                    Action::ThemeLoaded(result)
                }
                Effect::InjectFault(fault) => {
                    let Some(url) = fault_url else {
                        let _ = tx.send(Action::FaultInjected(Err("faults can only be injected in the demo".into())));
                        return;
                    };
                    let url = format!("{url}/{fault}");
                    let result = match crate::demo::http::call("POST", &url, Duration::from_secs(5)).await {
                        Ok((200, _)) => Ok(fault),
                        Ok((status, body)) => Err(format!("the demo canary answered {status}: {}", body.trim())),
                        Err(e) => Err(format!("cannot reach the demo canary at {url}: {e}")),
                    };
                    Action::FaultInjected(result)
                }
                Effect::ArgoWatch { context, namespace } => {
                    if let Some(a) = argo {
                        a.watch(context, namespace, tx).await;
                    }
                    return;
                }
                Effect::ArgoDetail { key } => {
                    match (argo, key) {
                        (Some(a), Some(key)) => a.follow_detail(key, tx).await,
                        (Some(a), None) => replace(&a.detail_watch, None),
                        (None, _) => {}
                    }
                    return;
                }
                Effect::Quit => return,
            };
            let _ = tx.send(action);
        });
    }
}

async fn timed<T, E: std::fmt::Display>(fut: impl std::future::Future<Output = Result<T, E>>) -> Result<T, String> {
    match tokio::time::timeout(EFFECT_TIMEOUT, fut).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {}s", EFFECT_TIMEOUT.as_secs())),
    }
}
