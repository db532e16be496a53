//! The Kubernetes way in, for teams without access to the Argo CD API server: Applications read,
//! watched and written with the user's own kubeconfig identity, in the namespace Argo CD keeps
//! them in. What the API server would do for an action is done here (see `ops`), and the
//! cluster's RBAC decides who may (asked beforehand with a SelfSubjectAccessReview).

use std::collections::BTreeSet;

use futures::{Stream, StreamExt};
use k8s_openapi::api::authorization::v1::ResourceAttributes;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::runtime::{WatchStreamExt, watcher};

use super::listed::ListedApp;
use super::model::App;
use super::ops::{self, AppAction, Seen};
use super::tree::Tree;
use super::windows::{SyncWindow, can_sync_manually};
use crate::argo::client::{Access, ArgoError, Cluster, FIELD_MANAGER};

/// The cluster Argo CD runs in, as a destination names it.
const IN_CLUSTER: &str = "https://kubernetes.default.svc";
/// The most ReplicaSets or Pods read from one namespace for a tree.
const OWNED_LIMIT: u32 = 2000;

/// Where Argo CD keeps its Applications unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "argocd";

fn project_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AppProject"), "appprojects")
}

pub fn application_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"), "applications")
}

/// A change seen on the watch of the Applications.
#[derive(Clone, Debug, PartialEq)]
pub enum AppUpdate {
    /// The watch (re)started: this is the whole set.
    Reset(Vec<App>),
    Apply(Box<App>),
    Delete(String),
    /// The watch failed; it starts again with backoff.
    Error(String),
}

#[derive(Clone)]
pub struct KubeApps {
    cluster: Cluster,
    namespace: String,
}

/// An Application from the API, its body read where it lies (no copy of the whole object).
fn read_owned(obj: DynamicObject) -> Result<App, ArgoError> {
    let unreadable = |message: String| ArgoError::Api { code: 0, message };
    let meta = serde_json::to_value(&obj.metadata).map_err(|e| unreadable(format!("unreadable Application: {e}")))?;
    let mut body = obj.data;
    if let Some(o) = body.as_object_mut() {
        o.insert("metadata".into(), meta);
    }
    App::from_json(body).map_err(unreadable)
}

impl KubeApps {
    pub fn new(cluster: Cluster, namespace: Option<&str>) -> KubeApps {
        KubeApps { cluster, namespace: namespace.unwrap_or(DEFAULT_NAMESPACE).to_string() }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub async fn list(&self) -> Result<Vec<App>, ArgoError> {
        let api = self.cluster.api(&application_resource(), Some(&self.namespace));
        let list = self.cluster.timed(api.list(&ListParams::default())).await?;
        list.items.into_iter().map(|o| read_owned(o).map(App::for_list)).collect()
    }

    pub async fn get(&self, name: &str) -> Result<App, ArgoError> {
        let api = self.cluster.api(&application_resource(), Some(&self.namespace));
        read_owned(self.cluster.timed(api.get(name)).await?)
    }

    /// The sync windows of a project (none when the project cannot be read: Argo CD's own
    /// `default` project may not exist as an object the user can see).
    pub async fn windows(&self, project: &str) -> Result<Vec<SyncWindow>, ArgoError> {
        let api = self.cluster.api(&project_resource(), Some(&self.namespace));
        match self.cluster.timed(api.get(project)).await {
            Ok(p) => {
                let windows = p.data.pointer("/spec/syncWindows").cloned().unwrap_or_default();
                Ok(serde_json::from_value(windows).unwrap_or_default())
            }
            Err(ArgoError::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// The app's resource tree: its managed resources and, where they run in this cluster, what
    /// they own. Argo CD's controller reads every destination cluster; with only the user's
    /// kubeconfig, another cluster's resources show at the top level.
    pub async fn tree(&self, app: &App) -> Result<Tree, ArgoError> {
        let d = &app.spec.destination;
        let here = d.server.as_deref() == Some(IN_CLUSTER) || d.name.as_deref() == Some("in-cluster");
        if !here {
            return Ok(Tree::top_level(
                app,
                Some(format!("{} is another cluster; the Argo CD API server reads it", app.destination_text())),
            ));
        }
        let namespaces: BTreeSet<&str> = app.status.resources.iter().map(|r| r.namespace.as_str()).filter(|ns| !ns.is_empty()).collect();
        let mut owned = Vec::new();
        for ns in namespaces {
            for (group, version, kind, plural) in [("apps", "v1", "ReplicaSet", "replicasets"), ("", "v1", "Pod", "pods")] {
                let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
                let api = self.cluster.api(&ar, Some(ns));
                match self.cluster.timed(api.list(&ListParams::default().limit(OWNED_LIMIT))).await {
                    Ok(list) => owned.extend(list.items.into_iter().filter_map(|o| {
                        let mut v = serde_json::to_value(o).ok()?;
                        // A listed item carries no kind of its own.
                        v["kind"] = kind.into();
                        v["apiVersion"] = ar.api_version.clone().into();
                        Some(v)
                    })),
                    // What the user may not list is left out of the tree, not an error for it.
                    Err(ArgoError::Forbidden(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(Tree::with_owned(app, &owned))
    }

    /// The Kubernetes Events about the Application itself (Argo CD's controller records syncs,
    /// health changes and operation results on it).
    pub async fn events(&self, name: &str) -> Result<Vec<serde_json::Value>, ArgoError> {
        let fields = format!("involvedObject.kind=Application,involvedObject.name={name}");
        let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Event"), "events");
        let list = self.cluster.timed(self.cluster.api(&ar, Some(&self.namespace)).list(&ListParams::default().fields(&fields))).await?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .filter(|v| v["involvedObject"]["kind"] == "Application" && v["involvedObject"]["name"].as_str() == Some(name))
            .collect())
    }

    /// Whether the user may change the Application (every action is a patch of it).
    pub async fn may_change(&self, name: &str) -> Result<Access, ArgoError> {
        self.cluster
            .access(ResourceAttributes {
                group: Some("argoproj.io".into()),
                resource: Some("applications".into()),
                verb: Some("patch".into()),
                namespace: Some(self.namespace.clone()),
                name: Some(name.into()),
                ..Default::default()
            })
            .await
    }

    /// Reads the app afresh, refuses if it moved on since `seen` (what the user looked at),
    /// plans the action as Argo CD would and writes it. The write carries the version just read:
    /// a change in between makes the API server refuse it (409), and nothing is sent again.
    pub async fn act(&self, name: &str, action: &AppAction, seen: Option<&Seen>, user: &str) -> Result<(App, String), ArgoError> {
        let app = self.get(name).await?;
        if let Some(changed) = seen.and_then(|s| s.changed(&app)) {
            return Err(ArgoError::Refused(format!("{name} moved on since you looked ({changed}); look again")));
        }
        // As the API server: a sync goes only where the project's sync windows let a manual one.
        if matches!(action, AppAction::Sync(_)) {
            let windows = self.windows(&app.spec.project).await?;
            can_sync_manually(&windows, &app, jiff::Timestamp::now()).map_err(ArgoError::Refused)?;
        }
        let now = jiff::Timestamp::now().to_string();
        let write = ops::plan(&app, action, user, &now).map_err(ArgoError::Refused)?;
        let api = self.cluster.api(&application_resource(), Some(&self.namespace));
        let pp = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        let written = self.cluster.timed(api.patch(name, &pp, &Patch::Merge(&write.patch))).await?;
        Ok((read_owned(written)?, write.summary))
    }

    /// The Applications as they change: the whole set when the watch (re)starts, then each change.
    pub fn watch(&self) -> impl Stream<Item = AppUpdate> + Send + use<> {
        let api: kube::Api<ListedApp> = self.cluster.api_of(&application_resource(), Some(&self.namespace));
        let mut buffer: Vec<App> = Vec::new();
        watcher(api, watcher::Config::default().page_size(250)).default_backoff().filter_map(move |ev| {
            let out = match ev {
                Ok(watcher::Event::Init) => {
                    buffer.clear();
                    None
                }
                Ok(watcher::Event::InitApply(o)) => {
                    buffer.push(o.app);
                    None
                }
                Ok(watcher::Event::InitDone) => Some(AppUpdate::Reset(std::mem::take(&mut buffer))),
                Ok(watcher::Event::Apply(o)) => Some(AppUpdate::Apply(Box::new(o.app))),
                Ok(watcher::Event::Delete(o)) => Some(AppUpdate::Delete(o.app.metadata.name)),
                Err(e) => Some(AppUpdate::Error(e.to_string())),
            };
            futures::future::ready(out)
        })
    }
}
