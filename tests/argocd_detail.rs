//! An Argo CD application in full, through both ways in: its resource tree (what it manages and
//! what those own, with health), the Argo Rollouts it owns, its Events, and a sync that only a
//! window's manual exception lets through; and the provider's feed, dropped by the server and
//! resumed with what changed meanwhile.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use flightdeck::delivery::{Detail, FeedState, ReleaseEvent, RolloutProvider};
use flightdeck::deploy::argocd::ops::{AppAction, SyncOptions};
use flightdeck::deploy::argocd::provider::{ArgoCdProvider, Backend, LazyKube};
use flightdeck::deploy::argocd::server::{Connection, ServerApps};
use flightdeck::domain::RolloutRef;
use flightdeck::util::Token;
use serde_json::json;
use support::apiserver::ApiDouble;
use support::argocd_controller::{ScriptedArgoCd, owning_app};
use support::argocd_server::{ArgoCdServer, TOKEN};

const NS: &str = "argocd";
const LIMIT: Duration = Duration::from_secs(20);

fn app_ref() -> RolloutRef {
    RolloutRef { provider: "argocd".into(), scope: String::new(), name: "checkout".into() }
}

fn provider(backend: Backend) -> ArgoCdProvider {
    let services = BTreeMap::from([("prod/checkout".to_string(), "checkout".to_string())]);
    ArgoCdProvider::new(backend, BTreeMap::from([("shop".into(), "production".into())]), ["production".into()].into(), "alice".into())
        .with_services(services)
}

fn section<'d>(d: &'d Detail, title: &str) -> &'d [String] {
    d.sections.iter().find(|s| s.title.starts_with(title)).map(|s| s.lines.as_slice()).unwrap_or_else(|| panic!("no {title}: {d:#?}"))
}

/// What both ways in must show of the app that owns the `checkout` Rollout.
fn shows_the_tree_and_the_owned_rollout(d: &Detail) {
    let tree = section(d, "Resources (2 · 1 out of sync)");
    let want = [
        "≠ Service/checkout (prod) · OutOfSync · Healthy",
        "‖ Rollout/checkout (prod) · Synced · Suspended · Rollout is paused",
        "  ◐ ReplicaSet/checkout-6d4f · Progressing",
        "    ✓ Pod/checkout-6d4f-a · Healthy",
        "    ◐ Pod/checkout-6d4f-b · Progressing",
    ];
    assert_eq!(tree.len(), want.len(), "the stranger Pod stays out: {tree:#?}");
    for (line, want) in tree.iter().zip(want) {
        assert!(line.starts_with(want), "{line:?} should start with {want:?}: {tree:#?}");
    }
    assert_eq!(d.related, [RolloutRef::argo("", "prod", "checkout")]);
    assert_eq!(section(d, "Argo Rollouts it owns"), ["prod/checkout"]);
}

async fn until_event(p: &ArgoCdProvider, reason: &str) -> Detail {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let d = p.detail(app_ref()).await.unwrap();
        if d.timeline.iter().any(|t| t.text.starts_with(reason)) {
            return d;
        }
        assert!(tokio::time::Instant::now() < deadline, "no {reason} event: {:#?}", d.timeline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_kubernetes_the_tree_is_put_together_from_owner_references_with_the_apps_events() {
    let api = Arc::new(ApiDouble::start().await);
    owning_app(&api, NS, "checkout");
    let _controller = ScriptedArgoCd::start(api.clone(), NS);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(&kubeconfig, api.kubeconfig(&[("double", "shop")])).unwrap();
    let p = provider(Backend::Kube(LazyKube::new(Some(kubeconfig), None, None, Duration::from_secs(5))));

    let d = p.detail(app_ref()).await.unwrap();
    assert_eq!(d.error, None);
    shows_the_tree_and_the_owned_rollout(&d);
    // The row carries the canary verdict of the service that judges its Rollout.
    let row = p.get(app_ref()).await.unwrap();
    assert_eq!(row.service.as_deref(), Some("checkout"));
    assert_eq!(row.environment.as_deref(), Some("production"));

    // A sync: the controller's Events on the app join the timeline.
    p.execute(app_ref(), flightdeck::delivery::RolloutAction::whole_sync(), None, by()).await.unwrap();
    let d = until_event(&p, "OperationCompleted").await;
    assert!(d.timeline.iter().any(|t| t.text == "OperationStarted: Initiated sync"), "{:#?}", d.timeline);

    // Another cluster: only the top level, and why.
    api.modify("applications", NS, "checkout", |a| a["spec"]["destination"] = json!({"name": "eu-west", "namespace": "prod"}));
    let d = p.detail(app_ref()).await.unwrap();
    let tree = section(&d, "Resources");
    assert_eq!(tree.len(), 3, "{tree:#?}");
    assert_eq!(tree[2], "(the top level only: eu-west/prod is another cluster; the Argo CD API server reads it)");
    assert_eq!(d.related.len(), 1, "the Rollout is still known from the app's status");
}

fn by() -> flightdeck::delivery::By {
    flightdeck::delivery::By { actor: "alice".into(), reason: "test".into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_api_server_the_tree_events_and_a_manual_only_sync_are_shown_and_the_feed_survives_a_drop() {
    let api = Arc::new(ApiDouble::start().await);
    owning_app(&api, NS, "checkout");
    let _controller = ScriptedArgoCd::start(api.clone(), NS);
    let server = ArgoCdServer::start(api.clone(), NS).await;
    let apps = ServerApps::new(Connection { server: server.url(), token: Token::new(TOKEN.into()) }).unwrap();
    let p = provider(Backend::Server(apps.clone()));

    let d = p.detail(app_ref()).await.unwrap();
    assert_eq!(d.error, None);
    shows_the_tree_and_the_owned_rollout(&d);

    // A deny window that lets manual syncs through: allowed, and said so.
    server.deny_window_but_manual();
    let perms = p.permissions(app_ref()).await.unwrap();
    assert!(perms.denied.is_empty(), "{perms:?}");
    assert_eq!(perms.notes["sync"], "a manual sync only: deny window deny `0 22 * * *` for 1h (UTC) lets manual syncs");
    apps.act("checkout", &AppAction::Sync(SyncOptions::default()), None).await.unwrap();
    let d = until_event(&p, "OperationCompleted").await;
    assert!(d.permissions.as_ref().is_some_and(|p| p.notes.contains_key("sync")));
    server.deny_window(false);

    // The feed: listed and live; the server drops the stream; a change made meanwhile is seen
    // when the feed comes back.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = tokio_util::sync::CancellationToken::new();
    p.watch(tx, stop.clone());
    assert!(matches!(next(&mut rx).await, ReleaseEvent::Reset { releases, .. } if releases.len() == 1));
    assert!(matches!(next(&mut rx).await, ReleaseEvent::Feed { feed, .. } if feed.state == FeedState::Live));
    // Dropped once the stream is open (a drop before that would meet no stream).
    let deadline = tokio::time::Instant::now() + LIMIT;
    while server.open_streams() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the feed never opened the stream");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.drop_streams();
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "the drop was never told");
        if matches!(next(&mut rx).await, ReleaseEvent::Feed { feed, .. } if matches!(feed.state, FeedState::Retrying(_))) {
            break;
        }
    }
    // While it is down, the app goes bad: the feed, back, says so.
    api.modify("applications", NS, "checkout", |a| a["status"]["health"] = json!({"status": "Degraded", "message": "pods crash"}));
    let (mut degraded, mut live) = (false, false);
    while !(degraded && live) {
        assert!(tokio::time::Instant::now() < deadline, "the degraded app was never reported on a live feed");
        match next(&mut rx).await {
            ReleaseEvent::Reset { releases, .. } => degraded = releases[0].state.contains("Degraded"),
            ReleaseEvent::Changed(r) => degraded = r.state.contains("Degraded"),
            ReleaseEvent::Feed { feed, .. } => live = feed.state == FeedState::Live,
            ReleaseEvent::Gone(_) => degraded = false,
        }
    }
    stop.cancel();
}

async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<ReleaseEvent>) -> ReleaseEvent {
    tokio::time::timeout(LIMIT, rx.recv()).await.expect("the feed says something").expect("the feed goes on")
}
