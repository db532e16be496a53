//! What each action writes to an Application, and when it is refused — what the Argo CD API
//! server does (`server/application/application.go`: `Sync`, `Rollback`, `TerminateOperation`,
//! and `util/argo.SetAppOperation` and `RefreshApp`), done here for the Kubernetes way in, where
//! flightdeck writes the object itself. Pure: the confirmation shows the exact patch, and the
//! journal records it.
//!
//! Every write but a refresh carries the `resourceVersion` it was planned against, so the API
//! server refuses it (409) if the object changed in between, as Argo CD's own update does.

use serde_json::{Map, Value, json};

use super::model::{App, REFRESH_ANNOTATION, REFRESH_TIMESTAMP_ANNOTATION, short};

/// A resource of the app, for a partial sync.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResourceRef {
    #[serde(default)]
    pub group: String,
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub name: String,
}

/// The options of `argocd app sync` that flightdeck offers.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncOptions {
    #[serde(default)]
    pub prune: bool,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub apply_out_of_sync_only: bool,
    /// Only these resources (empty: the whole app).
    #[serde(default)]
    pub resources: Vec<ResourceRef>,
    /// A revision other than the app's target (refused while auto-sync is on).
    #[serde(default)]
    pub revision: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum AppAction {
    Sync(SyncOptions),
    /// Back to the revision and source of a history entry.
    Rollback {
        id: i64,
        #[serde(default)]
        prune: bool,
        #[serde(default)]
        dry_run: bool,
    },
    Refresh {
        hard: bool,
    },
    /// Stop the running operation.
    Terminate,
    AutoSync {
        on: bool,
    },
}

impl AppAction {
    pub fn verb(&self) -> &'static str {
        match self {
            AppAction::Sync(_) => "sync",
            AppAction::Rollback { .. } => "rollback",
            AppAction::Refresh { .. } => "refresh",
            AppAction::Terminate => "terminate",
            AppAction::AutoSync { .. } => "auto-sync",
        }
    }
}

/// A JSON merge patch for the Application, and what it does in words.
#[derive(Clone, Debug, PartialEq)]
pub struct Write {
    pub patch: Value,
    pub summary: String,
}

/// Why Argo CD would refuse the action: its own words where it has some.
pub type Refusal = String;

/// What `action` by `user` writes to `app` as read, or why it is refused. `now` stamps a refresh.
pub fn plan(app: &App, action: &AppAction, user: &str, now: &str) -> Result<Write, Refusal> {
    let name = app.name();
    match action {
        AppAction::Sync(o) => {
            refuse_if_deleting(app)?;
            let target = app.spec.source.as_ref().and_then(|s| s.get("targetRevision")).and_then(Value::as_str).unwrap_or("HEAD");
            if let Some(rev) = o.revision.as_deref().filter(|r| *r != target)
                && app.auto_sync()
                && !o.dry_run
            {
                return Err(format!("Cannot sync to {rev}: auto-sync currently set to {target}"));
            }
            refuse_if_operating(app)?;
            let mut sync = Map::new();
            if !app.multiple_sources()
                && let Some(source) = &app.spec.source
            {
                sync.insert("source".into(), source.clone());
            } else if app.multiple_sources() {
                sync.insert("sources".into(), Value::Array(app.spec.sources.clone()));
            }
            if let Some(rev) = &o.revision {
                sync.insert("revision".into(), json!(rev));
            }
            sync.insert("prune".into(), json!(o.prune));
            sync.insert("dryRun".into(), json!(o.dry_run));
            // As the API server: options given replace the app's own; none given, the app's apply.
            let mut options: Vec<String> = app.spec.sync_policy.as_ref().map(|p| p.sync_options.clone()).unwrap_or_default();
            if o.apply_out_of_sync_only {
                options = vec!["ApplyOutOfSyncOnly=true".into()];
            }
            if !options.is_empty() {
                sync.insert("syncOptions".into(), json!(options));
            }
            // `argocd app sync`'s default strategy, with its --force.
            sync.insert("syncStrategy".into(), json!({"hook": {"force": o.force}}));
            if !o.resources.is_empty() {
                sync.insert("resources".into(), json!(o.resources));
            }
            let mut op = json!({"sync": sync, "initiatedBy": {"username": user}});
            if let Some(retry) = app.spec.sync_policy.as_ref().and_then(|p| p.retry.clone()) {
                op["retry"] = retry;
            }
            let what = match (&o.revision, o.resources.len()) {
                (Some(r), 0) => format!("sync {name} to {r}"),
                (None, 0) => format!("sync {name}"),
                (Some(r), n) => format!("sync {n} resource(s) of {name} to {r}"),
                (None, n) => format!("sync {n} resource(s) of {name}"),
            };
            let how = [(o.prune, "prune"), (o.dry_run, "dry run"), (o.force, "force"), (o.apply_out_of_sync_only, "out-of-sync only")]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, w)| *w)
                .collect::<Vec<_>>();
            let summary = if how.is_empty() { what } else { format!("{what} ({})", how.join(", ")) };
            Ok(set_operation(app, op, summary))
        }
        AppAction::Rollback { id, prune, dry_run } => {
            refuse_if_deleting(app)?;
            if app.auto_sync() {
                return Err("rollback cannot be initiated when auto-sync is enabled".into());
            }
            let Some(entry) = app.status.history.iter().find(|h| h.id == *id) else {
                return Err(format!("application {name} does not have deployment with id {id}"));
            };
            if entry.source.as_ref().is_none_or(is_zero) && entry.sources.is_empty() {
                return Err("cannot rollback to revision deployed with Argo CD v0.11 or lower. sync to revision instead.".into());
            }
            refuse_if_operating(app)?;
            let mut sync = Map::new();
            if let Some(rev) = &entry.revision {
                sync.insert("revision".into(), json!(rev));
            }
            if !entry.revisions.is_empty() {
                sync.insert("revisions".into(), json!(entry.revisions));
            }
            sync.insert("dryRun".into(), json!(dry_run));
            sync.insert("prune".into(), json!(prune));
            if let Some(options) = app.spec.sync_policy.as_ref().map(|p| &p.sync_options).filter(|o| !o.is_empty()) {
                sync.insert("syncOptions".into(), json!(options));
            }
            sync.insert("syncStrategy".into(), json!({"apply": {}}));
            if let Some(source) = &entry.source {
                sync.insert("source".into(), source.clone());
            }
            if !entry.sources.is_empty() {
                sync.insert("sources".into(), json!(entry.sources));
            }
            let op = json!({"sync": sync, "initiatedBy": {"username": user}});
            let rev = entry.revision.as_deref().map(short).unwrap_or_default();
            Ok(set_operation(app, op, format!("roll {name} back to history {id} ({rev})")))
        }
        AppAction::Terminate => {
            if app.operation.is_none() || app.status.operation_state.is_none() {
                return Err("Unable to terminate operation. No operation is in progress".into());
            }
            let patch = json!({
                "metadata": {"resourceVersion": app.metadata.resource_version},
                "status": {"operationState": {"phase": "Terminating"}},
            });
            Ok(Write { patch, summary: format!("stop the operation running on {name}") })
        }
        AppAction::Refresh { hard } => {
            let kind = if *hard { "hard" } else { "normal" };
            let patch = json!({"metadata": {"annotations": {REFRESH_ANNOTATION: kind, REFRESH_TIMESTAMP_ANNOTATION: now}}});
            let what = if *hard { "hard refresh (manifests generated again)" } else { "refresh (compared with git again)" };
            Ok(Write { patch, summary: format!("{what} of {name}") })
        }
        AppAction::AutoSync { on } => {
            if *on == app.auto_sync() {
                return Err(format!("auto-sync of {name} is already {}", if *on { "on" } else { "off" }));
            }
            let automated = if *on { json!({"prune": false, "selfHeal": false}) } else { Value::Null };
            let patch = json!({
                "metadata": {"resourceVersion": app.metadata.resource_version},
                "spec": {"syncPolicy": {"automated": automated}},
            });
            Ok(Write { patch, summary: format!("turn auto-sync of {name} {}", if *on { "on" } else { "off" }) })
        }
    }
}

/// Sets the operation and clears the last one's state, against the version read.
fn set_operation(app: &App, op: Value, summary: String) -> Write {
    let patch = json!({
        "metadata": {"resourceVersion": app.metadata.resource_version},
        "operation": op,
        "status": {"operationState": null},
    });
    Write { patch, summary }
}

fn refuse_if_deleting(app: &App) -> Result<(), Refusal> {
    if app.metadata.deletion_timestamp.is_some() { Err("application is deleting".into()) } else { Ok(()) }
}

fn refuse_if_operating(app: &App) -> Result<(), Refusal> {
    if app.operation.is_some() {
        let phase = app.status.operation_state.as_ref().map(|o| o.phase.as_str()).unwrap_or("requested");
        return Err(format!("another operation is already in progress ({phase})"));
    }
    Ok(())
}

fn is_zero(v: &Value) -> bool {
    v.as_object().is_none_or(|o| o.values().all(|x| x.is_null() || x.as_str() == Some("")))
}

/// What the user saw of an app, for the check before an action is sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Seen {
    pub revision: Option<String>,
    pub sync: String,
    pub operation: Option<String>,
    pub auto_sync: bool,
}

impl Seen {
    pub fn of(app: &App) -> Seen {
        Seen {
            revision: app.status.sync.revision.clone(),
            sync: app.status.sync.status.clone(),
            operation: app.operation.as_ref().map(|_| app.status.operation_state.as_ref().map_or("requested".into(), |o| o.phase.clone())),
            auto_sync: app.auto_sync(),
        }
    }

    /// What moved on since, in words; None when the app is as seen.
    pub fn changed(&self, now: &App) -> Option<String> {
        let now = Seen::of(now);
        let mut what = Vec::new();
        if now.revision != self.revision {
            let r = |r: &Option<String>| r.as_deref().map(short).unwrap_or("none").to_string();
            what.push(format!("revision {} → {}", r(&self.revision), r(&now.revision)));
        }
        if now.operation != self.operation {
            let o = |o: &Option<String>| o.clone().unwrap_or_else(|| "none".into());
            what.push(format!("operation {} → {}", o(&self.operation), o(&now.operation)));
        }
        if now.sync != self.sync {
            what.push(format!("sync status {} → {}", self.sync, now.sync));
        }
        if now.auto_sync != self.auto_sync {
            what.push(format!("auto-sync {}", if now.auto_sync { "turned on" } else { "turned off" }));
        }
        (!what.is_empty()).then(|| what.join(", "))
    }
}

#[cfg(test)]
#[path = "ops_tests.rs"]
mod tests;
