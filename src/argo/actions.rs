//! Exactly what each action sends, as the Argo Rollouts plugin sends it: status changes to the
//! `/status` subresource, spec changes to the main resource, merge patches (a JSON patch for
//! undo), status first. Planning is pure so that every body can be checked, shown before it is
//! sent, and refused when it would do nothing or the wrong thing.

use serde_json::{Value, json};

use super::model::{HASH_LABEL, ReplicaSet, Rollout};
use crate::delivery::{PlanError, RolloutAction};

/// Which object a request goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Rollout,
    RolloutStatus,
    AnalysisRun(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Merge(Value),
    Json(Value),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub target: Target,
    pub body: Body,
}

impl Request {
    fn status(v: Value) -> Request {
        Request { target: Target::RolloutStatus, body: Body::Merge(json!({ "status": v })) }
    }
    fn spec(v: Value) -> Request {
        Request { target: Target::Rollout, body: Body::Merge(json!({ "spec": v })) }
    }

    /// One line for the confirmation dialog and the journal: where and what.
    pub fn describe(&self) -> String {
        let (kind, body) = match &self.body {
            Body::Merge(v) => ("merge", v),
            Body::Json(v) => ("json", v),
        };
        let at = match &self.target {
            Target::Rollout => "rollout".to_string(),
            Target::RolloutStatus => "rollout/status".to_string(),
            Target::AnalysisRun(n) => format!("analysisrun {n}"),
        };
        let mut text = body.to_string();
        if text.len() > 160 {
            text.truncate(text.char_indices().nth(157).map(|(i, _)| i).unwrap_or(text.len()));
            text.push('…');
        }
        format!("PATCH {at} ({kind}) {text}")
    }
}

/// The revision an undo goes back to: the one asked for, else the one before the newest, among
/// the rollout's own ReplicaSets.
pub fn undo_target<'a>(r: &Rollout, revisions: &'a [ReplicaSet], to_revision: Option<i64>) -> Result<&'a ReplicaSet, String> {
    let name = r.key();
    let mut owned: Vec<&ReplicaSet> = revisions.iter().filter(|rs| rs.owned_by(r)).collect();
    owned.sort_by_key(|rs| std::cmp::Reverse(rs.revision()));
    match to_revision {
        Some(n) if n > 0 => {
            owned.iter().find(|rs| rs.revision() == n).copied().ok_or_else(|| format!("{name} has no revision {n} in its history"))
        }
        _ => owned.get(1).copied().ok_or_else(|| format!("{name} has no earlier revision to go back to")),
    }
}

/// Planned requests, or why the action makes no sense now (nothing is sent).
pub fn plan(r: &Rollout, action: &RolloutAction, revisions: &[ReplicaSet], now: jiff::Timestamp) -> Result<Vec<Request>, PlanError> {
    let st = &r.status;
    let name = r.key();
    let mut out = Vec::new();
    match action {
        RolloutAction::Promote => {
            let steps = r.steps().len();
            let i = r.step_index();
            let inconclusive = st.canary.current_step_analysis_run_status.as_ref().is_some_and(|a| a.status == "Inconclusive");
            if !r.is_blue_green() && inconclusive && !st.pause_conditions.is_empty() && st.controller_pause {
                out.push(Request::status(
                    json!({"pauseConditions": null, "controllerPause": false, "currentStepIndex": (i + 1).min(steps)}),
                ));
            } else if !st.pause_conditions.is_empty() {
                out.push(Request::status(json!({"pauseConditions": null})));
            } else if !r.is_blue_green() && steps > 0 {
                if i >= steps {
                    if !r.spec.paused {
                        return Err(PlanError::NothingToDo(format!(
                            "{name} has no step left to promote to; it is at the end of its steps"
                        )));
                    }
                } else {
                    out.push(Request::status(json!({"pauseConditions": null, "currentStepIndex": i + 1})));
                }
            }
            if r.spec.paused {
                out.push(Request::spec(json!({"paused": false})));
            }
            if out.is_empty() {
                return Err(PlanError::NothingToDo(format!("{name} is not paused and has no step to skip: nothing to promote")));
            }
        }
        RolloutAction::PromoteFull => {
            if !r.fully_promoted() {
                out.push(Request::status(json!({"promoteFull": true})));
            }
            if r.spec.paused {
                out.push(Request::spec(json!({"paused": false})));
            }
            if out.is_empty() {
                return Err(PlanError::NothingToDo(format!("{name} is already fully promoted")));
            }
        }
        RolloutAction::Pause => {
            if r.spec.paused {
                return Err(PlanError::NothingToDo(format!("{name} is already paused")));
            }
            out.push(Request::spec(json!({"paused": true})));
        }
        RolloutAction::Resume => {
            if !r.spec.paused {
                let hint = if st.pause_conditions.is_empty() {
                    String::new()
                } else {
                    format!(" (it waits at {}: promote goes on past it)", st.pause_conditions[0].reason)
                };
                return Err(PlanError::NothingToDo(format!("{name} is not manually paused{hint}")));
            }
            out.push(Request::spec(json!({"paused": false})));
        }
        RolloutAction::Abort => {
            if st.abort {
                return Err(PlanError::NothingToDo(format!("{name} is already aborted")));
            }
            if r.fully_promoted() {
                return Err(PlanError::NothingToDo(format!(
                    "{name} is fully promoted: there is no update to abort (undo goes back to a revision)"
                )));
            }
            out.push(Request::status(json!({"abort": true})));
        }
        RolloutAction::Retry => {
            if !st.abort {
                return Err(PlanError::NothingToDo(format!("{name} is not aborted: nothing to retry")));
            }
            out.push(Request::status(json!({"abort": false})));
        }
        RolloutAction::Restart => {
            out.push(Request::spec(json!({"restartAt": now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()})));
        }
        RolloutAction::Undo { to_revision } => {
            let target = undo_target(r, revisions, *to_revision)?;
            let wanted = without_hash(target.spec.template.clone());
            if without_hash(r.spec.template.clone()) == wanted {
                return Err(PlanError::NothingToDo(format!("{name} already runs revision {}: nothing was sent", target.revision())));
            }
            if r.spec.workload_ref.is_some() {
                return Err(format!("{name} takes its template from a workloadRef: undo the referenced Deployment instead").into());
            }
            out.push(Request {
                target: Target::Rollout,
                body: Body::Json(json!([{"op": "replace", "path": "/spec/template", "value": wanted}])),
            });
        }
        RolloutAction::Sync { .. } | RolloutAction::Refresh { .. } | RolloutAction::TerminateOperation | RolloutAction::AutoSync { .. } => {
            return Err(format!("{name} is an Argo Rollout: {} is for the Argo CD application that owns it", action.verb()).into());
        }
        RolloutAction::Approve | RolloutAction::Reject | RolloutAction::Cancel | RolloutAction::IgnoreJob => {
            return Err(format!("{name} is an Argo Rollout: it has no approval or jobs; promote to go on, abort to stop").into());
        }
        RolloutAction::Deploy { container, version: image, run, .. } => {
            if r.spec.workload_ref.is_some() {
                return Err(format!("{name} takes its template from a workloadRef: set the image on the referenced Deployment").into());
            }
            // A test before each replace: if someone changed the image meanwhile, nothing applies.
            let mut ops = Vec::new();
            for list in ["initContainers", "containers"] {
                let containers = r.spec.template.as_ref().and_then(|t| t.pointer(&format!("/spec/{list}"))).and_then(Value::as_array);
                for (i, c) in containers.into_iter().flatten().enumerate() {
                    let cname = c.get("name").and_then(Value::as_str).unwrap_or_default();
                    let current = c.get("image").and_then(Value::as_str).unwrap_or_default();
                    if container.as_deref().is_none_or(|want| want == cname) && current != image {
                        let path = format!("/spec/template/spec/{list}/{i}/image");
                        ops.push(json!({"op": "test", "path": path, "value": current}));
                        ops.push(json!({"op": "replace", "path": path, "value": image}));
                    }
                }
            }
            if !ops.is_empty()
                && let Some(run) = run
            {
                // In the same patch, so the new revision and its evidence arrive together.
                let op = if r.metadata.annotations.is_empty() {
                    json!({"op": "add", "path": "/metadata/annotations", "value": {crate::argo::model::RELEASE_RUN: run.text()}})
                } else {
                    json!({"op": "add", "path": format!("/metadata/annotations/{}", crate::argo::model::RELEASE_RUN.replace('~', "~0").replace('/', "~1")), "value": run.text()})
                };
                ops.push(op);
            }
            if ops.is_empty() {
                return Err(match container {
                    Some(c) => format!("{name}: container `{c}` already runs {image}, or there is no such container").into(),
                    None => PlanError::NothingToDo(format!("{name} already runs {image}")),
                });
            }
            out.push(Request { target: Target::Rollout, body: Body::Json(Value::Array(ops)) });
        }
        RolloutAction::TerminateAnalysis { run } => {
            out.push(Request { target: Target::AnalysisRun(run.clone()), body: Body::Merge(json!({"spec": {"terminate": true}})) });
        }
    }
    Ok(out)
}

/// A pod template without the controller's hash label, as compared and restored by undo.
fn without_hash(template: Option<Value>) -> Value {
    let mut t = template.unwrap_or(Value::Null);
    if let Some(labels) = t.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        labels.remove(HASH_LABEL);
    }
    t
}

/// What the person saw, as every provider describes it: the action is refused when the rollout
/// moved on (another step, another state, another revision).
pub fn seen(r: &Rollout, now: jiff::Timestamp) -> crate::delivery::Seen {
    let state = super::status::state(r, now);
    crate::delivery::Seen {
        revision: format!("{}/{}", r.metadata.generation.unwrap_or(0), r.status.current_pod_hash.as_deref().unwrap_or("")),
        step: (!r.steps().is_empty()).then(|| (r.step_index() + 1).min(r.steps().len())),
        state: state.label().to_string(),
        // A change the controller has not acted on yet (a new spec, an unpause): another action
        // now would be judged against a state that is about to move.
        pending: match state {
            super::status::State::Syncing(why) => Some(format!("the controller has not acted on the last change yet ({why})")),
            _ => None,
        },
    }
}

/// Whether `action` must wait while a change is unobserved: everything but abort and stopping an
/// analysis, which are always allowed (they are how people stop a bad release).
pub fn waits_for_controller(action: &RolloutAction) -> bool {
    !matches!(action, RolloutAction::Abort | RolloutAction::TerminateAnalysis { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> jiff::Timestamp {
        "2026-11-22T10:00:00Z".parse().unwrap()
    }

    fn canary(status: Value, paused: bool) -> Rollout {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "u1"},
            "spec": {"paused": paused, "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"analysis": {}}]}}},
            "status": status
        }))
        .unwrap()
    }

    fn bodies(r: &Rollout, a: RolloutAction) -> Vec<(Target, Value)> {
        plan(r, &a, &[], at())
            .unwrap()
            .into_iter()
            .map(|q| {
                (
                    q.target,
                    match q.body {
                        Body::Merge(v) | Body::Json(v) => v,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn promote_clears_a_pause_condition_or_skips_the_step() {
        let paused =
            canary(json!({"currentStepIndex": 1, "pauseConditions": [{"reason": "CanaryPauseStep"}], "controllerPause": true}), false);
        assert_eq!(bodies(&paused, RolloutAction::Promote), vec![(Target::RolloutStatus, json!({"status": {"pauseConditions": null}}))]);
        let weighting = canary(json!({"currentStepIndex": 2}), false);
        assert_eq!(
            bodies(&weighting, RolloutAction::Promote),
            vec![(Target::RolloutStatus, json!({"status": {"pauseConditions": null, "currentStepIndex": 3}}))]
        );
    }

    #[test]
    fn promote_of_a_manually_paused_canary_advances_and_unpauses_status_first() {
        let r = canary(json!({"currentStepIndex": 2}), true);
        assert_eq!(
            bodies(&r, RolloutAction::Promote),
            vec![
                (Target::RolloutStatus, json!({"status": {"pauseConditions": null, "currentStepIndex": 3}})),
                (Target::Rollout, json!({"spec": {"paused": false}})),
            ]
        );
    }

    #[test]
    fn promote_after_an_inconclusive_analysis_clears_the_controller_pause() {
        let r = canary(
            json!({"currentStepIndex": 3, "controllerPause": true, "pauseConditions": [{"reason": "InconclusiveAnalysisRun"}],
                   "canary": {"currentStepAnalysisRunStatus": {"name": "web-3", "status": "Inconclusive"}}}),
            false,
        );
        assert_eq!(
            bodies(&r, RolloutAction::Promote),
            vec![(Target::RolloutStatus, json!({"status": {"pauseConditions": null, "controllerPause": false, "currentStepIndex": 4}}))]
        );
    }

    #[test]
    fn resume_is_only_an_unpause() {
        let r = canary(json!({"currentStepIndex": 2}), true);
        assert_eq!(bodies(&r, RolloutAction::Resume), vec![(Target::Rollout, json!({"spec": {"paused": false}}))]);
        let at_pause_step = canary(json!({"currentStepIndex": 1, "pauseConditions": [{"reason": "CanaryPauseStep"}]}), false);
        let why = plan(&at_pause_step, &RolloutAction::Resume, &[], at()).unwrap_err();
        assert!(matches!(&why, PlanError::NothingToDo(w) if w.contains("promote goes on past it")), "{why}");
    }

    #[test]
    fn abort_retry_pause_restart_full() {
        let r = canary(json!({"currentStepIndex": 2, "currentPodHash": "b", "stableRS": "a"}), false);
        assert_eq!(bodies(&r, RolloutAction::Abort), vec![(Target::RolloutStatus, json!({"status": {"abort": true}}))]);
        assert!(plan(&r, &RolloutAction::Retry, &[], at()).is_err());
        assert_eq!(bodies(&r, RolloutAction::Pause), vec![(Target::Rollout, json!({"spec": {"paused": true}}))]);
        assert_eq!(bodies(&r, RolloutAction::Restart), vec![(Target::Rollout, json!({"spec": {"restartAt": "2026-11-22T10:00:00Z"}}))]);
        assert_eq!(bodies(&r, RolloutAction::PromoteFull), vec![(Target::RolloutStatus, json!({"status": {"promoteFull": true}}))]);
        let aborted = canary(json!({"abort": true, "currentPodHash": "b", "stableRS": "a"}), false);
        assert_eq!(bodies(&aborted, RolloutAction::Retry), vec![(Target::RolloutStatus, json!({"status": {"abort": false}}))]);
    }

    #[test]
    fn undo_restores_the_previous_template_without_the_hash_label_and_detects_no_change() {
        let tmpl = |img: &str, hash: &str| json!({"metadata": {"labels": {"app": "web", HASH_LABEL: hash}}, "spec": {"containers": [{"name": "web", "image": img}]}});
        let rs = |rev: i64, img: &str, hash: &str| -> ReplicaSet {
            serde_json::from_value(json!({
                "metadata": {"name": format!("web-{hash}"), "annotations": {"rollout.argoproj.io/revision": rev.to_string()},
                             "labels": {HASH_LABEL: hash}, "ownerReferences": [{"kind": "Rollout", "name": "web", "uid": "u1", "controller": true}]},
                "spec": {"template": tmpl(img, hash)}
            }))
            .unwrap()
        };
        let revisions = [rs(1, "web:1", "a"), rs(2, "web:2", "b"), rs(3, "web:3", "c")];
        let mut r = canary(json!({}), false);
        r.spec.template =
            Some(json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:3"}]}}));
        let q = plan(&r, &RolloutAction::Undo { to_revision: None }, &revisions, at()).unwrap();
        let mut want = tmpl("web:2", "b");
        want["metadata"]["labels"].as_object_mut().unwrap().remove(HASH_LABEL);
        assert_eq!(
            q,
            vec![Request {
                target: Target::Rollout,
                body: Body::Json(json!([{"op": "replace", "path": "/spec/template", "value": want}]))
            }]
        );
        let same = plan(&r, &RolloutAction::Undo { to_revision: Some(3) }, &revisions, at()).unwrap_err();
        assert!(matches!(&same, PlanError::NothingToDo(w) if w.contains("already runs revision 3")), "{same}");
        let missing = plan(&r, &RolloutAction::Undo { to_revision: Some(9) }, &revisions, at()).unwrap_err();
        assert!(matches!(&missing, PlanError::Invalid(w) if w.contains("no revision 9")), "{missing}");
    }

    #[test]
    fn a_second_promote_on_what_was_seen_is_refused() {
        let before = canary(json!({"currentStepIndex": 1, "pauseConditions": [{"reason": "CanaryPauseStep"}], "phase": "Paused"}), false);
        let after = canary(json!({"currentStepIndex": 2, "phase": "Progressing"}), false);
        let changes = seen(&before, at()).changes(&seen(&after, at()));
        assert_eq!(changes, vec!["step 2 → 3".to_string(), "Paused → Progressing".to_string()]);
    }
}
