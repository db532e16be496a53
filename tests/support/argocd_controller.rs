//! A scripted Argo CD application controller over the Kubernetes API double: it takes up the
//! `operation` a sync or rollback sets, runs it (`status.operationState`), and when done writes
//! the history entry, the sync and health status, and removes the operation — as Argo CD's
//! controller does. `hold` keeps operations running (to test what happens meanwhile); `progress`
//! keeps a synced app Progressing until released. A refresh annotation is taken and removed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use super::apiserver::ApiDouble;

/// The revision an app was deployed at before, and the one git now points at.
pub const OLD: &str = "8f2c1a9d0b7e6f5a4c3b2a1908f7e6d5c4b3a291";
pub const HEAD: &str = "1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e";

/// An Application out of sync with git (HEAD), deployed once before (OLD), with one Deployment.
pub fn application(namespace: &str, name: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "project": "shop",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "prod"},
            "source": {"repoURL": "https://git.example/shop.git", "path": name, "targetRevision": "main"}
        },
        "status": {
            "sync": {"status": "OutOfSync", "revision": HEAD},
            "health": {"status": "Healthy"},
            "resources": [{"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "prod", "name": name, "status": "OutOfSync", "health": {"status": "Healthy"}}],
            "history": [{"id": 0, "revision": OLD, "deployedAt": "2026-11-28T09:00:00Z",
                         "source": {"repoURL": "https://git.example/shop.git", "path": name, "targetRevision": "main"},
                         "initiatedBy": {"username": "alice"}}]
        }
    })
}

/// Reads the app with `read` until `done` holds (a limit of 20 s, then the app as last read).
pub async fn until_app<Fut: std::future::Future<Output = flightdeck::deploy::argocd::App>>(
    what: &str,
    read: impl Fn() -> Fut,
    done: impl Fn(&flightdeck::deploy::argocd::App) -> bool,
) -> flightdeck::deploy::argocd::App {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let app = read().await;
        if done(&app) {
            return app;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}\n{app:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub struct ScriptedArgoCd {
    pub hold: Arc<AtomicBool>,
    pub progress: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedArgoCd {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedArgoCd {
    pub fn start(api: Arc<ApiDouble>, namespace: &str) -> ScriptedArgoCd {
        let (hold, progress) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let mut events = api.subscribe();
        let (h, p, ns) = (hold.clone(), progress.clone(), namespace.to_string());
        let task = tokio::spawn(async move {
            loop {
                // Every change to an Application is looked at; a release of `hold` or `progress`
                // is a tick (see `release`).
                let Ok(ev) = events.recv().await else { return };
                if ev.kind_name != "applications" && ev.kind_name != "appprojects" {
                    continue;
                }
                let Some(name) = ev.object["metadata"]["name"].as_str().map(str::to_string) else { continue };
                let Some(mut app) = api.get("applications", &ns, &name) else { continue };
                let before = phase_of(&app);
                if step(&mut app, h.load(Ordering::SeqCst), p.load(Ordering::SeqCst)) {
                    let after = phase_of(&app);
                    api.put(app);
                    // As Argo CD's controller, an Event on the app when an operation starts and ends.
                    match (before.as_deref(), after.as_deref()) {
                        (None, Some("Running")) => record(&api, &ns, &name, "OperationStarted", "Initiated sync"),
                        (Some("Running" | "Terminating"), Some(done @ ("Succeeded" | "Failed"))) => {
                            record(&api, &ns, &name, "OperationCompleted", &format!("Sync operation {}", done.to_lowercase()))
                        }
                        _ => {}
                    }
                }
            }
        });
        ScriptedArgoCd { hold, progress, task }
    }

    /// Lets held operations finish (and Progressing apps become Healthy): the next change to the
    /// app moves it on; `api.modify` of anything on it is such a change.
    pub fn release(&self, api: &ApiDouble, namespace: &str, name: &str) {
        self.hold.store(false, Ordering::SeqCst);
        self.progress.store(false, Ordering::SeqCst);
        api.modify("applications", namespace, name, |a| a["metadata"]["labels"]["tick"] = json!(now()));
    }
}

fn phase_of(app: &Value) -> Option<String> {
    app.pointer("/status/operationState/phase").and_then(Value::as_str).map(str::to_string)
}

/// A Kubernetes Event about the app, as Argo CD records one.
fn record(api: &ApiDouble, ns: &str, app: &str, reason: &str, message: &str) {
    let at = now();
    api.put(json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{app}.{}.{}", reason.to_lowercase(), at.replace([':', '.'], "-").to_lowercase()), "namespace": ns},
        "involvedObject": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "name": app, "namespace": ns},
        "reason": reason, "message": message, "type": "Normal", "source": {"component": "argocd-application-controller"},
        "firstTimestamp": at, "lastTimestamp": at, "count": 1
    }));
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// One look at one app, as the controller's reconcile would; whether it changed.
fn step(app: &mut Value, hold: bool, progress: bool) -> bool {
    let mut changed = false;
    if let Some(a) = app.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut)
        && a.remove("argocd.argoproj.io/refresh").is_some()
    {
        a.remove("argocd.argoproj.io/refresh-timestamp");
        app["status"]["reconciledAt"] = json!(now());
        changed = true;
    }
    let op = app.get("operation").filter(|o| !o.is_null()).cloned();
    let phase = app.pointer("/status/operationState/phase").and_then(Value::as_str).map(str::to_string);
    match (op, phase.as_deref()) {
        (Some(op), None) => {
            app["status"]["operationState"] =
                json!({"phase": "Running", "message": "one or more tasks are running", "startedAt": now(), "operation": op});
            changed = true;
        }
        (Some(_), Some("Terminating")) => {
            let state = &mut app["status"]["operationState"];
            state["phase"] = json!("Failed");
            state["message"] = json!("Operation terminated");
            state["finishedAt"] = json!(now());
            app.as_object_mut().map(|o| o.remove("operation"));
            changed = true;
        }
        (Some(op), Some("Running")) if !hold => {
            finish(app, &op, progress);
            changed = true;
        }
        (None, Some(_)) if !progress && app.pointer("/status/health/status") == Some(&json!("Progressing")) => {
            app["status"]["health"] = json!({"status": "Healthy"});
            changed = true;
        }
        _ => {}
    }
    changed
}

/// The operation done: what it deployed is the app's revision, recorded in its history.
fn finish(app: &mut Value, op: &Value, progress: bool) {
    let sync = &op["sync"];
    let revision = sync["revision"]
        .as_str()
        .map(str::to_string)
        .or_else(|| app.pointer("/status/sync/revision").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "HEAD".into());
    let resources: Vec<Value> = app["status"]["resources"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| json!({"group": r["group"], "version": r["version"], "kind": r["kind"], "namespace": r["namespace"],
                                "name": r["name"], "status": "Synced", "message": format!("{} configured", r["name"].as_str().unwrap_or(""))}))
                .collect()
        })
        .unwrap_or_default();
    let state = &mut app["status"]["operationState"];
    state["phase"] = json!("Succeeded");
    state["message"] = json!("successfully synced (all tasks run)");
    state["finishedAt"] = json!(now());
    state["syncResult"] = json!({"revision": revision, "resources": resources});
    if sync["dryRun"] != json!(true) {
        let history = app["status"]["history"].as_array().cloned().unwrap_or_default();
        let id = history.iter().filter_map(|h| h["id"].as_i64()).max().unwrap_or(-1) + 1;
        let source = if sync["source"].is_null() { app["spec"]["source"].clone() } else { sync["source"].clone() };
        let mut history = history;
        history.push(json!({"id": id, "revision": revision, "deployedAt": now(), "source": source, "initiatedBy": op["initiatedBy"]}));
        app["status"]["history"] = json!(history);
        app["status"]["sync"] = json!({"status": "Synced", "revision": revision});
        app["status"]["health"] = json!({"status": if progress { "Progressing" } else { "Healthy" }});
    }
    app.as_object_mut().map(|o| o.remove("operation"));
}

/// An Application that manages an Argo Rollout and its Service in `prod`, with the Rollout's
/// ReplicaSet and Pods live in the cluster (owned through owner references, as the Rollouts
/// controller makes them), one Pod not ready yet.
pub fn owning_app(api: &ApiDouble, namespace: &str, name: &str) {
    let rollout = api.put(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name, "namespace": "prod"},
        "spec": {"replicas": 2, "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}},
        "status": {"phase": "Paused", "currentStepIndex": 1}
    }));
    let owner = |kind: &str, api_version: &str, o: &Value| json!([{"apiVersion": api_version, "kind": kind, "name": o["metadata"]["name"], "uid": o["metadata"]["uid"], "controller": true}]);
    let rs = api.put(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("{name}-6d4f"), "namespace": "prod", "ownerReferences": owner("Rollout", "argoproj.io/v1alpha1", &rollout)},
        "spec": {"replicas": 2}, "status": {"replicas": 2, "readyReplicas": 1}
    }));
    for (pod, ready) in [("a", "True"), ("b", "False")] {
        api.put(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("{name}-6d4f-{pod}"), "namespace": "prod", "ownerReferences": owner("ReplicaSet", "apps/v1", &rs)},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": ready}]}
        }));
    }
    // A Pod of something else in the namespace, which the tree leaves out.
    api.put(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stranger", "namespace": "prod"}, "status": {"phase": "Running"}}),
    );
    let mut app = application(namespace, name);
    app["status"]["resources"] = json!([
        {"group": "argoproj.io", "version": "v1alpha1", "kind": "Rollout", "namespace": "prod", "name": name, "status": "Synced",
         "health": {"status": "Suspended", "message": "Rollout is paused"}},
        {"version": "v1", "kind": "Service", "namespace": "prod", "name": name, "status": "OutOfSync", "health": {"status": "Healthy"}}
    ]);
    api.put(app);
}
