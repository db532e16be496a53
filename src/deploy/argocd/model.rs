//! An Argo CD Application as both ways in serve it (`argoproj.io/v1alpha1`, camelCase JSON): the
//! fields the cockpit shows and the actions check, read leniently (a field missing is empty) so
//! that an older or newer Argo CD still reads. The sources are kept as JSON: a rollback sends a
//! history entry's source back exactly as Argo CD recorded it.

use serde::Deserialize;
use serde_json::Value;

/// The annotation that asks the controller to compare the app with git again.
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";
/// Set beside it, so that two requests in a row are two requests.
pub const REFRESH_TIMESTAMP_ANNOTATION: &str = "argocd.argoproj.io/refresh-timestamp";

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct App {
    pub metadata: Metadata,
    pub spec: Spec,
    pub status: Status,
    /// The operation asked for and not yet taken up or finished (a sync, a rollback).
    pub operation: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Metadata {
    pub name: String,
    pub namespace: Option<String>,
    pub resource_version: Option<String>,
    pub annotations: std::collections::BTreeMap<String, String>,
    pub labels: std::collections::BTreeMap<String, String>,
    pub deletion_timestamp: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Spec {
    pub project: String,
    pub destination: Destination,
    pub source: Option<Value>,
    pub sources: Vec<Value>,
    pub sync_policy: Option<SyncPolicy>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Destination {
    pub server: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct SyncPolicy {
    pub automated: Option<Automated>,
    pub sync_options: Vec<String>,
    pub retry: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Automated {
    pub prune: bool,
    pub self_heal: bool,
    /// Absent means on (Argo CD's `IsAutomatedSyncEnabled`).
    pub enabled: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Status {
    pub sync: SyncStatus,
    pub health: HealthStatus,
    pub operation_state: Option<OperationState>,
    pub history: Vec<HistoryEntry>,
    pub resources: Vec<ResourceStatus>,
    pub conditions: Vec<Condition>,
    pub reconciled_at: Option<String>,
    pub summary: Summary,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct SyncStatus {
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub status: String,
    pub revision: Option<String>,
    pub revisions: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct HealthStatus {
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing` or `Unknown`.
    pub status: String,
    pub message: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct OperationState {
    /// `Running`, `Terminating`, `Succeeded`, `Failed` or `Error`.
    pub phase: String,
    pub message: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub operation: Value,
    pub sync_result: Option<SyncResult>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct SyncResult {
    pub revision: Option<String>,
    pub resources: Vec<ResourceResult>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct ResourceResult {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `Synced`, `SyncFailed`, `Pruned`, `PruneSkipped`.
    pub status: Option<String>,
    pub message: Option<String>,
    pub hook_phase: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct HistoryEntry {
    pub id: i64,
    pub revision: Option<String>,
    pub revisions: Vec<String>,
    pub deployed_at: Option<String>,
    pub deploy_started_at: Option<String>,
    pub source: Option<Value>,
    pub sources: Vec<Value>,
    pub initiated_by: Initiator,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Initiator {
    pub username: Option<String>,
    pub automated: bool,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct ResourceStatus {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub status: Option<String>,
    pub health: Option<HealthStatus>,
    pub requires_pruning: bool,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    pub last_transition_time: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Summary {
    pub images: Vec<String>,
}

impl App {
    /// Reads an Application from its JSON (as either way in serves it).
    pub fn from_json(mut value: Value) -> Result<App, String> {
        // A field set to null is a field not set (as Kubernetes and Argo CD read it).
        strip_nulls(&mut value);
        serde_json::from_value(value).map_err(|e| format!("not an Argo CD Application: {e}"))
    }

    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// Whether Argo CD syncs it by itself (a rollback needs this off).
    pub fn auto_sync(&self) -> bool {
        self.spec.sync_policy.as_ref().and_then(|p| p.automated.as_ref()).is_some_and(|a| a.enabled.unwrap_or(true))
    }

    pub fn multiple_sources(&self) -> bool {
        !self.spec.sources.is_empty()
    }

    /// An operation asked for, or one the controller still runs.
    pub fn operation_running(&self) -> bool {
        self.operation.is_some()
            || self.status.operation_state.as_ref().is_some_and(|o| matches!(o.phase.as_str(), "Running" | "Terminating"))
    }

    /// The revision deployed, short (a commit's first 7 characters; a tag or chart version whole).
    pub fn short_revision(&self) -> Option<String> {
        let rev = self.status.sync.revision.as_deref().or_else(|| self.status.sync.revisions.first().map(String::as_str))?;
        Some(short(rev).to_string())
    }

    /// The destination, for people: `cluster/namespace`.
    pub fn destination_text(&self) -> String {
        let d = &self.spec.destination;
        let cluster = d.name.clone().or_else(|| d.server.clone()).unwrap_or_else(|| "?".into());
        let cluster = if cluster == "https://kubernetes.default.svc" { "in-cluster".to_string() } else { cluster };
        format!("{cluster}/{}", d.namespace.as_deref().unwrap_or("-"))
    }

    /// The last history entry: what the last sync deployed.
    pub fn last_deployed(&self) -> Option<&HistoryEntry> {
        self.status.history.iter().max_by_key(|h| h.id)
    }

    /// What a list row keeps: without the resources (but its Argo Rollouts), the last operation's request and its
    /// per-resource results (the opened application reads them afresh). A thousand apps held
    /// for the overview then cost a few megabytes, not tens.
    pub fn for_list(mut self) -> App {
        // The Argo Rollouts it manages stay: a row shows the canary verdict of the one mapped.
        self.status.resources.retain(|r| r.kind == "Rollout" && r.group == "argoproj.io");
        if let Some(op) = self.status.operation_state.as_mut() {
            op.operation = Value::Null;
            op.sync_result = None;
        }
        self.status.conditions.truncate(1);
        self
    }

    /// Where it goes in a list of what needs a human first: 0 — out of sync in production,
    /// degraded or missing, an operation failed or under way; 1 — progressing, or out of sync
    /// elsewhere, or not known; 2 — synced and healthy.
    pub fn urgency(&self, production: bool) -> u8 {
        let (sync, health) = (self.status.sync.status.as_str(), self.status.health.status.as_str());
        let op = self.status.operation_state.as_ref().map(|o| o.phase.as_str());
        let operating = self.operation.is_some() || matches!(op, Some("Running" | "Terminating" | "Failed" | "Error"));
        if (production && sync == "OutOfSync") || matches!(health, "Degraded" | "Missing") || operating {
            0
        } else if sync == "Synced" && health == "Healthy" {
            2
        } else {
            1
        }
    }
}

pub(crate) fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// A revision for people: a commit's first 7 characters; a tag or chart version whole.
pub fn short(rev: &str) -> &str {
    if rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit()) { &rev[..7] } else { rev }
}
