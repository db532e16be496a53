//! The Kubernetes API double checked by the real kubectl: discovery, get, list by label, watch,
//! merge patches on the main resource and on the status subresource, JSON patches, and the
//! errors a real API server gives. If the double drifts, these fail.

mod support;

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use support::apiserver::ApiDouble;
use support::kubectl::{Kubectl, text};

pub fn rollout(name: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": name, "team": "payments"}},
        "spec": {"replicas": 3, "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 100}]}}},
        "status": {"phase": "Paused", "currentStepIndex": 1, "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-11-22T10:00:00Z"}]}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_gets_lists_by_label_and_reads_the_status_subresource() {
    let api = ApiDouble::start().await;
    api.put(rollout("web"));
    api.put(rollout("api"));
    api.modify("rollouts", "shop", "api", |r| r["metadata"]["labels"]["team"] = json!("search"));
    let k = Kubectl::new(&api);

    let out = k.run(&["get", "ro", "-o", "name"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().collect::<Vec<_>>(), ["rollout.argoproj.io/api", "rollout.argoproj.io/web"]);

    let out = k.run(&["get", "rollouts", "-l", "team in (payments)", "-o", "json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["web"]);

    let out = k.run(&["get", "rollout", "nope"]).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("rollouts.argoproj.io \"nope\" not found"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_patches_spec_and_status_separately_as_against_a_real_server() {
    let api = ApiDouble::start().await;
    api.put(rollout("web"));
    let k = Kubectl::new(&api);
    let generation = |api: &ApiDouble| api.get("rollouts", "shop", "web").unwrap()["metadata"]["generation"].as_i64().unwrap();
    assert_eq!(generation(&api), 1);

    // Status on the main resource is ignored: "no change", and no new generation.
    let out = k.run(&["patch", "rollout", "web", "--type", "merge", "-p", r#"{"status":{"abort":true}}"#]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no change"), "{}", text(&out));
    assert_eq!(api.get("rollouts", "shop", "web").unwrap()["status"].get("abort"), None);

    // On /status it applies, and the generation stays.
    let out = k.run(&["patch", "rollout", "web", "--subresource", "status", "--type", "merge", "-p", r#"{"status":{"abort":true}}"#]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(api.get("rollouts", "shop", "web").unwrap()["status"]["abort"], json!(true));
    assert_eq!(generation(&api), 1);

    // A spec change bumps the generation; a JSON patch works too.
    let out = k.run(&["patch", "rollout", "web", "--type", "merge", "-p", r#"{"spec":{"paused":true}}"#]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(generation(&api), 2);
    let out = k.run(&["patch", "rollout", "web", "--type", "json", "-p", r#"[{"op":"replace","path":"/spec/replicas","value":5}]"#]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(api.get("rollouts", "shop", "web").unwrap()["spec"]["replicas"], json!(5));

    // Strategic merge is refused for custom resources, as by a real server.
    let out = k.run(&["patch", "rollout", "web", "--type", "strategic", "-p", r#"{"spec":{"paused":false}}"#]).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("unknown format"), "{}", text(&out));

    let seen = api.take_requests();
    let status_patch = seen.iter().find(|r| r.method == "PATCH" && r.path.ends_with("/status")).unwrap();
    assert_eq!(status_patch.content_type, "application/merge-patch+json");
    assert_eq!(status_patch.query.get("fieldManager").map(String::as_str), Some("kubectl-patch"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_watch_sees_changes_made_by_a_controller() {
    let api = ApiDouble::start().await;
    api.put(rollout("web"));
    let k = Kubectl::new(&api);
    let mut watch = k
        .command(&["get", "rollout", "web", "-w", "-o", "jsonpath={.status.phase}{\"\\n\"}"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    api.modify("rollouts", "shop", "web", |r| r["status"]["phase"] = json!("Progressing"));
    api.modify("rollouts", "shop", "web", |r| r["status"]["phase"] = json!("Healthy"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _ = watch.kill();
    let out = tokio::task::spawn_blocking(move || watch.wait_with_output().unwrap()).await.unwrap();
    let phases = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(phases.lines().collect::<Vec<_>>(), ["Paused", "Progressing", "Healthy"], "{}", String::from_utf8_lossy(&out.stderr));
}

/// The double names the authenticated user as kube-apiserver does for `kubectl auth whoami`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_auth_whoami_reads_the_self_subject_review() {
    let api = ApiDouble::start().await;
    let k = Kubectl::new(&api);
    let out = k.run(&["auth", "whoami", "-o", "json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let review: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(review["kind"], "SelfSubjectReview");
    assert_eq!(review["status"]["userInfo"]["username"], "tester");
}
