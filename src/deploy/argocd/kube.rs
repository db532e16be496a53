//! The Kubernetes way in, for teams without access to the Argo CD API server: Applications read,
//! watched and written with the user's own kubeconfig identity, in the namespace Argo CD keeps
//! them in. What the API server would do for an action is done here (see `ops`), and the
//! cluster's RBAC decides who may (asked beforehand with a SelfSubjectAccessReview).

use futures::{Stream, StreamExt};
use k8s_openapi::api::authorization::v1::ResourceAttributes;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::runtime::{WatchStreamExt, watcher};

use super::listed::ListedApp;
use super::model::App;
use super::ops::{self, AppAction, Seen};
use super::windows::{SyncWindow, can_sync_manually};
use crate::argo::client::{Access, ArgoError, Cluster, FIELD_MANAGER};

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
