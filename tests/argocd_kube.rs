//! Argo CD Applications through the Kubernetes API (no Argo CD API server): flightdeck writes what
//! the API server would, a scripted controller runs the operations, and the real kubectl reads
//! the result. Sync, a sync refused while another runs, terminate, rollback refused with
//! auto-sync and then done, a refresh, an action refused because the app moved on, RBAC's 403, a
//! conflicting write, and the watch resumed after the server dropped it.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use flightdeck::argo::client::{ArgoError, Cluster};
use flightdeck::deploy::argocd::kube::{AppUpdate, KubeApps};
use flightdeck::deploy::argocd::ops::{AppAction, Seen, SyncOptions};
use futures::StreamExt;
use support::apiserver::ApiDouble;
use support::argocd_controller::{HEAD, OLD, ScriptedArgoCd, application};
use support::kubectl::{Kubectl, text};

const NS: &str = "argocd";
const LIMIT: Duration = Duration::from_secs(20);

async fn setup() -> (Arc<ApiDouble>, KubeApps, ScriptedArgoCd, tempfile::TempDir) {
    let api = Arc::new(ApiDouble::start().await);
    api.put(application(NS, "checkout"));
    let controller = ScriptedArgoCd::start(api.clone(), NS);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(&kubeconfig, api.kubeconfig(&[("double", "shop")])).unwrap();
    let cluster = Cluster::connect(Some(&kubeconfig), None, Duration::from_secs(5)).await.unwrap();
    (api, KubeApps::new(cluster, None), controller, dir)
}

async fn until(apps: &KubeApps, what: &str, done: impl Fn(&flightdeck::deploy::argocd::App) -> bool) -> flightdeck::deploy::argocd::App {
    support::argocd_controller::until_app(what, || async { apps.get("checkout").await.unwrap() }, done).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_progresses_to_synced_and_healthy_with_who_asked_in_the_history() {
    let (api, apps, controller, _dir) = setup().await;
    let listed = apps.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    let seen = Seen::of(&listed[0]);
    controller.progress.store(true, Ordering::SeqCst);
    api.take_requests();
    let (_, summary) =
        apps.act("checkout", &AppAction::Sync(SyncOptions { prune: true, ..Default::default() }), Some(&seen), "alice@ops").await.unwrap();
    assert_eq!(summary, "sync checkout (prune)");
    // One merge patch, against the version read.
    let writes: Vec<_> = api.take_requests().into_iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(writes.len(), 1);
    assert!(writes[0].body["metadata"]["resourceVersion"].is_string(), "{:?}", writes[0].body);
    assert_eq!(writes[0].body["operation"]["initiatedBy"]["username"], "alice@ops");
    let app = until(&apps, "synced, still progressing", |a| a.status.sync.status == "Synced").await;
    assert_eq!(app.status.health.status, "Progressing");
    controller.release(&api, NS, "checkout");
    let app = until(&apps, "healthy", |a| a.status.health.status == "Healthy").await;
    assert_eq!(app.status.operation_state.as_ref().unwrap().phase, "Succeeded");
    assert!(app.operation.is_none(), "the controller took the operation away");
    let last = app.last_deployed().unwrap();
    assert_eq!((last.id, last.revision.as_deref(), last.initiated_by.username.as_deref()), (1, Some(HEAD), Some("alice@ops")));

    // The real kubectl reads what was written.
    let k = Kubectl::new(&api);
    let out = k
        .run(&[
            "get",
            "applications.argoproj.io",
            "-n",
            NS,
            "checkout",
            "-o",
            "jsonpath={.status.sync.status} {.status.history[*].id} {.status.operationState.phase}",
        ])
        .await;
    assert_eq!(text(&out), "Synced 0 1 Succeeded");
    let out = k.run(&["get", "app", "-n", NS, "-o", "name"]).await;
    assert_eq!(text(&out).trim(), "application.argoproj.io/checkout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_is_refused_while_one_runs_and_terminate_stops_it() {
    let (api, apps, controller, _dir) = setup().await;
    controller.hold.store(true, Ordering::SeqCst);
    apps.act("checkout", &AppAction::Sync(SyncOptions::default()), None, "alice").await.unwrap();
    until(&apps, "running", |a| a.status.operation_state.as_ref().is_some_and(|o| o.phase == "Running")).await;
    api.take_requests();
    let err = apps.act("checkout", &AppAction::Sync(SyncOptions::default()), None, "bob").await.unwrap_err();
    assert_eq!(err, ArgoError::Refused("another operation is already in progress (Running)".into()));
    assert!(api.take_requests().iter().all(|r| r.method == "GET"), "nothing written");
    apps.act("checkout", &AppAction::Terminate, None, "alice").await.unwrap();
    let app = until(&apps, "terminated", |a| a.status.operation_state.as_ref().is_some_and(|o| o.phase == "Failed")).await;
    assert_eq!(app.status.operation_state.unwrap().message.as_deref(), Some("Operation terminated"));
    assert!(app.operation.is_none());
    assert_eq!(app.status.history.len(), 1, "nothing deployed");
    let err = apps.act("checkout", &AppAction::Terminate, None, "alice").await.unwrap_err();
    assert_eq!(err, ArgoError::Refused("Unable to terminate operation. No operation is in progress".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_is_refused_with_auto_sync_on_and_deploys_a_history_entry_once_off() {
    let (_api, apps, _controller, _dir) = setup().await;
    apps.act("checkout", &AppAction::AutoSync { on: true }, None, "alice").await.unwrap();
    let err = apps.act("checkout", &AppAction::Rollback { id: 0, prune: false, dry_run: false }, None, "alice").await.unwrap_err();
    assert_eq!(err, ArgoError::Refused("rollback cannot be initiated when auto-sync is enabled".into()));
    apps.act("checkout", &AppAction::AutoSync { on: false }, None, "alice").await.unwrap();
    apps.act("checkout", &AppAction::Rollback { id: 0, prune: false, dry_run: false }, None, "alice").await.unwrap();
    let app = until(&apps, "rolled back", |a| a.status.history.len() == 2).await;
    assert_eq!(app.status.sync.revision.as_deref(), Some(OLD));
    assert_eq!(app.last_deployed().unwrap().revision.as_deref(), Some(OLD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_is_taken_up_and_a_stale_action_or_a_forbidden_one_is_refused() {
    let (api, apps, _controller, _dir) = setup().await;
    apps.act("checkout", &AppAction::Refresh { hard: true }, None, "alice").await.unwrap();
    let app = until(&apps, "refreshed", |a| a.status.reconciled_at.is_some()).await;
    assert!(!app.metadata.annotations.contains_key("argocd.argoproj.io/refresh"), "the controller took the request");

    // What the user saw is no longer so: someone else synced in between.
    let seen = Seen::of(&app);
    apps.act("checkout", &AppAction::Sync(SyncOptions::default()), None, "bob").await.unwrap();
    until(&apps, "bob's sync done", |a| a.status.sync.status == "Synced").await;
    let err = apps.act("checkout", &AppAction::Rollback { id: 0, prune: false, dry_run: false }, Some(&seen), "alice").await.unwrap_err();
    let ArgoError::Refused(why) = err else { panic!("refused, not {err:?}") };
    assert!(why.contains("moved on") && why.contains("sync status OutOfSync → Synced"), "{why}");

    // RBAC: asked beforehand, and the API server's 403 when sent anyway.
    api.forbid("patch", "applications");
    assert!(!apps.may_change("checkout").await.unwrap().allowed);
    let err = apps.act("checkout", &AppAction::Refresh { hard: false }, None, "alice").await.unwrap_err();
    assert!(matches!(err, ArgoError::Forbidden(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_meets_a_change_is_refused_and_the_watch_resumes_after_a_drop() {
    let (api, apps, _controller, _dir) = setup().await;
    api.fail_next_write(
        409,
        "Conflict",
        "Operation cannot be fulfilled on applications.argoproj.io \"checkout\": the object has been modified",
    );
    let err = apps.act("checkout", &AppAction::Sync(SyncOptions::default()), None, "alice").await.unwrap_err();
    assert!(matches!(err, ArgoError::Conflict(_)), "{err:?}");

    let mut watch = Box::pin(apps.watch());
    let first = tokio::time::timeout(LIMIT, watch.next()).await.unwrap().unwrap();
    assert!(matches!(&first, AppUpdate::Reset(all) if all.len() == 1), "{first:?}");
    api.drop_watches();
    api.put(application(NS, "payments"));
    // After the drop, the watch lists again or goes on: either way `payments` arrives.
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let ev = tokio::time::timeout_at(deadline, watch.next()).await.expect("the watch resumed").unwrap();
        let names: Vec<String> = match ev {
            AppUpdate::Reset(all) => all.iter().map(|a| a.name().to_string()).collect(),
            AppUpdate::Apply(a) => vec![a.name().to_string()],
            _ => Vec::new(),
        };
        if names.iter().any(|n| n == "payments") {
            break;
        }
    }
}
