//! Flightdeck's actions on a release, in Argo CD's terms.

use super::model::App;
use super::ops::{AppAction, ResourceRef, SyncOptions};
use crate::delivery::{PlanError, RolloutAction};

/// A resource named on the command line: `KIND/NAME`, or `GROUP/KIND/NAMESPACE/NAME`. The short
/// form is found among the app's resources when it was read whole (Argo CD matches a resource
/// by its group too: `Rollout/web` is `argoproj.io`'s).
fn resource(app: &App, text: &str) -> Result<ResourceRef, PlanError> {
    let parts: Vec<&str> = text.split('/').collect();
    match parts.as_slice() {
        [kind, name] if !app.status.resources.is_empty() => {
            let found: Vec<_> = app.status.resources.iter().filter(|r| r.kind == *kind && r.name == *name).collect();
            match found.as_slice() {
                [one] => Ok(ResourceRef {
                    group: one.group.clone(),
                    kind: one.kind.clone(),
                    namespace: one.namespace.clone(),
                    name: one.name.clone(),
                }),
                [] => Err(PlanError::Invalid(format!("{} manages no {text}", app.name()))),
                several => Err(PlanError::Invalid(format!(
                    "{text} is in several namespaces ({}): name it GROUP/KIND/NAMESPACE/NAME",
                    several.iter().map(|r| r.namespace.as_str()).collect::<Vec<_>>().join(", ")
                ))),
            }
        }
        [kind, name] => Ok(ResourceRef { group: String::new(), kind: kind.to_string(), namespace: String::new(), name: name.to_string() }),
        [group, kind, namespace, name] => {
            Ok(ResourceRef { group: group.to_string(), kind: kind.to_string(), namespace: namespace.to_string(), name: name.to_string() })
        }
        _ => Err(PlanError::Invalid(format!("`{text}` is not a resource: KIND/NAME or GROUP/KIND/NAMESPACE/NAME"))),
    }
}

/// The action in Argo CD's terms, for this app.
pub fn app_action(app: &App, action: &RolloutAction) -> Result<AppAction, PlanError> {
    Ok(match action {
        RolloutAction::Sync { prune, dry_run, force, out_of_sync_only, revision, resources } => AppAction::Sync(SyncOptions {
            prune: *prune,
            dry_run: *dry_run,
            force: *force,
            apply_out_of_sync_only: *out_of_sync_only,
            revision: revision.clone(),
            resources: resources.iter().map(|r| resource(app, r)).collect::<Result<_, _>>()?,
        }),
        RolloutAction::Refresh { hard } => AppAction::Refresh { hard: *hard },
        RolloutAction::TerminateOperation => AppAction::Terminate,
        RolloutAction::AutoSync { on } => AppAction::AutoSync { on: *on },
        RolloutAction::Undo { to_revision } => {
            // The history entry before the one deployed now, unless one is named.
            let id = match to_revision {
                Some(id) => *id,
                None => {
                    let mut ids: Vec<i64> = app.status.history.iter().map(|h| h.id).collect();
                    ids.sort();
                    ids.iter()
                        .rev()
                        .nth(1)
                        .copied()
                        .ok_or_else(|| PlanError::NothingToDo(format!("{} has no earlier deployment to roll back to", app.name())))?
                }
            };
            AppAction::Rollback { id, prune: false, dry_run: false }
        }
        other => {
            return Err(PlanError::Invalid(format!(
                "{} is an Argo CD application: `{}` is for rollouts (sync, rollback, refresh, terminate-operation and auto-sync are its actions)",
                app.name(),
                other.verb()
            )));
        }
    })
}
