//! The cockpit on Argo CD, headless: an application is a row on the releases screen, with its
//! keys (and not a rollout's); `s` syncs it behind its confirmation; `U` picks a history entry
//! to roll back to; `C` stops a sync that runs; a cluster that forbids greys the keys.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use flightdeck::app::state::Overlay;
use flightdeck::delivery::FeedState;
use support::apiserver::ApiDouble;
use support::argocd_controller::{OLD, ScriptedArgoCd, application};
use support::cockpit::Cockpit;

const LIMIT: Duration = Duration::from_secs(20);
const NS: &str = "argocd";

async fn cockpit(api: &Arc<ApiDouble>) -> (Cockpit, tempfile::TempDir) {
    let kube = tempfile::tempdir().unwrap();
    let path = kube.path().join("kubeconfig");
    std::fs::write(&path, api.kubeconfig(&[("staging", "shop")])).unwrap();
    let config = config_for(&path);
    let mut c = Cockpit::new(&config, 160, 45);
    c.press("6");
    c.until("the application listed", LIMIT, |s| {
        s.releases.feeds.get("argocd").is_some_and(|f| f.state == FeedState::Live)
            && s.releases.rows.values().any(|r| r.reference.provider == "argocd")
    })
    .await;
    // The cluster has no Argo Rollouts: the application is the only row, and selected.
    c.until("its detail read", LIMIT, |s| s.releases.detail.as_ref().is_some_and(|d| d.loaded && d.permissions.is_some())).await;
    (c, kube)
}

/// Argo Rollouts and Argo CD (through the Kubernetes API) on the double behind `kubeconfig`.
fn config_for(kubeconfig: &std::path::Path) -> String {
    format!(
        "[kubernetes]\nkubeconfig = \"{}\"\ntimeout = \"3s\"\n\n[argocd]\nserver = \"kubernetes\"\nenvironments = {{ shop = \"staging\" }}\n\n[environments.staging]\n",
        kubeconfig.display()
    )
}

fn synced(api: &ApiDouble, history: usize) -> bool {
    api.get("applications", NS, "checkout").is_some_and(|a| {
        a["status"]["history"].as_array().is_some_and(|h| h.len() == history) && a.get("operation").is_none_or(|o| o.is_null())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_is_synced_and_rolled_back_by_keystroke() {
    let api = Arc::new(ApiDouble::start().await);
    api.put(application(NS, "checkout"));
    let controller = ScriptedArgoCd::start(api.clone(), NS);
    let (mut c, _k) = cockpit(&api).await;
    let screen = c.screen();
    assert!(screen.contains("argocd:checkout") || screen.contains("checkout"), "{screen}");
    assert!(screen.contains("OutOfSync · Healthy"), "{screen}");
    assert!(screen.contains("s sync") && screen.contains("o refresh"), "its own keys: {screen}");
    assert!(!screen.contains("p promote"), "not a rollout's: {screen}");

    // `s`: the confirmation says what will be written, then the controller runs it.
    c.press("s");
    let Some(Overlay::Confirm(confirm)) = &c.state.overlay else { panic!("sync asks first:\n{}", c.screen()) };
    assert!(confirm.lines.iter().any(|l| l.contains("Sync checkout")), "{:?}", confirm.lines);
    assert!(confirm.lines.iter().any(|l| l.contains("\"operation\"")), "the exact write: {:?}", confirm.lines);
    c.press("y");
    c.until("the sync sent", LIMIT, |s| s.in_flight.is_empty()).await;
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !synced(&api, 2) {
        assert!(tokio::time::Instant::now() < deadline, "never synced");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.until("the row in sync", LIMIT, |s| s.releases.rows.values().any(|r| r.state.starts_with("Synced"))).await;

    // `U`: the history to pick from; the older entry, confirmed, is deployed again.
    c.until("the history in the detail", LIMIT, |s| s.releases.detail.as_ref().is_some_and(|d| d.revisions.len() == 2)).await;
    c.press("U");
    c.until("the picker", LIMIT, |s| s.releases.picker.is_some()).await;
    c.press("<enter>");
    let Some(Overlay::Confirm(confirm)) = &c.state.overlay else { panic!("rollback asks first:\n{}", c.screen()) };
    assert!(confirm.lines.iter().any(|l| l.contains("back to history 0")), "{:?}", confirm.lines);
    c.press("y");
    c.until("the rollback sent", LIMIT, |s| s.in_flight.is_empty()).await;
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !synced(&api, 3) {
        assert!(tokio::time::Instant::now() < deadline, "never rolled back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(api.get("applications", NS, "checkout").unwrap()["status"]["sync"]["revision"], OLD);

    // A sync that runs: `C` stops it.
    controller.hold.store(true, Ordering::SeqCst);
    c.until("the row showing the rollback done", LIMIT, |s| {
        s.releases
            .rows
            .values()
            .any(|r| r.reference.provider == "argocd" && r.seen.revision == OLD && r.seen.state.contains("no operation"))
    })
    .await;
    c.press("s");
    c.press("y");
    c.until("the sync sent", LIMIT, |s| s.in_flight.is_empty()).await;
    c.until("the sync running", LIMIT, |s| s.releases.rows.values().any(|r| r.state.contains("sync running"))).await;
    c.until("stop offered", LIMIT, |s| s.selected_release().is_some_and(|r| r.supports.contains(&"terminate-operation"))).await;
    c.press("C");
    let Some(Overlay::Confirm(_)) = &c.state.overlay else { panic!("stop asks first:\n{}", c.screen()) };
    c.press("y");
    c.until("the sync stopped", LIMIT, |s| s.releases.rows.values().any(|r| r.state.contains("sync failed"))).await;

    // `A` turns auto-sync on, and pressed again, off.
    c.until("nothing in flight", LIMIT, |s| s.in_flight.is_empty()).await;
    for on in [true, false] {
        c.press("A");
        let Some(Overlay::Confirm(confirm)) = &c.state.overlay else { panic!("auto-sync asks first:\n{}", c.screen()) };
        let want = if on { "auto-sync of checkout on" } else { "auto-sync of checkout off" };
        assert!(confirm.lines.iter().any(|l| l.contains(want)), "{want}: {:?}", confirm.lines);
        c.press("y");
        c.until("auto-sync flipped", LIMIT, |s| {
            s.selected_release().is_some_and(|r| r.offers_verb("auto-sync-off") == on) && s.in_flight.is_empty()
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_in_full_shows_its_tree_and_l_opens_the_rollout_it_owns() {
    let api = Arc::new(ApiDouble::start().await);
    support::argocd_controller::owning_app(&api, NS, "checkout");
    let _controller = ScriptedArgoCd::start(api.clone(), NS);
    let kube = tempfile::tempdir().unwrap();
    let path = kube.path().join("kubeconfig");
    // The Argo Rollouts provider watches `prod`, where the application deploys.
    std::fs::write(&path, api.kubeconfig(&[("staging", "prod")])).unwrap();
    let config = config_for(&path);
    let mut c = Cockpit::new(&config, 160, 60);
    c.press("6");
    c.until("the application and its rollout listed", LIMIT, |s| {
        s.releases.rows.keys().any(|r| r.provider == "argocd") && s.releases.rows.keys().any(|r| r.provider == "argo")
    })
    .await;
    // Select the application and open it in full.
    for _ in 0..s_rows(&c) {
        if c.state.selected_release().is_some_and(|r| r.reference.provider == "argocd") {
            break;
        }
        c.press("j");
    }
    c.press("7");
    c.until("its tree read", LIMIT, |s| s.releases.detail.as_ref().is_some_and(|d| d.loaded && !d.related.is_empty())).await;
    let screen = c.screen();
    for want in
        ["Resources (2 · 1 out of sync)", "≠ Service/checkout (prod)", "ReplicaSet/checkout-6d4f", "Pod/checkout-6d4f-a", "L owned rollout"]
    {
        assert!(screen.contains(want), "{want}:\n{screen}");
    }

    // `:sync` with options and a resource (Tab completes them), confirmed, is written so.
    c.press(":sync pr<tab>");
    let Some(Overlay::Input(input)) = &c.state.overlay else { panic!("the command line:\n{}", c.screen()) };
    assert_eq!(input.value(), "sync prune ");
    c.press("Serv<tab><enter>");
    let Some(Overlay::Confirm(confirm)) = &c.state.overlay else { panic!("the sync asks first:\n{}", c.screen()) };
    let said = confirm.lines.join("\n");
    assert!(
        said.contains("\"prune\":true") && said.contains("\"kind\":\"Service\",\"name\":\"checkout\",\"namespace\":\"prod\""),
        "{said}"
    );
    c.press("y");
    c.until("the sync sent", LIMIT, |s| s.in_flight.is_empty()).await;
    let written = api.get("applications", NS, "checkout").unwrap();
    let history = written["status"]["history"].as_array().map(Vec::len).unwrap_or(0);
    let op = &written["status"]["operationState"]["operation"]["sync"];
    assert!(history == 2 || (op["prune"] == true && op["resources"][0]["kind"] == "Service"), "the write carries the options: {written:#}");

    // `L`: the Argo Rollout it owns, in full, with a rollout's keys.
    c.press("L");
    c.until("the rollout opened", LIMIT, |s| {
        s.selected_release().is_some_and(|r| r.reference.provider == "argo")
            && s.releases.detail.as_ref().is_some_and(|d| d.loaded && d.reference.as_ref().is_some_and(|r| r.provider == "argo"))
    })
    .await;
    let screen = c.screen();
    assert!(screen.contains("Release · prod/checkout") && screen.contains("p promote"), "{screen}");

    // An application that owns two: `L` asks which.
    let mut second = api.get("rollouts", "prod", "checkout").unwrap();
    second["metadata"] = serde_json::json!({"name": "checkout-eu", "namespace": "prod"});
    api.put(second);
    api.modify("applications", NS, "checkout", |a| {
        let mut eu = a["status"]["resources"][0].clone();
        eu["name"] = "checkout-eu".into();
        a["status"]["resources"].as_array_mut().unwrap().push(eu);
    });
    c.until("both rollouts listed", LIMIT, |s| s.releases.rows.keys().filter(|r| r.provider == "argo").count() == 2).await;
    c.press("<esc>");
    for _ in 0..s_rows(&c) {
        if c.state.selected_release().is_some_and(|r| r.reference.provider == "argocd") {
            break;
        }
        c.press("j");
    }
    c.press("7");
    c.until("both owned", LIMIT, |s| s.releases.detail.as_ref().is_some_and(|d| d.related.len() == 2)).await;
    c.press("L");
    c.until("the picker", LIMIT, |s| s.releases.picker.is_some() && s.releases.picking_owned).await;
    let screen = c.screen();
    assert!(screen.contains("Which Argo Rollout of checkout?") && screen.contains("prod/checkout-eu"), "{screen}");
    c.press("j");
    c.press("<enter>");
    c.until("the second opened", LIMIT, |s| s.selected_release().is_some_and(|r| r.reference.name == "checkout-eu")).await;
    assert!(c.state.releases.picker.is_none());
}

fn s_rows(c: &Cockpit) -> usize {
    c.state.releases.rows.len()
}
