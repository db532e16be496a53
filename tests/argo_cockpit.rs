//! The cockpit on Argo Rollouts, headless: the reducer with the real effect workers against the
//! Kubernetes API double — the watched list, the opened rollout, actions behind confirmations,
//! what the access review forbids, a double keypress, and the undo revision picker.

mod support;

use std::time::Duration;

use flightdeck::app::state::{Overlay, Screen};
use flightdeck::delivery::FeedState;
use flightdeck::domain::RolloutRef;
use flightdeck::keymap::{Command, RolloutKey};
use serde_json::{Value, json};
use support::apiserver::ApiDouble;
use support::cockpit::Cockpit;

const LIMIT: Duration = Duration::from_secs(10);

fn rollout(name: &str, status: Value) -> Value {
    let mut s =
        json!({"phase": "Progressing", "currentStepIndex": 0, "currentPodHash": "new", "stableRS": "old", "observedGeneration": "1"});
    json_patch::merge(&mut s, &status);
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}")},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": format!("{name}:3")}]}},
                 "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 100}]}}},
        "status": s})
}

fn replica_set(owner: &str, revision: i64, hash: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("{owner}-{hash}"), "namespace": "shop", "labels": {"app": owner, "rollouts-pod-template-hash": hash},
                     "annotations": {"rollout.argoproj.io/revision": revision.to_string()},
                     "ownerReferences": [{"kind": "Rollout", "name": owner, "uid": format!("uid-{owner}"), "controller": true}]},
        "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": owner, "rollouts-pod-template-hash": hash}},
                                             "spec": {"containers": [{"name": "app", "image": format!("{owner}:{revision}")}]}}}})
}

/// A cockpit on the double's `context` (namespace shop), mapped to `env`; `extra` is more
/// configuration after the environment's table. Nothing is watched yet.
fn unwatched(api: &ApiDouble, context: &str, env: &str, extra: &str) -> (Cockpit, tempfile::TempDir) {
    let kube = tempfile::tempdir().unwrap();
    let path = kube.path().join("kubeconfig");
    std::fs::write(&path, api.kubeconfig(&[(context, "shop")])).unwrap();
    let config = format!(
        "[kubernetes]\nkubeconfig = \"{}\"\ntimeout = \"3s\"\nenvironments = {{ {context} = \"{env}\" }}\n\n[environments.{env}]\n{extra}",
        path.display()
    );
    (Cockpit::new(&config, 160, 45), kube)
}

async fn cockpit(api: &ApiDouble) -> (Cockpit, tempfile::TempDir) {
    let (mut c, kube) = unwatched(api, "staging", "staging", "");
    c.press("6");
    c.until("the watched rollouts", LIMIT, |s| {
        s.releases.feeds.get("argo").is_some_and(|f| f.state == FeedState::Live) && !s.releases.rows.is_empty()
    })
    .await;
    // The selected row's detail brings what this user may do; until then no key is offered.
    c.until("the selected rollout's access review", LIMIT, |s| opened(s).is_some()).await;
    (c, kube)
}

fn opened(s: &flightdeck::app::state::State) -> Option<&flightdeck::delivery::Detail> {
    s.releases.detail.as_ref().filter(|d| d.loaded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_open_promote_and_see_the_change_arrive() {
    let api = ApiDouble::start().await;
    api.put(rollout(
        "web",
        json!({"phase": "Paused", "currentStepIndex": 1, "controllerPause": true, "pauseConditions": [{"reason": "CanaryPauseStep"}]}),
    ));
    api.put(rollout("api", json!({"phase": "Healthy", "currentStepIndex": 3, "stableRS": "new"})));
    let (mut c, _k) = cockpit(&api).await;
    // What needs a human first.
    assert_eq!(c.state.selected_release().unwrap().reference.short(), "shop/web");
    c.press("<enter>");
    assert_eq!(c.state.screen, Screen::Release);
    c.until("the opened rollout", LIMIT, |s| opened(s).is_some_and(|d| d.permissions.is_some())).await;
    assert!(!c.screen().contains("you may not"), "nothing is forbidden here:\n{}", c.screen());

    c.press("p");
    let Some(Overlay::Confirm(confirm)) = &c.state.overlay else { panic!("promote asks first:\n{}", c.screen()) };
    assert!(
        confirm.lines.iter().any(|l| l.contains(r#"PATCH rollout/status (merge) {"status":{"pauseConditions":null}}"#)),
        "{:?}",
        confirm.lines
    );
    c.press("y");
    // The same key again while the first is on its way: refused, not sent twice.
    c.press("p");
    c.until("the promote", LIMIT, |s| s.in_flight.is_empty()).await;
    let patches: Vec<_> = api.take_writes().into_iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert_eq!(patches[0].body, json!({"status": {"pauseConditions": null}}));

    // The controller moves on; the watch brings it to the screen.
    api.modify("rollouts", "shop", "web", |r| {
        r["status"]["controllerPause"] = json!(false);
        r["status"]["currentStepIndex"] = json!(2);
        r["status"]["phase"] = json!("Progressing");
    });
    let web = RolloutRef::argo("staging", "shop", "web");
    c.until("the controller's change", LIMIT, |s| s.release(&web).is_some_and(|r| r.step == Some((3, 3)))).await;
    // The action's Kubernetes Event is in the opened rollout's timeline.
    c.until("the event in the timeline", LIMIT, |s| {
        opened(s).is_some_and(|d| d.timeline.iter().any(|e| e.text.contains("FlightdeckPromote")))
    })
    .await;
    assert!(c.screen().contains("FlightdeckPromote: promote by alice@ops via flightdeck"), "{}", c.screen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_actions_are_greyed_with_the_reason_before_any_key() {
    let api = ApiDouble::start().await;
    api.put(rollout("web", json!({"currentStepIndex": 0})));
    api.forbid("patch", "rollouts/status");
    let (mut c, _k) = cockpit(&api).await;
    c.press("<enter>");
    c.until("the access review", LIMIT, |s| opened(s).is_some_and(|d| d.permissions.is_some())).await;
    let why = flightdeck::app::selectors::preview(&c.state, Command::Rollout(RolloutKey::Abort)).unwrap_err();
    assert!(why.contains("you may not patch rollouts/status"), "{why}");
    assert_eq!(flightdeck::app::selectors::preview(&c.state, Command::Rollout(RolloutKey::Pause)), Ok(()));
    assert!(c.screen().contains("✗ abort, promote, promote-full, retry — you may not patch rollouts/status"), "{}", c.screen());
    c.press("X");
    assert!(c.state.overlay.is_none());
    assert!(api.take_writes().iter().all(|r| r.method != "PATCH"));
}

/// On the list (screen 6), where keys act on the selected row without opening it: a key is not
/// offered before the access review is back, and a forbidden one never sends its PATCH.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_view_asks_what_is_allowed_before_offering_a_key() {
    let api = ApiDouble::start().await;
    let paused =
        json!({"phase": "Paused", "currentStepIndex": 1, "controllerPause": true, "pauseConditions": [{"reason": "CanaryPauseStep"}]});
    api.put(rollout("web", paused.clone()));
    api.put(rollout("api", paused));
    api.forbid("patch", "rollouts/status");
    let (mut c, _k) = cockpit(&api).await;
    assert_eq!(c.state.screen, Screen::Overview, "on the list");
    c.press("p");
    assert!(c.state.overlay.is_none(), "a forbidden promote is not offered:\n{}", c.screen());
    let why = flightdeck::app::selectors::preview(&c.state, Command::Rollout(RolloutKey::Promote)).unwrap_err();
    assert!(why.contains("you may not patch rollouts/status"), "{why}");

    // The next row, while the API server does not answer: its access review is not back yet.
    api.hang(true);
    c.press("j");
    c.press("p");
    assert!(c.state.overlay.is_none(), "no promote is offered before the review:\n{}", c.screen());
    let why = flightdeck::app::selectors::preview(&c.state, Command::Rollout(RolloutKey::Promote)).unwrap_err();
    assert!(why.contains("still reading what you may do"), "{why}");
    api.hang(false);
    assert!(api.take_writes().iter().all(|r| r.method != "PATCH"), "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_picks_a_revision_from_the_list() {
    let api = ApiDouble::start().await;
    api.put(rollout("web", json!({"phase": "Healthy", "currentStepIndex": 3, "stableRS": "new"})));
    for (rev, hash) in [(1, "h1"), (2, "old"), (3, "new")] {
        api.put(replica_set("web", rev, hash));
    }
    let (mut c, _k) = cockpit(&api).await;
    // On the releases list: the revisions are read if need be, then the picker opens.
    c.press("U");
    c.until("the revisions", LIMIT, |s| opened(s).is_some_and(|d| d.revisions.len() == 3)).await;
    c.until("the picker", LIMIT, |s| s.releases.picker.is_some()).await;
    assert_eq!(c.state.releases.picker, Some(1), "the previous revision is proposed");
    assert!(c.screen().contains("Undo shop/web to which revision?"), "{}", c.screen());
    c.press("j<enter>");
    let Some(Overlay::Confirm(confirm)) = &c.state.overlay else { panic!("undo asks first:\n{}", c.screen()) };
    assert!(confirm.lines.iter().any(|l| l.contains("\"image\":\"web:1\"")), "{:?}", confirm.lines);
    c.press("y");
    c.until("the undo", LIMIT, |s| s.in_flight.is_empty()).await;
    let patches: Vec<_> = api.take_writes().into_iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].content_type, "application/json-patch+json");

    // The controller brings the old ReplicaSet back as revision 4 and starts an analysis: the
    // opened rollout shows both without a key pressed.
    api.modify("replicasets", "shop", "web-h1", |rs| rs["metadata"]["annotations"]["rollout.argoproj.io/revision"] = json!("4"));
    api.put(json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": "web-h1-4", "namespace": "shop", "ownerReferences": [{"kind": "Rollout", "name": "web", "uid": "uid-web", "controller": true}]},
        "spec": {}, "status": {"phase": "Running"}}));
    c.until("the watched revisions and analysis run", LIMIT, |s| {
        opened(s).is_some_and(|d| {
            d.revisions.first().is_some_and(|r| r.number == 4)
                && d.sections.iter().any(|x| x.title == "analysis runs" && x.lines.len() == 1)
        })
    })
    .await;
}

/// A production rollout deployed by a run of this cockpit: its promotion is judged by that run's
/// findings, and `f` on this screen opens that run's findings (not another screen's selection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_run_judges_the_promotion_and_f_opens_its_findings() {
    let api = ApiDouble::start().await;
    let (mut c, _kube) =
        unwatched(&api, "prod-eu", "prod", "production = true\n\n[[pipelines.build.stages]]\nname = \"b\"\nrun = \"true\"\n");
    c.until("history loaded", LIMIT, |s| s.runs_loaded).await;
    let trigger = flightdeck::domain::Trigger { actor: "bob@laptop".into(), via: "cli".into(), ..Default::default() };
    let run = flightdeck::ci::CiProvider::trigger(&c.runner, "build".into(), trigger).await.unwrap();
    c.until("the run succeeds", LIMIT, |s| s.run(&run).is_some_and(|r| r.record.status.is_terminal())).await;

    let mut linked = rollout("web", json!({"phase": "Paused", "currentStepIndex": 1, "pauseConditions": [{"reason": "CanaryPauseStep"}]}));
    linked["metadata"]["annotations"] = json!({"flightdeck.dev/run": run.text()});
    api.put(linked);
    api.put(rollout("orphan", json!({"phase": "Paused", "currentStepIndex": 1, "pauseConditions": [{"reason": "CanaryPauseStep"}]})));
    c.press("6");
    c.until("the watched rollouts", LIMIT, |s| s.releases.rows.len() == 2).await;

    // The unlinked one fails closed, and says how to link a run.
    let orphan = RolloutRef::argo("prod-eu", "shop", "orphan");
    c.state.releases.selected = Some(orphan.clone());
    c.press("7");
    c.until("opened", LIMIT, |s| opened(s).is_some_and(|d| d.reference.as_ref() == Some(&orphan))).await;
    c.press("p");
    assert!(c.state.overlay.is_none(), "refused, no dialog:\n{}", c.screen());
    assert!(
        c.state.toasts.iter().any(|t| t.text.contains("security") && t.text.contains("--evidence RUN")),
        "the refusal says what is missing and how to supply it: {:?}",
        c.state.toasts
    );
    c.press("f");
    assert!(c.state.toasts.iter().any(|t| t.text.contains("linked to shop/orphan")), "{:?}", c.state.toasts);
    assert_eq!(c.state.screen, Screen::Release);

    // The linked one: its run's findings are read when it is opened, and they judge the promotion.
    c.press("<esc>");
    let web = RolloutRef::argo("prod-eu", "shop", "web");
    c.state.releases.selected = Some(web.clone());
    c.press("7");
    c.until("its run's findings", LIMIT, |s| s.run(&run).is_some_and(|r| r.evidence.is_some())).await;
    c.until("opened", LIMIT, |s| opened(s).is_some_and(|d| d.reference.as_ref() == Some(&web))).await;
    c.press("p");
    let Some(Overlay::Confirm(d)) = &c.state.overlay else { panic!("promote asks for the typed name:\n{}", c.screen()) };
    assert!(d.lines.iter().any(|l| l.contains(&format!("security findings of run {}", run.text()))), "{:?}", d.lines);
    c.press("<esc>");
    c.press("f");
    assert_eq!(
        (c.state.screen, c.state.selected_run.as_ref()),
        (Screen::Findings, Some(&run)),
        "f opens the findings of the run behind it"
    );
}

/// One list of releases: the Argo Rollouts of the context are rows of the releases screen, what
/// needs a human first; the rollout keys act on the selected row through its provider, and Enter
/// opens it where its steps and revisions are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_releases_screen_lists_argo_rollouts_and_acts_on_them() {
    let api = ApiDouble::start().await;
    api.put(rollout(
        "web",
        json!({"phase": "Paused", "currentStepIndex": 1, "controllerPause": true, "pauseConditions": [{"reason": "CanaryPauseStep"}]}),
    ));
    api.put(rollout("api", json!({"phase": "Healthy", "currentStepIndex": 3, "stableRS": "new"})));
    let (mut c, _kube) = unwatched(&api, "staging", "staging", "");
    // The releases screen starts the watch itself.
    c.press("6");
    assert_eq!(c.state.screen, Screen::Overview);
    c.until("the releases", LIMIT, |s| s.releases().len() == 2).await;
    c.until("the selected rollout's access review", LIMIT, |s| opened(s).is_some()).await;
    let text = c.screen();
    assert!(text.contains("Releases · 2 rollouts"), "{text}");
    let web = text.lines().position(|l| l.contains("shop/web")).expect("web listed");
    let api_row = text.lines().position(|l| l.contains("shop/api")).expect("api listed");
    assert!(web < api_row, "what waits for a human comes first:\n{text}");
    assert!(text.contains("(2)") || text.contains("Releases (1)"), "the tab counts what waits:\n{text}");

    // p on the selected (Argo) row asks to promote it, through the same safety core.
    c.press("p");
    let Some(Overlay::Confirm(d)) = &c.state.overlay else { panic!("promote asks first:\n{}", c.screen()) };
    assert!(d.title.contains("shop/web") || d.lines.iter().any(|l| l.contains("shop/web")), "{:?}", d.lines);
    c.press("<esc>");
    // Moving down selects the next row; Enter opens it in full.
    c.press("j<enter>");
    assert_eq!(c.state.screen, Screen::Release);
    let api_ref = RolloutRef::argo("staging", "shop", "api");
    c.until("opened", LIMIT, |s| opened(s).is_some_and(|d| d.reference.as_ref() == Some(&api_ref))).await;
    assert!(c.screen().contains("Release · shop/api · Argo Rollout"), "{}", c.screen());
}

/// A promote pressed twice while the controller lags behind the first: the second is refused
/// until the controller has acted, so a following pause is never skipped, whatever the lag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_promote_never_skips_the_next_pause_whatever_the_controller_lag() {
    for lag_ms in [100u64, 400, 1000, 2000] {
        let api = std::sync::Arc::new(ApiDouble::start().await);
        let mut r = rollout(
            "web",
            json!({"phase": "Paused", "currentStepIndex": 1, "controllerPause": true, "pauseConditions": [{"reason": "CanaryPauseStep"}]}),
        );
        r["spec"]["strategy"]["canary"]["steps"] =
            json!([{"setWeight": 20}, {"pause": {}}, {"pause": {"duration": "1h"}}, {"setWeight": 100}]);
        api.put(r);
        let (mut c, _k) = cockpit(&api).await;
        let web = RolloutRef::argo("staging", "shop", "web");
        c.press("p");
        assert!(matches!(c.state.overlay, Some(Overlay::Confirm(_))), "lag {lag_ms}: {}", c.screen());
        c.press("y");
        c.until("the first promote", LIMIT, |s| s.in_flight.is_empty()).await;
        // The controller takes its time: meanwhile the person presses again, and confirms.
        let controller = {
            let api = api.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(lag_ms)).await;
                api.modify("rollouts", "shop", "web", |r| {
                    r["status"]["currentStepIndex"] = json!(2);
                    r["status"]["controllerPause"] = json!(true);
                    r["status"]["pauseConditions"] = json!([{"reason": "CanaryPauseStep", "startTime": "2026-11-28T10:00:00Z"}]);
                    r["status"]["phase"] = json!("Paused");
                });
            })
        };
        tokio::time::sleep(Duration::from_millis(lag_ms / 3)).await;
        c.pump(Duration::from_millis(20)).await;
        c.press("p");
        if matches!(c.state.overlay, Some(Overlay::Confirm(_))) {
            c.press("y");
        }
        c.until("the second press handled", LIMIT, |s| s.in_flight.is_empty()).await;
        controller.await.unwrap();
        c.until("the controller's move on screen", LIMIT, |s| s.release(&web).is_some_and(|r| r.step == Some((3, 4)))).await;
        let patches: Vec<_> = api.take_writes().into_iter().filter(|w| w.method == "PATCH" && w.path.contains("/rollouts/")).collect();
        assert_eq!(patches.len(), 1, "lag {lag_ms} ms: one promote reached the cluster: {patches:?}");
        let step = api.get("rollouts", "shop", "web").unwrap()["status"]["currentStepIndex"].as_i64();
        assert_eq!(step, Some(2), "lag {lag_ms} ms: the 1 h pause was not skipped");
        assert!(
            c.state.toasts.iter().any(|t| t.text.contains("has not acted on the last change yet")),
            "lag {lag_ms} ms: the refusal says why: {:?}",
            c.state.toasts
        );
    }
}

/// A hung API server is noticed within a bound (its watch goes silent), shown as stalled with the
/// rows kept, and the feed is live again, without the old error, once the server answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_api_server_shows_stalled_and_recovers() {
    let api = ApiDouble::start().await;
    api.put(rollout("web", json!({"phase": "Healthy", "currentStepIndex": 3, "stableRS": "new"})));
    let (mut c, _k) = cockpit(&api).await;
    api.hang(true);
    // The configured timeout is 3 s: a watch that stays silent 12 s, then a renewed one that does
    // too, is a stall.
    let bound = Duration::from_secs(40);
    c.until("the stall shown", bound, |s| {
        s.releases.feeds.get("argo").is_some_and(|f| matches!(&f.state, FeedState::Retrying(why) if why.contains("stalled")))
    })
    .await;
    assert!(!c.state.releases.rows.is_empty(), "the rows stay while it reconnects");
    assert!(c.screen().contains("stalled"), "{}", c.screen());
    api.hang(false);
    c.until("live again", bound, |s| s.releases.feeds.get("argo").is_some_and(|f| f.state == FeedState::Live)).await;
    assert!(!c.screen().contains("stalled"), "no stale error: {}", c.screen());
}

/// A quiet, healthy cluster says nothing for minutes: that is not a stall.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_cluster_is_never_shown_stalled() {
    let api = ApiDouble::start().await;
    api.put(rollout("web", json!({"phase": "Healthy", "currentStepIndex": 3, "stableRS": "new"})));
    let (mut c, _k) = cockpit(&api).await;
    // Longer than two silences of the stall bound (3 s timeout): nothing changes meanwhile.
    for _ in 0..30 {
        c.pump(Duration::from_secs(1)).await;
        let feed = &c.state.releases.feeds["argo"];
        assert!(!matches!(&feed.state, FeedState::Retrying(why) if why.contains("stalled")), "a quiet cluster shown as {:?}", feed.state);
    }
    assert_eq!(c.state.releases.rows.len(), 1);
}
