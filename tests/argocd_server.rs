//! Argo CD through its API server: flightdeck's requests and the double's answers validated
//! against Argo CD's published API description, the server's own refusals (an operation already
//! running, rollback with auto-sync, a sync window, RBAC, a bad token) reaching the user in Argo
//! CD's words, and the application stream followed, dropped and opened again.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use flightdeck::deploy::argocd::ops::{AppAction, Seen, SyncOptions};
use flightdeck::deploy::argocd::server::{Connection, ServerApps, ServerError, StreamUpdate};
use flightdeck::util::Token;
use futures::StreamExt;
use serde_json::json;
use support::apiserver::ApiDouble;
use support::argocd_controller::{OLD, ScriptedArgoCd, application};
use support::argocd_server::{ArgoCdServer, TOKEN};

const NS: &str = "argocd";
const LIMIT: Duration = Duration::from_secs(20);

struct World {
    api: Arc<ApiDouble>,
    controller: ScriptedArgoCd,
    server: ArgoCdServer,
    apps: ServerApps,
}

async fn world() -> World {
    let api = Arc::new(ApiDouble::start().await);
    api.put(application(NS, "checkout"));
    let controller = ScriptedArgoCd::start(api.clone(), NS);
    let server = ArgoCdServer::start(api.clone(), NS).await;
    let apps = ServerApps::new(Connection { server: server.url(), token: Token::new(TOKEN.into()) }).unwrap();
    World { api, controller, server, apps }
}

async fn until(apps: &ServerApps, what: &str, done: impl Fn(&flightdeck::deploy::argocd::App) -> bool) -> flightdeck::deploy::argocd::App {
    support::argocd_controller::until_app(what, || async { apps.get("checkout").await.unwrap() }, done).await
}

/// The recorded exchanges, checked against the API description.
fn contract(server: &ArgoCdServer) {
    let exchanges = server.exchanges();
    let routes: std::collections::BTreeSet<String> = exchanges.iter().map(|e| format!("{} {}", e.method, e.route)).collect();
    for want in [
        "GET /api/v1/applications",
        "GET /api/v1/applications/{name}",
        "PATCH /api/v1/applications/{name}",
        "POST /api/v1/applications/{name}/sync",
        "POST /api/v1/applications/{name}/rollback",
        "DELETE /api/v1/applications/{name}/operation",
        "GET /api/v1/account/can-i/{resource}/{action}/{subresource}",
        "GET /api/v1/applications/{name}/syncwindows",
        "GET /api/v1/stream/applications",
        "GET /api/v1/applications/{applicationName}/resource-tree",
        "GET /api/v1/applications/{name}/events",
    ] {
        assert!(routes.contains(want), "the scenario used {want}: {routes:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("exchanges.json");
    std::fs::write(&file, serde_json::to_vec(&exchanges).unwrap()).unwrap();
    // One known divergence, from the server's source: the description is generated from the
    // protobuf messages and names the struct a sync hook strategy inlines (`syncStrategyApply`),
    // while the server decodes REST bodies with Go's encoding/json (util/grpc/json.go), which
    // reads that struct's `force` inline, as the Application's own JSON has it.
    let published = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/argocd/swagger.json");
    let mut description: serde_json::Value = serde_json::from_slice(&std::fs::read(&published).unwrap()).unwrap();
    description["definitions"]["v1alpha1SyncStrategyHook"]["properties"]["force"] = json!({"type": "boolean"});
    let swagger = dir.path().join("swagger.json");
    std::fs::write(&swagger, serde_json::to_vec(&description).unwrap()).unwrap();
    let out = std::process::Command::new(support::python_tools::python("jsonschema"))
        .arg(support::python_tools::script("swagger_check.py"))
        .arg(&swagger)
        .arg(&file)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exchanges against Argo CD's API description:\n{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains(&format!("{} exchanges checked, 0 failures", exchanges.len())), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_way_in_held_to_argo_cds_api_description() {
    let w = world().await;
    let mut stream = Box::pin(w.apps.stream());

    // Listed, asked about, synced: Progressing, then Synced and Healthy, seen on the stream.
    assert_eq!(w.apps.list().await.unwrap().len(), 1);
    assert!(w.apps.can_i("sync", "shop", "checkout").await.unwrap());
    let seen = Seen::of(&w.apps.get("checkout").await.unwrap());
    w.controller.progress.store(true, Ordering::SeqCst);
    w.apps.act("checkout", &AppAction::Sync(SyncOptions { prune: true, ..Default::default() }), Some(&seen)).await.unwrap();
    until(&w.apps, "synced, progressing", |a| a.status.sync.status == "Synced" && a.status.health.status == "Progressing").await;
    w.controller.release(&w.api, NS, "checkout");
    let app = until(&w.apps, "healthy", |a| a.status.health.status == "Healthy").await;
    assert_eq!(app.last_deployed().unwrap().id, 1);
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await.expect("the stream says it").unwrap() {
            StreamUpdate::Apply(a) if a.status.health.status == "Healthy" && a.status.sync.status == "Synced" => break,
            StreamUpdate::Broken(why) => panic!("the stream broke: {why}"),
            _ => {}
        }
    }

    // Refused by the server, in its words: an operation already running; terminate stops it.
    w.controller.hold.store(true, Ordering::SeqCst);
    w.apps.act("checkout", &AppAction::Sync(SyncOptions::default()), None).await.unwrap();
    until(&w.apps, "running", |a| a.status.operation_state.as_ref().is_some_and(|o| o.phase == "Running")).await;
    let err = w.apps.act("checkout", &AppAction::Sync(SyncOptions::default()), None).await.unwrap_err();
    assert_eq!(err, ServerError::Refused("error setting app operation: another operation is already in progress".into()));
    w.apps.act("checkout", &AppAction::Terminate, None).await.unwrap();
    until(&w.apps, "terminated", |a| a.status.operation_state.as_ref().is_some_and(|o| o.phase == "Failed")).await;
    w.controller.hold.store(false, Ordering::SeqCst);

    // Rollback: refused with auto-sync on (turned on by a patch), done once it is off.
    w.apps.act("checkout", &AppAction::AutoSync { on: true }, None).await.unwrap();
    let err = w.apps.act("checkout", &AppAction::Rollback { id: 0, prune: false, dry_run: false }, None).await.unwrap_err();
    assert_eq!(err, ServerError::Refused("rollback cannot be initiated when auto-sync is enabled".into()));
    w.apps.act("checkout", &AppAction::AutoSync { on: false }, None).await.unwrap();
    w.apps.act("checkout", &AppAction::Rollback { id: 0, prune: false, dry_run: false }, None).await.unwrap();
    let app = until(&w.apps, "rolled back", |a| a.status.history.len() == 3).await;
    assert_eq!(app.status.sync.revision.as_deref(), Some(OLD));

    // Its resource tree and the controller's Events on it (each sync started and finished).
    let tree = w.apps.tree("checkout").await.unwrap();
    assert_eq!(tree.nodes.len(), 1, "{tree:?}");
    let events = w.apps.events("checkout").await.unwrap();
    let reasons: Vec<&str> = events.iter().filter_map(|e| e["reason"].as_str()).collect();
    assert!(reasons.iter().filter(|r| **r == "OperationCompleted").count() >= 3, "{reasons:?}");

    // A refresh, taken up by the controller.
    w.apps.act("checkout", &AppAction::Refresh { hard: false }, None).await.unwrap();
    until(&w.apps, "refreshed", |a| a.status.reconciled_at.is_some()).await;

    // A sync window that denies, then RBAC: asked beforehand, and the 403 when sent anyway.
    w.server.deny_window(true);
    let windows = w.apps.windows("checkout").await.unwrap();
    assert!(!windows.can_sync && windows.active.len() == 1 && windows.active[0].kind == "deny", "{windows:?}");
    let err = w.apps.act("checkout", &AppAction::Sync(SyncOptions::default()), None).await.unwrap_err();
    assert_eq!(err, ServerError::Forbidden("cannot sync: blocked by sync window".into()));
    w.server.deny_window(false);
    w.server.deny("sync");
    assert!(!w.apps.can_i("sync", "shop", "checkout").await.unwrap());
    let err = w.apps.act("checkout", &AppAction::Sync(SyncOptions::default()), None).await.unwrap_err();
    assert!(matches!(&err, ServerError::Forbidden(m) if m.contains("permission denied")), "{err:?}");
    assert!(err.to_string().contains("you may not"), "{err}");

    // A token the server does not take.
    let stranger = ServerApps::new(Connection { server: w.server.url(), token: Token::new("expired".into()) }).unwrap();
    let err = stranger.list().await.unwrap_err();
    assert!(matches!(&err, ServerError::Unauthorized(_)), "{err:?}");
    assert!(err.to_string().contains("argocd login"), "{err}");

    // The stream dropped: it says so, and a new one starts with every app.
    w.server.drop_streams();
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        if let StreamUpdate::Broken(why) = tokio::time::timeout_at(deadline, stream.next()).await.expect("the drop is told").unwrap() {
            assert_eq!(why, "the stream ended");
            break;
        }
    }
    let mut again = Box::pin(w.apps.stream());
    let first = tokio::time::timeout(LIMIT, again.next()).await.unwrap().unwrap();
    assert!(matches!(&first, StreamUpdate::Apply(a) if a.name() == "checkout"), "{first:?}");

    contract(&w.server);
}
