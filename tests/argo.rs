//! Argo Rollouts through kube-rs against the Kubernetes API double: the exact requests of every
//! action, the controller's scripted reactions, stale and repeated actions, 403 and 409, dropped
//! watches and 410 Gone, and an API server that hangs.

mod support;

use std::time::Duration;

use flightdeck::delivery::RolloutAction as ArgoAction;

use flightdeck::argo::client::{ArgoError, By, Cluster, WatchUpdate, execute};
use flightdeck::argo::status::{State, state};
use futures::StreamExt;
use serde_json::{Value, json};
use support::apiserver::{ApiDouble, Received};

const NS: &str = "shop";

fn steps() -> Value {
    json!([{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"analysis": {"templates": [{"templateName": "errors"}]}}, {"pause": {"duration": "10m"}}])
}

fn rollout(name: &str, step: i64, status: Value) -> Value {
    let mut s =
        json!({"phase": "Progressing", "currentStepIndex": step, "currentPodHash": "new", "stableRS": "old", "observedGeneration": "1"});
    json_patch::merge(&mut s, &status);
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "labels": {"app": name}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": format!("{name}:3")}]}},
                 "strategy": {"canary": {"steps": steps()}}},
        "status": s
    })
}

/// The controller has seen the rollout's latest spec.
fn observe(e: &Env, name: &str) {
    e.api.modify("rollouts", NS, name, |r| {
        let generation = r["metadata"]["generation"].as_i64().unwrap_or(1);
        r["status"]["observedGeneration"] = json!(generation.to_string());
    });
}

fn replica_set(owner: &str, revision: i64, hash: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("{owner}-{hash}"), "namespace": NS,
                     "labels": {"app": owner, "rollouts-pod-template-hash": hash},
                     "annotations": {"rollout.argoproj.io/revision": revision.to_string()},
                     "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": owner, "uid": format!("uid-{owner}"), "controller": true}]},
        "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": owner, "rollouts-pod-template-hash": hash}},
                                             "spec": {"containers": [{"name": "app", "image": image}]}}}
    })
}

struct Env {
    api: ApiDouble,
    cluster: Cluster,
    _dir: tempfile::TempDir,
}

async fn env() -> Env {
    let api = ApiDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, api.kubeconfig(&[("prod-eu", NS), ("staging", "default")])).unwrap();
    let cluster = Cluster::connect(Some(&path), None, Duration::from_secs(2)).await.unwrap();
    Env { api, cluster, _dir: dir }
}

/// The writes the double received, as (method, path, content type, body); the field manager is
/// checked on each.
fn writes(api: &ApiDouble) -> Vec<(String, String, String, Value)> {
    api.take_writes()
        .into_iter()
        .filter(|r: &Received| !r.path.contains("selfsubjectaccessreviews") && !r.path.ends_with("/events"))
        .map(|r| {
            assert_eq!(r.query.get("fieldManager").map(String::as_str), Some("flightdeck"), "{r:?}");
            (r.method, r.path, r.content_type, r.body)
        })
        .collect()
}

fn main_path(name: &str) -> String {
    format!("/apis/argoproj.io/v1alpha1/namespaces/{NS}/rollouts/{name}")
}

fn status_path(name: &str) -> String {
    format!("{}/status", main_path(name))
}

fn by(actor: &str, reason: &str, record_event: bool) -> By {
    By { actor: actor.into(), reason: reason.into(), record_event }
}

const MERGE: &str = "application/merge-patch+json";

async fn act(e: &Env, name: &str, action: ArgoAction) -> Result<flightdeck::argo::client::Outcome, ArgoError> {
    execute(&e.cluster, NS, name, &action, None, &by("alice@ops", "checked the dashboards", false)).await
}

fn get(e: &Env, name: &str) -> flightdeck::argo::Rollout {
    serde_json::from_value(e.api.get("rollouts", NS, name).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_then_promote_with_the_controller_moving_on() {
    let e = env().await;
    e.api.put(rollout("web", 0, json!({})));
    act(&e, "web", ArgoAction::Pause).await.unwrap();
    assert_eq!(writes(&e.api), vec![("PATCH".into(), main_path("web"), MERGE.into(), json!({"spec": {"paused": true}}))]);
    // The controller notices the manual pause.
    e.api.modify("rollouts", NS, "web", |r| {
        r["status"]["phase"] = json!("Paused");
        r["status"]["observedGeneration"] = json!("2");
    });
    assert_eq!(state(&get(&e, "web"), jiff::Timestamp::now()), State::PausedManual);

    // Promote on a manually paused setWeight step: next step, status first, then the unpause.
    act(&e, "web", ArgoAction::Promote).await.unwrap();
    assert_eq!(
        writes(&e.api),
        vec![
            ("PATCH".into(), status_path("web"), MERGE.into(), json!({"status": {"pauseConditions": null, "currentStepIndex": 1}})),
            ("PATCH".into(), main_path("web"), MERGE.into(), json!({"spec": {"paused": false}})),
        ]
    );
    let r = get(&e, "web");
    assert_eq!((r.spec.paused, r.status.current_step_index, r.metadata.generation), (false, Some(1), Some(3)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_past_a_pause_step_clears_the_condition_only() {
    let e = env().await;
    e.api.put(rollout(
        "web",
        1,
        json!({"phase": "Paused", "controllerPause": true,
        "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-11-22T10:00:00Z"}]}),
    ));
    act(&e, "web", ArgoAction::Promote).await.unwrap();
    assert_eq!(writes(&e.api), vec![("PATCH".into(), status_path("web"), MERGE.into(), json!({"status": {"pauseConditions": null}}))]);
    // Until the controller reacts, the rollout is unpausing, not paused.
    assert_eq!(state(&get(&e, "web"), jiff::Timestamp::now()), State::Syncing("waiting for rollout to unpause".into()));
    e.api.modify("rollouts", NS, "web", |r| {
        r["status"]["controllerPause"] = json!(false);
        r["status"]["currentStepIndex"] = json!(2);
    });
    assert_eq!(get(&e, "web").step_index(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inconclusive_analysis_then_promote_moves_to_the_next_step() {
    let e = env().await;
    e.api.put(rollout(
        "web",
        3,
        json!({"phase": "Paused", "controllerPause": true,
        "pauseConditions": [{"reason": "InconclusiveAnalysisRun", "startTime": "2026-11-22T10:00:00Z"}],
        "canary": {"currentStepAnalysisRunStatus": {"name": "web-new-3", "status": "Inconclusive"}}}),
    ));
    act(&e, "web", ArgoAction::Promote).await.unwrap();
    assert_eq!(
        writes(&e.api),
        vec![(
            "PATCH".into(),
            status_path("web"),
            MERGE.into(),
            json!({"status": {"pauseConditions": null, "controllerPause": false, "currentStepIndex": 4}})
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_then_retry() {
    let e = env().await;
    e.api.put(rollout("web", 2, json!({})));
    act(&e, "web", ArgoAction::Abort).await.unwrap();
    assert_eq!(writes(&e.api), vec![("PATCH".into(), status_path("web"), MERGE.into(), json!({"status": {"abort": true}}))]);
    // The controller aborts: weight 0, Degraded with the cause.
    e.api.modify("rollouts", NS, "web", |r| {
        r["status"]["phase"] = json!("Degraded");
        r["status"]["currentStepIndex"] = json!(0);
        r["status"]["conditions"] = json!([{"type": "Progressing", "status": "False", "reason": "RolloutAborted",
            "message": "Rollout aborted update to revision 3"}]);
    });
    let s = state(&get(&e, "web"), jiff::Timestamp::now());
    assert_eq!(s, State::Aborted("Rollout aborted update to revision 3".into()));
    // Aborting twice sends nothing.
    assert!(matches!(act(&e, "web", ArgoAction::Abort).await, Err(ArgoError::Refused(m)) if m.contains("already aborted")));
    assert!(writes(&e.api).is_empty());

    act(&e, "web", ArgoAction::Retry).await.unwrap();
    assert_eq!(writes(&e.api), vec![("PATCH".into(), status_path("web"), MERGE.into(), json!({"status": {"abort": false}}))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_pause_then_full_promote() {
    let e = env().await;
    e.api.put(rollout("web", 2, json!({})));
    e.api.modify("rollouts", NS, "web", |r| r["spec"]["paused"] = json!(true));
    act(&e, "web", ArgoAction::PromoteFull).await.unwrap();
    assert_eq!(
        writes(&e.api),
        vec![
            ("PATCH".into(), status_path("web"), MERGE.into(), json!({"status": {"promoteFull": true}})),
            ("PATCH".into(), main_path("web"), MERGE.into(), json!({"spec": {"paused": false}})),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_restart_and_terminate_send_what_they_say() {
    let e = env().await;
    e.api.put(rollout("web", 2, json!({})));
    e.api.modify("rollouts", NS, "web", |r| r["spec"]["paused"] = json!(true));
    act(&e, "web", ArgoAction::Resume).await.unwrap();
    assert_eq!(writes(&e.api), vec![("PATCH".into(), main_path("web"), MERGE.into(), json!({"spec": {"paused": false}}))]);
    // Until the controller has seen the new spec, nothing else is sent.
    let err = act(&e, "web", ArgoAction::Restart).await.unwrap_err();
    assert!(matches!(&err, ArgoError::Refused(m) if m.contains("has not acted on the last change yet")), "{err}");
    observe(&e, "web");

    act(&e, "web", ArgoAction::Restart).await.unwrap();
    let w = writes(&e.api);
    assert_eq!(w.len(), 1);
    let at = w[0].3["spec"]["restartAt"].as_str().unwrap();
    assert!(at.parse::<jiff::Timestamp>().is_ok() && at.ends_with('Z'), "{at}");

    e.api.put(json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": "web-new-3", "namespace": NS, "ownerReferences": [{"kind": "Rollout", "name": "web", "uid": "uid-web", "controller": true}]},
        "spec": {}, "status": {"phase": "Running"}}));
    // Another rollout's analysis cannot be stopped through this one.
    e.api.put(json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": "search-new-1", "namespace": NS, "ownerReferences": [{"kind": "Rollout", "name": "search", "uid": "uid-search", "controller": true}]},
        "spec": {}, "status": {"phase": "Running"}}));
    let err = act(&e, "web", ArgoAction::TerminateAnalysis { run: "search-new-1".into() }).await.unwrap_err();
    assert!(matches!(&err, ArgoError::Refused(m) if m.contains("search-new-1 is not an analysis run of shop/web")), "{err}");
    assert!(writes(&e.api).is_empty());
    act(&e, "web", ArgoAction::TerminateAnalysis { run: "web-new-3".into() }).await.unwrap();
    assert_eq!(
        writes(&e.api),
        vec![(
            "PATCH".into(),
            format!("/apis/argoproj.io/v1alpha1/namespaces/{NS}/analysisruns/web-new-3"),
            MERGE.into(),
            json!({"spec": {"terminate": true}})
        )]
    );
    assert_eq!(e.cluster.analysis_runs(&get(&e, "web")).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_to_a_revision_sends_its_template_and_already_there_sends_nothing() {
    let e = env().await;
    e.api.put(rollout("web", 5, json!({"phase": "Healthy", "stableRS": "new"})));
    e.api.put(replica_set("web", 1, "h1", "web:1"));
    e.api.put(replica_set("web", 2, "h2", "web:2"));
    e.api.put(replica_set("web", 3, "new", "web:3"));
    // Someone else's ReplicaSet with the same labels is not a revision of this rollout.
    let mut stranger = replica_set("web", 9, "h9", "evil:9");
    stranger["metadata"]["ownerReferences"][0]["uid"] = json!("uid-other");
    e.api.put(stranger);
    let revs = e.cluster.revisions(&get(&e, "web")).await.unwrap();
    assert_eq!(
        revs.iter().map(|r| (r.revision(), r.images())).collect::<Vec<_>>(),
        vec![(3, vec!["web:3".to_string()]), (2, vec!["web:2".to_string()]), (1, vec!["web:1".to_string()])]
    );
    e.api.take_requests();

    act(&e, "web", ArgoAction::Undo { to_revision: Some(1) }).await.unwrap();
    let w = writes(&e.api);
    assert_eq!(
        w,
        vec![(
            "PATCH".into(),
            main_path("web"),
            "application/json-patch+json".into(),
            json!([{"op": "replace", "path": "/spec/template", "value":
                {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "web:1"}]}}}])
        )]
    );
    assert_eq!(get(&e, "web").spec.template.unwrap()["spec"]["containers"][0]["image"], "web:1");
    observe(&e, "web");
    let err = act(&e, "web", ArgoAction::Undo { to_revision: Some(1) }).await.unwrap_err();
    assert!(matches!(&err, ArgoError::Refused(m) if m.contains("already runs revision 1")), "{err}");
    assert!(writes(&e.api).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_or_repeated_promote_is_refused_with_what_changed() {
    let e = env().await;
    e.api.put(rollout(
        "web",
        1,
        json!({"phase": "Paused", "controllerPause": true,
        "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-11-22T10:00:00Z"}]}),
    ));
    let seen = flightdeck::argo::actions::seen(&get(&e, "web"), jiff::Timestamp::now());
    execute(&e.cluster, NS, "web", &ArgoAction::Promote, Some(&seen), &by("alice", "go", false)).await.unwrap();
    e.api.modify("rollouts", NS, "web", |r| {
        r["status"]["controllerPause"] = json!(false);
        r["status"]["phase"] = json!("Progressing");
        r["status"]["currentStepIndex"] = json!(2);
    });
    writes(&e.api);
    // The same keypress again, with what the user saw then: refused, nothing sent.
    let err = execute(&e.cluster, NS, "web", &ArgoAction::Promote, Some(&seen), &by("alice", "go", false)).await.unwrap_err();
    let ArgoError::Refused(m) = &err else { panic!("{err}") };
    assert!(m.contains("step 2 → 3") && m.contains("Paused → Progressing") && m.contains("nothing was sent"), "{m}");
    assert!(writes(&e.api).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_actions_are_known_before_and_403_is_clear() {
    let e = env().await;
    e.api.put(rollout("web", 2, json!({})));
    e.api.forbid("patch", "rollouts/status");
    let p = e.cluster.permissions(NS, "web").await.unwrap();
    assert!(p.patch.allowed);
    assert!(!p.patch_status.allowed);
    let plan = flightdeck::argo::actions::plan(&get(&e, "web"), &ArgoAction::Abort, &[], jiff::Timestamp::now()).unwrap();
    let why = p.denies(&plan).unwrap();
    assert!(why.contains("you may not patch rollouts/status") && why.contains("RBAC"), "{why}");

    let err = act(&e, "web", ArgoAction::Abort).await.unwrap_err();
    assert!(matches!(&err, ArgoError::Forbidden(m) if m.contains("cannot patch resource \"rollouts/status\"")), "{err}");
    assert!(err.to_string().starts_with("not allowed: "), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_is_reported_and_nothing_more_is_sent() {
    let e = env().await;
    e.api.put(rollout("web", 2, json!({})));
    e.api.modify("rollouts", NS, "web", |r| r["spec"]["paused"] = json!(true));
    e.api.take_requests();
    e.api.fail_next_write(409, "Conflict", "Operation cannot be fulfilled on rollouts.argoproj.io \"web\": the object has been modified");
    let err = act(&e, "web", ArgoAction::Promote).await.unwrap_err();
    assert!(matches!(&err, ArgoError::Conflict(_)), "{err}");
    assert!(err.to_string().contains("nothing more was sent"), "{err}");
    // The status patch failed; the spec patch after it was not sent.
    let w: Vec<Received> = e.api.take_writes();
    assert_eq!(w.len(), 1, "{w:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_are_recorded_as_kubernetes_events_with_the_actor() {
    let e = env().await;
    e.api.put(rollout("web", 2, json!({})));
    execute(&e.cluster, NS, "web", &ArgoAction::Pause, None, &by("alice@ops", "error budget burning", true)).await.unwrap();
    let events = e.cluster.events(&get(&e, "web")).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["reason"], "FlightdeckPause");
    assert_eq!(events[0]["message"], "pause by alice@ops via flightdeck: error budget burning");
}

/// A namespace full of Events about other things: only the rollout's own are asked for, by a field
/// selector the API server applies, so opening a rollout reads a few, not thousands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_rollouts_own_events_are_read() {
    let e = env().await;
    e.api.put(rollout("web", 2, json!({})));
    for i in 0..3000 {
        e.api.put(json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("pod-{i}.1"), "namespace": NS},
            "involvedObject": {"kind": "Pod", "name": format!("pod-{i}"), "namespace": NS},
            "reason": "Pulled", "message": "Container image already present on machine", "type": "Normal"
        }));
    }
    e.api.put(json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "web.1", "namespace": NS},
        "involvedObject": {"kind": "Rollout", "name": "web", "namespace": NS},
        "reason": "RolloutUpdated", "message": "Rollout updated to revision 2", "type": "Normal"
    }));
    e.api.take_requests();
    let events = e.cluster.events(&get(&e, "web")).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["reason"], "RolloutUpdated");
    let asked: Vec<Received> = e.api.take_requests().into_iter().filter(|r| r.path.ends_with("/events")).collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(
        asked[0].query.get("fieldSelector").map(String::as_str),
        Some("involvedObject.kind=Rollout,involvedObject.name=web"),
        "the API server selects them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_api_server_is_a_timeout_not_a_freeze() {
    let e = env().await;
    e.api.put(rollout("web", 2, json!({})));
    e.api.hang(true);
    let started = std::time::Instant::now();
    let err = e.cluster.get(NS, "web").await.unwrap_err();
    assert_eq!(err, ArgoError::Timeout(2));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(err.to_string(), "the API server did not answer within 2s");
}

async fn next(stream: &mut (impl futures::Stream<Item = WatchUpdate> + Unpin)) -> WatchUpdate {
    tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("a watch update in time").expect("the watch goes on")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_survives_dropped_connections_and_relists_after_410() {
    let e = env().await;
    e.api.put(rollout("web", 0, json!({})));
    e.api.put(rollout("api", 0, json!({})));
    let mut w = Box::pin(e.cluster.watch(None));
    let WatchUpdate::Reset(all) = next(&mut w).await else { panic!("first the complete list") };
    assert_eq!(all.len(), 2);

    e.api.modify("rollouts", NS, "web", |r| r["status"]["currentStepIndex"] = json!(1));
    let WatchUpdate::Apply(r) = next(&mut w).await else { panic!("an update") };
    assert_eq!((r.metadata.name.as_str(), r.step_index()), ("web", 1));

    // The API server goes away mid-stream; the watch resumes from where it was.
    e.api.drop_watches();
    tokio::time::sleep(Duration::from_millis(200)).await;
    e.api.modify("rollouts", NS, "web", |r| r["status"]["currentStepIndex"] = json!(2));
    let mut got = None;
    for _ in 0..5 {
        if let WatchUpdate::Apply(r) = next(&mut w).await
            && r.step_index() == 2
        {
            got = Some(r);
            break;
        }
    }
    assert!(got.is_some(), "the change after the drop arrives");

    // A change while it is away, and then the server forgets that history: resuming gets 410
    // Gone, so the watch lists again and carries on.
    e.api.drop_watches();
    tokio::time::sleep(Duration::from_millis(50)).await;
    e.api.modify("rollouts", NS, "api", |r| r["status"]["currentStepIndex"] = json!(3));
    e.api.compact();
    let mut relisted = false;
    for _ in 0..6 {
        let u = next(&mut w).await;
        match u {
            WatchUpdate::Reset(all) => {
                relisted = true;
                if all.iter().any(|r| r.metadata.name == "api" && r.step_index() == 3) {
                    break;
                }
            }
            WatchUpdate::Apply(r) if relisted && r.metadata.name == "api" && r.step_index() == 3 => break,
            _ => {}
        }
    }
    assert!(relisted, "a 410 makes the watch list again");
}
