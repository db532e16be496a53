//! The Kubernetes side of the runtime: the cluster of the current context, the watch feeding the
//! screen, and the watchers of the opened rollout.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::app::action::{Action, ArgoMsg};

/// The Kubernetes side shared by effects: the cluster of the current context, and the watch
/// task feeding the screen (replaced on a context or namespace switch).
pub struct ArgoRuntime {
    pub settings: crate::config::KubernetesSettings,
    cluster: tokio::sync::Mutex<Option<crate::argo::client::Cluster>>,
    watch: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Watches the opened rollout's ReplicaSets, analysis runs and Events, and re-reads them.
    pub(super) detail_watch: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
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

    pub(super) async fn cluster(&self) -> Result<crate::argo::client::Cluster, String> {
        self.cluster.lock().await.clone().ok_or_else(|| "not connected to Kubernetes yet".to_string())
    }

    /// Connects to `context` and streams its rollouts to the reducer until replaced.
    pub(super) async fn watch(&self, context: Option<String>, namespace: Option<String>, tx: UnboundedSender<Action>) {
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
    pub(super) async fn follow_detail(self: Arc<Self>, key: String, tx: UnboundedSender<Action>) {
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
    async fn detail(&self, key: String, permissions: Option<crate::argo::client::Permissions>) -> crate::app::state::ArgoDetail {
        let mut d = crate::app::state::ArgoDetail { key: key.clone(), loaded: true, ..Default::default() };
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
pub(super) fn replace(slot: &std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>, task: Option<tokio::task::JoinHandle<()>>) {
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
