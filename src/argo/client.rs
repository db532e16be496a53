//! The Kubernetes side: kube-rs with the user's kubeconfig identity. Reads (list, get, revisions,
//! analysis runs, events), watches rollouts, asks the API server what the user may do, and sends
//! the planned patches with field manager `flightdeck`. Every call has a deadline: a hanging API
//! server becomes an error, never a frozen screen.

use std::path::Path;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};

use super::actions::{Body, Request, Target};
use super::listed::Listed;
use super::model::{ReplicaSet, Rollout};
use crate::delivery::{RolloutAction, Seen};

/// The field selector of the Events about one rollout (the API server indexes these fields).
fn about_rollout(name: &str) -> String {
    format!("involvedObject.kind=Rollout,involvedObject.name={name}")
}

/// The name flightdeck writes under (`managedFields`) and reports events as.
pub const FIELD_MANAGER: &str = "flightdeck";

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ArgoError {
    #[error("kubeconfig: {0}")]
    Config(String),
    #[error("not allowed: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("the rollout changed while the change was being sent; nothing more was sent — look again: {0}")]
    Conflict(String),
    #[error("the API server did not answer within {0}s")]
    Timeout(u64),
    #[error("refused: {0}")]
    Refused(String),
    #[error("API server error {code}: {message}")]
    Api { code: u16, message: String },
    #[error("cannot reach the API server: {0}")]
    Unreachable(String),
}

impl From<kube::Error> for ArgoError {
    fn from(e: kube::Error) -> Self {
        match e {
            kube::Error::Api(s) => match s.code {
                403 => ArgoError::Forbidden(s.message),
                404 => ArgoError::NotFound(s.message),
                409 => ArgoError::Conflict(s.message),
                code => ArgoError::Api { code, message: s.message },
            },
            other => ArgoError::Unreachable(other.to_string()),
        }
    }
}

pub fn rollout_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout"), "rollouts")
}

fn analysis_run_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AnalysisRun"), "analysisruns")
}

fn replica_set_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", "ReplicaSet"), "replicasets")
}

fn event_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Event"), "events")
}

/// An object from the API in our reading model.
fn read<T: serde::de::DeserializeOwned>(obj: &DynamicObject) -> Result<T, ArgoError> {
    let v = serde_json::to_value(obj).map_err(|e| ArgoError::Api { code: 0, message: format!("unreadable object: {e}") })?;
    serde_json::from_value(v).map_err(|e| ArgoError::Api { code: 0, message: format!("unreadable object: {e}") })
}

/// Whether the user may do something, with the API server's reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub allowed: bool,
    pub reason: String,
}

/// What the user may do to one rollout: spec patches (pause, resume, restart, undo) and status
/// patches (promote, abort, retry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permissions {
    pub patch: Access,
    pub patch_status: Access,
}

impl Permissions {
    /// Why the planned requests would be forbidden, if they would.
    pub fn denies(&self, requests: &[Request]) -> Option<String> {
        requests.iter().find_map(|q| {
            let a = match q.target {
                Target::RolloutStatus => &self.patch_status,
                Target::Rollout => &self.patch,
                Target::AnalysisRun(_) => return None,
            };
            (!a.allowed).then(|| {
                let what = if q.target == Target::RolloutStatus { "rollouts/status" } else { "rollouts" };
                format!("you may not patch {what} ({})", if a.reason.is_empty() { "no RBAC rule allows it" } else { &a.reason })
            })
        })
    }
}

/// A change seen on the watch.
#[derive(Clone, Debug, PartialEq)]
pub enum WatchUpdate {
    /// The watch (re)started: this is the complete set.
    Reset(Vec<Rollout>),
    Apply(Box<Rollout>),
    Delete(String),
    /// The watch failed; it retries with backoff.
    Error(String),
}

/// What an action did.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub sent: Vec<String>,
    /// The audit Event could not be recorded (the action itself went through).
    pub event_error: Option<String>,
}

#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
    pub context: String,
    pub default_namespace: String,
    pub timeout: Duration,
}

impl Cluster {
    /// Connects with a kubeconfig (`KUBECONFIG` or ~/.kube/config when None) and context (its
    /// current one when None).
    pub async fn connect(kubeconfig: Option<&Path>, context: Option<&str>, timeout: Duration) -> Result<Cluster, ArgoError> {
        let kc = match kubeconfig {
            Some(p) => Kubeconfig::read_from(p),
            None => Kubeconfig::read(),
        }
        .map_err(|e| ArgoError::Config(e.to_string()))?;
        let context = context.map(str::to_string).or_else(|| kc.current_context.clone()).unwrap_or_default();
        let options = KubeConfigOptions { context: Some(context.clone()), ..Default::default() };
        let mut config = kube::Config::from_custom_kubeconfig(kc, &options).await.map_err(|e| ArgoError::Config(e.to_string()))?;
        config.connect_timeout = Some(timeout);
        let default_namespace = config.default_namespace.clone();
        let client = kube::Client::try_from(config).map_err(|e| ArgoError::Config(e.to_string()))?;
        Ok(Cluster { client, context, default_namespace, timeout })
    }

    /// The contexts a kubeconfig offers.
    pub fn contexts(kubeconfig: Option<&Path>) -> Result<Vec<String>, ArgoError> {
        let kc = match kubeconfig {
            Some(p) => Kubeconfig::read_from(p),
            None => Kubeconfig::read(),
        }
        .map_err(|e| ArgoError::Config(e.to_string()))?;
        Ok(kc.contexts.into_iter().map(|c| c.name).collect())
    }

    /// A call with the cluster's deadline: a hanging API server becomes an error.
    pub(crate) async fn timed<T>(&self, f: impl std::future::Future<Output = Result<T, kube::Error>>) -> Result<T, ArgoError> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(r) => r.map_err(ArgoError::from),
            Err(_) => Err(ArgoError::Timeout(self.timeout.as_secs().max(1))),
        }
    }

    /// An API of objects read with their own (compact) model.
    pub(crate) fn api_of<K: kube::Resource<DynamicType = ApiResource, Scope = kube::core::DynamicResourceScope>>(
        &self,
        ar: &ApiResource,
        ns: Option<&str>,
    ) -> Api<K> {
        match ns {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, ar),
            None => Api::all_with(self.client.clone(), ar),
        }
    }

    pub(crate) fn api(&self, ar: &ApiResource, ns: Option<&str>) -> Api<DynamicObject> {
        match ns {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, ar),
            None => Api::all_with(self.client.clone(), ar),
        }
    }

    /// Rollouts in a namespace, or in all of them.
    pub async fn list(&self, ns: Option<&str>) -> Result<Vec<Rollout>, ArgoError> {
        let list = self.timed(self.api(&rollout_resource(), ns).list(&ListParams::default())).await?;
        list.items.iter().map(read).collect()
    }

    pub async fn get(&self, ns: &str, name: &str) -> Result<Rollout, ArgoError> {
        let obj = self.timed(self.api(&rollout_resource(), Some(ns)).get(name)).await?;
        read(&obj)
    }

    /// The rollout's ReplicaSets (its revisions), newest first.
    pub async fn revisions(&self, r: &Rollout) -> Result<Vec<ReplicaSet>, ArgoError> {
        let selector = r.label_selector();
        let lp = if selector.is_empty() { ListParams::default() } else { ListParams::default().labels(&selector) };
        let list = self.timed(self.api(&replica_set_resource(), Some(&r.metadata.namespace)).list(&lp)).await?;
        let mut sets: Vec<ReplicaSet> = list.items.iter().map(read).collect::<Result<Vec<ReplicaSet>, _>>()?;
        sets.retain(|rs| rs.owned_by(r));
        sets.sort_by_key(|rs| std::cmp::Reverse(rs.revision()));
        Ok(sets)
    }

    /// Analysis runs the rollout owns, as the API returns them.
    pub async fn analysis_runs(&self, r: &Rollout) -> Result<Vec<Value>, ArgoError> {
        let list = self.timed(self.api(&analysis_run_resource(), Some(&r.metadata.namespace)).list(&ListParams::default())).await?;
        Ok(list
            .items
            .iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .filter(|v| {
                v.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|os| os.iter().any(|o| o["uid"].as_str() == Some(&r.metadata.uid)))
            })
            .collect())
    }

    /// Kubernetes Events about the rollout, selected by the API server.
    pub async fn events(&self, r: &Rollout) -> Result<Vec<Value>, ArgoError> {
        // Only this rollout's: a namespace can hold thousands of Events about everything else.
        let params = ListParams::default().fields(&about_rollout(&r.metadata.name));
        let list = self.timed(self.api(&event_resource(), Some(&r.metadata.namespace)).list(&params)).await?;
        Ok(list
            .items
            .iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .filter(|v| v["involvedObject"]["kind"] == "Rollout" && v["involvedObject"]["name"].as_str() == Some(&r.metadata.name))
            .collect())
    }

    async fn can_i(&self, ns: &str, name: &str, subresource: Option<&str>) -> Result<Access, ArgoError> {
        self.access(ResourceAttributes {
            group: Some("argoproj.io".into()),
            resource: Some("rollouts".into()),
            subresource: subresource.map(str::to_string),
            verb: Some("patch".into()),
            namespace: Some(ns.into()),
            name: Some(name.into()),
            ..Default::default()
        })
        .await
    }

    /// Asks the API server whether the user may do what `attributes` say (SelfSubjectAccessReview).
    pub(crate) async fn access(&self, attributes: ResourceAttributes) -> Result<Access, ArgoError> {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec { resource_attributes: Some(attributes), ..Default::default() },
            ..Default::default()
        };
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        let answer = self.timed(api.create(&PostParams::default(), &review)).await?;
        let status = answer.status.unwrap_or_default();
        Ok(Access { allowed: status.allowed, reason: status.reason.unwrap_or_default() })
    }

    /// Who the API server takes the user to be (SelfSubjectReview, Kubernetes 1.28+); None where
    /// the server does not offer it.
    pub async fn user(&self) -> Result<Option<String>, ArgoError> {
        use k8s_openapi::api::authentication::v1::SelfSubjectReview;
        let api: Api<SelfSubjectReview> = Api::all(self.client.clone());
        match self.timed(api.create(&PostParams::default(), &SelfSubjectReview::default())).await {
            Ok(review) => Ok(review.status.and_then(|s| s.user_info).and_then(|u| u.username)),
            Err(ArgoError::NotFound(_) | ArgoError::Api { code: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Asks the API server what the user may do to this rollout.
    pub async fn permissions(&self, ns: &str, name: &str) -> Result<Permissions, ArgoError> {
        Ok(Permissions { patch: self.can_i(ns, name, None).await?, patch_status: self.can_i(ns, name, Some("status")).await? })
    }

    /// Sends planned requests in order; stops at the first failure.
    pub async fn send(&self, r: &Rollout, requests: &[Request]) -> Result<(), ArgoError> {
        let pp = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        let ns = Some(r.metadata.namespace.as_str());
        for q in requests {
            let (api, name) = match &q.target {
                Target::AnalysisRun(run) => (self.api(&analysis_run_resource(), ns), run.as_str()),
                _ => (self.api(&rollout_resource(), ns), r.metadata.name.as_str()),
            };
            match (&q.target, &q.body) {
                (Target::RolloutStatus, Body::Merge(v)) => {
                    self.timed(api.patch_status(name, &pp, &Patch::Merge(v))).await?;
                }
                (_, Body::Merge(v)) => {
                    self.timed(api.patch(name, &pp, &Patch::Merge(v))).await?;
                }
                (_, Body::Json(v)) => {
                    let ops: json_patch::Patch =
                        serde_json::from_value(v.clone()).map_err(|e| ArgoError::Refused(format!("not a JSON patch: {e}")))?;
                    self.timed(api.patch(name, &pp, &Patch::<()>::Json(ops))).await?;
                }
            }
        }
        Ok(())
    }

    /// Records who did what on the rollout as a Kubernetes Event, for everyone watching it.
    pub async fn record_event(&self, r: &Rollout, action: &RolloutAction, actor: &str, reason: &str) -> Result<(), ArgoError> {
        let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let event = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"generateName": format!("{}.", r.metadata.name), "namespace": r.metadata.namespace},
            "involvedObject": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": r.metadata.name,
                               "namespace": r.metadata.namespace, "uid": r.metadata.uid},
            "reason": format!("Flightdeck{}", action.verb().split('-').map(crate::util::capitalised).collect::<String>()),
            "message": if reason.is_empty() {
                format!("{} by {actor} via flightdeck", action.verb())
            } else {
                format!("{} by {actor} via flightdeck: {reason}", action.verb())
            },
            "type": "Normal",
            "source": {"component": FIELD_MANAGER},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "reportingComponent": FIELD_MANAGER,
        });
        let obj: DynamicObject = serde_json::from_value(event).map_err(|e| ArgoError::Refused(e.to_string()))?;
        self.timed(self.api(&event_resource(), Some(&r.metadata.namespace)).create(&PostParams::default(), &obj)).await?;
        Ok(())
    }

    /// Something changed among the rollout's ReplicaSets, analysis runs or Events: one signal per
    /// change that concerns it, from kube-rs watchers (which reconnect and relist by themselves).
    pub fn watch_related(&self, r: &Rollout) -> impl Stream<Item = ()> + Send + use<> {
        let ns = Some(r.metadata.namespace.as_str());
        let selector = r.label_selector();
        let sets = if selector.is_empty() { watcher::Config::default() } else { watcher::Config::default().labels(&selector) };
        // ReplicaSets come by the selector; analysis runs and Events only when about this rollout.
        let (uid, name) = (r.metadata.uid.clone(), r.metadata.name.clone());
        let owned = move |o: &DynamicObject| o.metadata.owner_references.as_ref().is_some_and(|os| os.iter().any(|x| x.uid == uid));
        let naming = move |o: &DynamicObject| {
            o.data["involvedObject"]["kind"] == "Rollout" && o.data["involvedObject"]["name"].as_str() == Some(&name)
        };
        let all = watcher::Config::default();
        let about = watcher::Config::default().fields(&about_rollout(&r.metadata.name));
        futures::stream::select_all([
            changes(watcher(self.api(&replica_set_resource(), ns), sets), |_| true),
            changes(watcher(self.api(&analysis_run_resource(), ns), all), owned),
            changes(watcher(self.api(&event_resource(), ns), about), naming),
        ])
    }

    /// Rollouts as they change, from a watch that relists after 410 Gone and reconnects with
    /// backoff after the API server drops it.
    pub fn watch(&self, ns: Option<&str>) -> impl Stream<Item = WatchUpdate> + Send + use<> {
        self.watch_renewed(ns, None)
    }

    /// `watch`, with the API server asked to end each watch after `renew_secs` (the watcher then
    /// lists again): a quiet but healthy cluster still says something that often, so silence
    /// beyond it means the connection or the server is stuck.
    pub fn watch_renewed(&self, ns: Option<&str>, renew_secs: Option<u32>) -> impl Stream<Item = WatchUpdate> + Send + use<> {
        let ar = rollout_resource();
        let api: Api<Listed> = match ns {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        };
        let mut buffer: Vec<Rollout> = Vec::new();
        // Pages of 250 where the server pages (kube's default is 500): a page is held while
        // it is parsed.
        let config = watcher::Config::default().page_size(250);
        let config = match renew_secs {
            Some(s) => config.timeout(s),
            None => config,
        };
        watcher(api, config).default_backoff().filter_map(move |ev| {
            let out = match ev {
                Ok(watcher::Event::Init) => {
                    buffer.clear();
                    None
                }
                Ok(watcher::Event::InitApply(o)) => {
                    buffer.push(o.rollout);
                    None
                }
                Ok(watcher::Event::InitDone) => Some(WatchUpdate::Reset(std::mem::take(&mut buffer))),
                Ok(watcher::Event::Apply(o)) => Some(WatchUpdate::Apply(Box::new(o.rollout))),
                Ok(watcher::Event::Delete(o)) => Some(WatchUpdate::Delete(o.rollout.key())),
                Err(e) => Some(WatchUpdate::Error(e.to_string())),
            };
            futures::future::ready(out)
        })
    }
}

/// One signal per change that `keep` is about (and one when a (re)list completes).
fn changes(
    events: impl Stream<Item = watcher::Result<watcher::Event<DynamicObject>>> + Send + 'static,
    keep: impl Fn(&DynamicObject) -> bool + Send + 'static,
) -> futures::stream::BoxStream<'static, ()> {
    events
        .default_backoff()
        .filter_map(move |ev| {
            let hit = match ev {
                Ok(watcher::Event::Apply(o) | watcher::Event::Delete(o)) => keep(&o),
                Ok(watcher::Event::InitDone) => true,
                _ => false,
            };
            futures::future::ready(hit.then_some(()))
        })
        .boxed()
}

/// Who acts and why; with `record_event`, a Kubernetes Event on the rollout says so too.
#[derive(Clone, Debug)]
pub struct By {
    pub actor: String,
    pub reason: String,
    pub record_event: bool,
}

/// Reads the rollout afresh, refuses if it moved on since `seen`, plans the action, sends it, and
/// (when asked) records an Event naming the actor.
pub async fn execute(
    cluster: &Cluster,
    ns: &str,
    name: &str,
    action: &RolloutAction,
    seen: Option<&Seen>,
    by: &By,
) -> Result<Outcome, ArgoError> {
    let now = jiff::Timestamp::now();
    let r = cluster.get(ns, name).await?;
    let fresh = super::actions::seen(&r, now);
    if let Some(pending) = fresh.pending.as_ref().filter(|_| super::actions::waits_for_controller(action)) {
        return Err(ArgoError::Refused(format!("{ns}/{name}: {pending}; nothing was sent, try again when it has")));
    }
    if let Some(seen) = seen {
        let changes = seen.changes(&fresh);
        if !changes.is_empty() {
            return Err(ArgoError::Refused(format!("{ns}/{name} moved on since you looked ({}); nothing was sent", changes.join(", "))));
        }
    }
    // Only this rollout's own analysis runs may be stopped through it (the journal and the Event
    // name the rollout).
    if let RolloutAction::TerminateAnalysis { run } = action {
        let owned = cluster.analysis_runs(&r).await?;
        if !owned.iter().any(|a| a.pointer("/metadata/name").and_then(Value::as_str) == Some(run.as_str())) {
            return Err(ArgoError::Refused(format!("{run} is not an analysis run of {ns}/{name}; nothing was sent")));
        }
    }
    let revisions = if matches!(action, RolloutAction::Undo { .. }) { cluster.revisions(&r).await? } else { Vec::new() };
    let requests = super::actions::plan(&r, action, &revisions, now).map_err(|e| ArgoError::Refused(e.to_string()))?;
    cluster.send(&r, &requests).await?;
    let event_error =
        if by.record_event { cluster.record_event(&r, action, &by.actor, &by.reason).await.err().map(|e| e.to_string()) } else { None };
    Ok(Outcome { sent: requests.iter().map(Request::describe).collect(), event_error })
}
