use serde_json::json;

use super::*;

const SHA1: &str = "8f2c1a9d0b7e6f5a4c3b2a1908f7e6d5c4b3a291";
const SHA2: &str = "1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e";

fn app(extra: serde_json::Value) -> App {
    let mut v = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "checkout", "namespace": "argocd", "resourceVersion": "4711"},
        "spec": {
            "project": "shop",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "prod"},
            "source": {"repoURL": "https://git.example/shop.git", "path": "checkout", "targetRevision": "main"},
            "syncPolicy": {"syncOptions": ["CreateNamespace=true"], "retry": {"limit": 2}}
        },
        "status": {
            "sync": {"status": "OutOfSync", "revision": SHA2},
            "health": {"status": "Healthy"},
            "history": [
                {"id": 4, "revision": SHA1, "deployedAt": "2026-11-28T09:00:00Z",
                 "source": {"repoURL": "https://git.example/shop.git", "path": "checkout", "targetRevision": "main"},
                 "initiatedBy": {"username": "alice"}},
                {"id": 5, "revision": SHA2, "deployedAt": "2026-11-29T09:00:00Z",
                 "source": {"repoURL": "https://git.example/shop.git", "path": "checkout", "targetRevision": "main"},
                 "initiatedBy": {"automated": true}}
            ]
        }
    });
    merge(&mut v, extra);
    App::from_json(v).unwrap()
}

fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

#[test]
fn a_sync_sets_the_operation_with_who_asked_and_clears_the_last_state() {
    let w = plan(&app(json!({})), &AppAction::Sync(SyncOptions { prune: true, ..Default::default() }), "alice@ops", "t").unwrap();
    assert_eq!(w.patch["metadata"]["resourceVersion"], "4711", "written against the version read");
    assert_eq!(w.patch["status"]["operationState"], serde_json::Value::Null);
    let op = &w.patch["operation"];
    assert_eq!(op["initiatedBy"], json!({"username": "alice@ops"}));
    assert_eq!(op["sync"]["source"]["path"], "checkout");
    assert_eq!(op["sync"]["prune"], true);
    assert_eq!(op["sync"]["syncOptions"], json!(["CreateNamespace=true"]), "the app's own options");
    assert_eq!(op["sync"]["syncStrategy"], json!({"hook": {"force": false}}));
    assert_eq!(op["retry"], json!({"limit": 2}), "the app's retry strategy");
    assert!(op["sync"].get("revision").is_none(), "the app's target revision, resolved by Argo CD");
    assert_eq!(w.summary, "sync checkout (prune)");
}

#[test]
fn a_partial_forced_out_of_sync_only_sync() {
    let o = SyncOptions {
        force: true,
        apply_out_of_sync_only: true,
        resources: vec![ResourceRef { group: "apps".into(), kind: "Deployment".into(), namespace: "prod".into(), name: "api".into() }],
        ..Default::default()
    };
    let w = plan(&app(json!({})), &AppAction::Sync(o), "alice", "t").unwrap();
    let sync = &w.patch["operation"]["sync"];
    assert_eq!(sync["syncOptions"], json!(["ApplyOutOfSyncOnly=true"]));
    assert_eq!(sync["syncStrategy"]["hook"]["force"], true);
    assert_eq!(sync["resources"], json!([{"group": "apps", "kind": "Deployment", "namespace": "prod", "name": "api"}]));
    assert_eq!(w.summary, "sync 1 resource(s) of checkout (force, out-of-sync only)");
}

#[test]
fn a_sync_is_refused_while_another_operation_runs_or_the_app_is_deleting() {
    let running = app(json!({"operation": {"sync": {}}, "status": {"operationState": {"phase": "Running", "operation": {}}}}));
    let why = plan(&running, &AppAction::Sync(SyncOptions::default()), "alice", "t").unwrap_err();
    assert_eq!(why, "another operation is already in progress (Running)");
    let deleting = app(json!({"metadata": {"deletionTimestamp": "2026-11-29T10:00:00Z"}}));
    assert_eq!(plan(&deleting, &AppAction::Sync(SyncOptions::default()), "alice", "t").unwrap_err(), "application is deleting");
}

#[test]
fn another_revision_is_refused_while_auto_sync_is_on_unless_a_dry_run() {
    let auto = app(json!({"spec": {"syncPolicy": {"automated": {"prune": true}}}}));
    let o = SyncOptions { revision: Some("v1.2.0".into()), ..Default::default() };
    assert_eq!(plan(&auto, &AppAction::Sync(o.clone()), "a", "t").unwrap_err(), "Cannot sync to v1.2.0: auto-sync currently set to main");
    assert!(plan(&auto, &AppAction::Sync(SyncOptions { dry_run: true, ..o.clone() }), "a", "t").is_ok());
    // The target revision itself is fine; and `enabled: false` is off.
    assert!(plan(&auto, &AppAction::Sync(SyncOptions { revision: Some("main".into()), ..Default::default() }), "a", "t").is_ok());
    let disabled = app(json!({"spec": {"syncPolicy": {"automated": {"enabled": false}}}}));
    assert!(!disabled.auto_sync());
    assert_eq!(plan(&disabled, &AppAction::Sync(o), "a", "t").unwrap().patch["operation"]["sync"]["revision"], "v1.2.0");
}

#[test]
fn a_rollback_syncs_a_history_entrys_revision_and_source_with_apply() {
    let w = plan(&app(json!({})), &AppAction::Rollback { id: 4, prune: false, dry_run: false }, "bob", "t").unwrap();
    let sync = &w.patch["operation"]["sync"];
    assert_eq!(sync["revision"], SHA1);
    assert_eq!(sync["source"]["targetRevision"], "main");
    assert_eq!(sync["syncStrategy"], json!({"apply": {}}));
    assert_eq!(w.patch["operation"]["initiatedBy"]["username"], "bob");
    assert_eq!(w.summary, "roll checkout back to history 4 (8f2c1a9)");
}

#[test]
fn a_rollback_is_refused_with_auto_sync_an_unknown_id_or_an_entry_without_source() {
    let auto = app(json!({"spec": {"syncPolicy": {"automated": {}}}}));
    let why = plan(&auto, &AppAction::Rollback { id: 4, prune: false, dry_run: false }, "a", "t").unwrap_err();
    assert_eq!(why, "rollback cannot be initiated when auto-sync is enabled");
    let why = plan(&app(json!({})), &AppAction::Rollback { id: 9, prune: false, dry_run: false }, "a", "t").unwrap_err();
    assert_eq!(why, "application checkout does not have deployment with id 9");
    let old = app(json!({"status": {"history": [{"id": 1, "revision": SHA1}]}}));
    assert!(plan(&old, &AppAction::Rollback { id: 1, prune: false, dry_run: false }, "a", "t").unwrap_err().contains("v0.11"));
}

#[test]
fn terminate_marks_the_running_operation_terminating_and_needs_one() {
    let running =
        app(json!({"operation": {"sync": {}}, "status": {"operationState": {"phase": "Running", "message": "waiting", "operation": {}}}}));
    let w = plan(&running, &AppAction::Terminate, "a", "t").unwrap();
    assert_eq!(w.patch["status"]["operationState"], json!({"phase": "Terminating"}), "a merge patch: the rest of the state stays");
    assert_eq!(w.patch["metadata"]["resourceVersion"], "4711");
    assert_eq!(
        plan(&app(json!({})), &AppAction::Terminate, "a", "t").unwrap_err(),
        "Unable to terminate operation. No operation is in progress"
    );
}

#[test]
fn refresh_sets_the_annotation_and_its_timestamp_without_a_version() {
    let w = plan(&app(json!({})), &AppAction::Refresh { hard: true }, "a", "2026-11-29T10:00:00.5Z").unwrap();
    assert_eq!(
        w.patch,
        json!({"metadata": {"annotations": {REFRESH_ANNOTATION: "hard", REFRESH_TIMESTAMP_ANNOTATION: "2026-11-29T10:00:00.5Z"}}})
    );
}

#[test]
fn auto_sync_is_turned_on_or_off_and_not_twice() {
    let w = plan(&app(json!({})), &AppAction::AutoSync { on: true }, "a", "t").unwrap();
    assert_eq!(w.patch["spec"]["syncPolicy"]["automated"], json!({"prune": false, "selfHeal": false}));
    let auto = app(json!({"spec": {"syncPolicy": {"automated": {"selfHeal": true}}}}));
    assert_eq!(
        plan(&auto, &AppAction::AutoSync { on: false }, "a", "t").unwrap().patch["spec"]["syncPolicy"]["automated"],
        serde_json::Value::Null
    );
    assert_eq!(plan(&auto, &AppAction::AutoSync { on: true }, "a", "t").unwrap_err(), "auto-sync of checkout is already on");
}

#[test]
fn what_moved_on_since_the_user_looked_is_said() {
    let before = app(json!({}));
    let seen = Seen::of(&before);
    assert_eq!(seen.changed(&before), None);
    let after = app(json!({
        "metadata": {"resourceVersion": "4800"},
        "operation": {"sync": {}},
        "status": {"sync": {"revision": SHA1}, "operationState": {"phase": "Running", "operation": {}}}
    }));
    assert_eq!(seen.changed(&after).unwrap(), "revision 1b2c3d4 → 8f2c1a9, operation none → Running");
    // Only the version moved (the controller's periodic reconcile): nothing a person would see.
    assert_eq!(seen.changed(&app(json!({"metadata": {"resourceVersion": "4999"}}))), None);
}

#[test]
fn the_model_reads_what_the_views_show() {
    let a = app(json!({"spec": {"destination": {"name": "prod-eu", "server": null}}}));
    assert_eq!(a.short_revision().as_deref(), Some("1b2c3d4"));
    assert_eq!(a.destination_text(), "prod-eu/prod");
    assert_eq!(app(json!({})).destination_text(), "in-cluster/prod");
    assert_eq!(a.last_deployed().map(|h| h.id), Some(5));
    assert!(!a.operation_running());
    assert!(App::from_json(json!({"spec": "nonsense"})).is_err());
}

#[test]
fn what_needs_a_human_comes_first() {
    let synced = app(json!({"status": {"sync": {"status": "Synced"}}}));
    assert_eq!(synced.urgency(true), 2);
    assert_eq!(app(json!({})).urgency(true), 0, "out of sync in production");
    assert_eq!(app(json!({})).urgency(false), 1, "out of sync elsewhere");
    assert_eq!(app(json!({"status": {"sync": {"status": "Synced"}, "health": {"status": "Degraded"}}})).urgency(false), 0);
    assert_eq!(app(json!({"status": {"sync": {"status": "Synced"}, "health": {"status": "Progressing"}}})).urgency(false), 1);
    let failed = app(json!({"status": {"sync": {"status": "Synced"}, "operationState": {"phase": "Failed", "operation": {}}}}));
    assert_eq!(failed.urgency(false), 0);
}
