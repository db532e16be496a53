//! A double of the Argo CD API server, over the Kubernetes API double (where Argo CD keeps its
//! Applications) and the scripted controller: the REST routes flightdeck uses, answering as the
//! real server does — its RBAC (`can-i`, 403), sync windows, "another operation is already in
//! progress", rollback refused with auto-sync, terminate, refresh, patch, and the application
//! stream. Every exchange is recorded, to be validated against Argo CD's published API
//! description (`tests/contract/swagger_check.py`).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::apiserver::ApiDouble;
use super::http1::{Request, read_request};

pub const TOKEN: &str = "argocd-test-token";

/// One request and its answer, for the contract check.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Exchange {
    pub method: String,
    /// The path as the API description names it (`/api/v1/applications/{name}/sync`).
    pub route: String,
    pub request: Option<Value>,
    pub status: u16,
    /// The answer (for the stream: each line).
    pub response: Value,
}

#[derive(Default)]
struct Rules {
    /// RBAC actions this user may not do (`sync`, `update`, `get`).
    denied: BTreeSet<String>,
    /// A sync window that denies syncs is active.
    deny_window: bool,
    /// The active deny window lets manual syncs through (`manualSync`).
    manual_sync: bool,
    exchanges: Vec<Exchange>,
}

pub struct ArgoCdServer {
    pub port: u16,
    rules: Arc<Mutex<Rules>>,
    drop_streams: tokio::sync::broadcast::Sender<()>,
    _task: tokio::task::JoinHandle<()>,
}

impl ArgoCdServer {
    pub async fn start(api: Arc<ApiDouble>, namespace: &str) -> ArgoCdServer {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let rules = Arc::new(Mutex::new(Rules::default()));
        let (drop_streams, _) = tokio::sync::broadcast::channel(4);
        let (r, d, ns) = (rules.clone(), drop_streams.clone(), namespace.to_string());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (api, rules, drops, ns) = (api.clone(), r.clone(), d.clone(), ns.clone());
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut reader = BufReader::new(read);
                    while let Ok(Some(req)) = read_request(&mut reader).await {
                        if req.path == "/api/v1/stream/applications" && authorised(&req) {
                            stream_apps(&api, &rules, &ns, &mut write, drops.subscribe()).await;
                            return;
                        }
                        let (route, status, body) = answer(&api, &rules, &ns, &req);
                        let request = (!req.body.is_empty()).then(|| serde_json::from_slice(&req.body).unwrap_or(Value::Null));
                        rules.lock().unwrap().exchanges.push(Exchange {
                            method: req.method.clone(),
                            route,
                            request,
                            status,
                            response: as_served(body.clone()),
                        });
                        let text = as_served(body).to_string();
                        let head =
                            format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", text.len());
                        if write.write_all(head.as_bytes()).await.is_err() || write.write_all(text.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        ArgoCdServer { port, rules, drop_streams, _task: task }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn deny(&self, action: &str) {
        self.rules.lock().unwrap().denied.insert(action.into());
    }

    pub fn deny_window(&self, on: bool) {
        self.rules.lock().unwrap().deny_window = on;
    }

    /// The deny window, active, lets manual syncs through.
    pub fn deny_window_but_manual(&self) {
        let mut rules = self.rules.lock().unwrap();
        rules.deny_window = true;
        rules.manual_sync = true;
    }

    /// How many application streams are open now.
    pub fn open_streams(&self) -> usize {
        self.drop_streams.receiver_count()
    }

    /// Ends every open application stream, as a server restart or a proxy's timeout would.
    pub fn drop_streams(&self) {
        let _ = self.drop_streams.send(());
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.rules.lock().unwrap().exchanges.clone()
    }
}

fn authorised(req: &Request) -> bool {
    req.headers.get("authorization").map(String::as_str) == Some(&format!("Bearer {TOKEN}"))
}

/// grpc-gateway's error body, with the gRPC code and the HTTP status it maps to.
fn error(status: u16, code: u16, message: &str) -> (u16, Value) {
    (status, json!({"error": message, "code": code, "message": message}))
}

fn answer(api: &ApiDouble, rules: &Mutex<Rules>, ns: &str, req: &Request) -> (String, u16, Value) {
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let route = match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["api", "v1", "applications"]) => "/api/v1/applications",
        ("GET" | "PATCH", ["api", "v1", "applications", _]) => "/api/v1/applications/{name}",
        ("POST", ["api", "v1", "applications", _, "sync"]) => "/api/v1/applications/{name}/sync",
        ("POST", ["api", "v1", "applications", _, "rollback"]) => "/api/v1/applications/{name}/rollback",
        ("DELETE", ["api", "v1", "applications", _, "operation"]) => "/api/v1/applications/{name}/operation",
        ("GET", ["api", "v1", "applications", _, "syncwindows"]) => "/api/v1/applications/{name}/syncwindows",
        ("GET", ["api", "v1", "applications", _, "resource-tree"]) => "/api/v1/applications/{applicationName}/resource-tree",
        ("GET", ["api", "v1", "applications", _, "events"]) => "/api/v1/applications/{name}/events",
        ("GET", ["api", "v1", "account", "can-i", ..]) => "/api/v1/account/can-i/{resource}/{action}/{subresource}",
        _ => "unknown",
    }
    .to_string();
    if !authorised(req) {
        let (s, b) = error(401, 16, "invalid session: token signature is invalid");
        return (route, s, b);
    }
    let denied = |action: &str| rules.lock().unwrap().denied.contains(action);
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let (status, value) = match (route.as_str(), segs.as_slice()) {
        ("/api/v1/applications", _) => (200, json!({"metadata": {"resourceVersion": "1"}, "items": api.list("applications", ns)})),
        ("/api/v1/account/can-i/{resource}/{action}/{subresource}", [_, _, _, _, _resource, action, _subresource]) => {
            (200, json!({"value": if denied(action) { "no" } else { "yes" }}))
        }
        (_, [_, _, _, name, ..]) => {
            let name = name.to_string();
            let Some(app) = api.get("applications", ns, &name) else {
                let (s, b) = error(404, 5, &format!("applications.argoproj.io \"{name}\" not found"));
                return (route, s, b);
            };
            match route.as_str() {
                "/api/v1/applications/{name}" if req.method == "GET" => {
                    if let Some(kind) = req.query.get("refresh") {
                        let stamp = jiff::Timestamp::now().to_string();
                        let app = api.modify("applications", ns, &name, |a| {
                            a["metadata"]["annotations"]["argocd.argoproj.io/refresh"] = json!(kind);
                            a["metadata"]["annotations"]["argocd.argoproj.io/refresh-timestamp"] = json!(stamp);
                        });
                        (200, app)
                    } else {
                        (200, app)
                    }
                }
                "/api/v1/applications/{name}" => {
                    if denied("update") {
                        let (s, b) = error(403, 7, &format!("permission denied: applications, update, shop/{name}"));
                        return (route, s, b);
                    }
                    let patch: Value = body["patch"].as_str().and_then(|p| serde_json::from_str(p).ok()).unwrap_or(Value::Null);
                    (200, api.modify("applications", ns, &name, |a| json_patch::merge(a, &patch)))
                }
                "/api/v1/applications/{name}/sync" | "/api/v1/applications/{name}/rollback" => {
                    if denied("sync") {
                        let (s, b) = error(403, 7, &format!("permission denied: applications, sync, shop/{name}"));
                        return (route, s, b);
                    }
                    let blocked = {
                        let r = rules.lock().unwrap();
                        r.deny_window && !r.manual_sync
                    };
                    if route.ends_with("/sync") && blocked {
                        let (s, b) = error(403, 7, "cannot sync: blocked by sync window");
                        return (route, s, b);
                    }
                    let auto = app.pointer("/spec/syncPolicy/automated").is_some_and(|a| !a.is_null() && a["enabled"] != json!(false));
                    let op = if route.ends_with("/rollback") {
                        if auto {
                            let (s, b) = error(400, 9, "rollback cannot be initiated when auto-sync is enabled");
                            return (route, s, b);
                        }
                        let id = body["id"].as_i64().or_else(|| body["id"].as_str().and_then(|s| s.parse().ok()));
                        let entry = app["status"]["history"].as_array().and_then(|h| h.iter().find(|e| e["id"].as_i64() == id)).cloned();
                        let Some(entry) = entry else {
                            let (s, b) =
                                error(400, 3, &format!("application {name} does not have deployment with id {}", id.unwrap_or(-1)));
                            return (route, s, b);
                        };
                        json!({"sync": {"revision": entry["revision"], "source": entry["source"], "prune": body["prune"], "dryRun": body["dryRun"],
                                        "syncStrategy": {"apply": {}}}, "initiatedBy": {"username": "alice"}})
                    } else {
                        let mut sync = json!({"source": app["spec"]["source"], "prune": body["prune"], "dryRun": body["dryRun"], "syncStrategy": body["strategy"]});
                        if let Some(r) = body["revision"].as_str() {
                            sync["revision"] = json!(r);
                        }
                        if !body["resources"].is_null() {
                            sync["resources"] = body["resources"].clone();
                        }
                        json!({"sync": sync, "initiatedBy": {"username": "alice"}})
                    };
                    if app.get("operation").is_some_and(|o| !o.is_null()) {
                        let (s, b) = error(400, 9, "error setting app operation: another operation is already in progress");
                        return (route, s, b);
                    }
                    (
                        200,
                        api.modify("applications", ns, &name, |a| {
                            a["operation"] = op;
                            if let Some(st) = a["status"].as_object_mut() {
                                st.remove("operationState");
                            }
                        }),
                    )
                }
                "/api/v1/applications/{name}/syncwindows" => {
                    // The project's one window, a deny window that is on whenever `deny_window` is.
                    let (deny, manual) = {
                        let r = rules.lock().unwrap();
                        (r.deny_window, r.manual_sync)
                    };
                    let window = json!({"kind": "deny", "schedule": "0 22 * * *", "duration": "1h", "manualSync": manual});
                    let active = if deny { vec![window.clone()] } else { Vec::new() };
                    (200, json!({"assignedWindows": [window], "activeWindows": active, "canSync": !deny || manual}))
                }
                "/api/v1/applications/{applicationName}/resource-tree" => (200, resource_tree(api, &app)),
                "/api/v1/applications/{name}/events" => {
                    let items: Vec<Value> = api
                        .list("events", ns)
                        .into_iter()
                        .filter(|e| e["involvedObject"]["kind"] == "Application" && e["involvedObject"]["name"] == json!(name))
                        .collect();
                    (200, json!({"metadata": {}, "items": items}))
                }
                "/api/v1/applications/{name}/operation" => {
                    if denied("sync") {
                        let (s, b) = error(403, 7, &format!("permission denied: applications, sync, shop/{name}"));
                        return (route, s, b);
                    }
                    if app.get("operation").is_none_or(Value::is_null) || app.pointer("/status/operationState").is_none() {
                        let (s, b) = error(400, 3, "Unable to terminate operation. No operation is in progress");
                        return (route, s, b);
                    }
                    api.modify("applications", ns, &name, |a| a["status"]["operationState"]["phase"] = json!("Terminating"));
                    (200, json!({}))
                }
                _ => error(404, 5, "no such route"),
            }
        }
        _ => error(404, 5, "no such route"),
    };
    (route, status, value)
}

/// The app's resource tree as Argo CD's controller keeps it: the managed resources (with the
/// health the app's status gives them), and the ReplicaSets and Pods they own, found by owner
/// references, each with its parents.
fn resource_tree(api: &ApiDouble, app: &Value) -> Value {
    let plural = |kind: &str| match kind {
        "Rollout" => Some("rollouts"),
        "ReplicaSet" => Some("replicasets"),
        "Pod" => Some("pods"),
        _ => None,
    };
    let mut nodes: Vec<Value> = Vec::new();
    let mut uids: BTreeSet<String> = BTreeSet::new();
    let mut namespaces = BTreeSet::new();
    for r in app["status"]["resources"].as_array().into_iter().flatten() {
        let (kind, ns, name) = (r["kind"].as_str().unwrap_or(""), r["namespace"].as_str().unwrap_or(""), r["name"].as_str().unwrap_or(""));
        let live = plural(kind).and_then(|p| api.get(p, ns, name));
        let uid =
            live.as_ref().and_then(|l| l["metadata"]["uid"].as_str().map(str::to_string)).unwrap_or_else(|| format!("{kind}-{ns}-{name}"));
        uids.insert(uid.clone());
        namespaces.insert(ns.to_string());
        let mut node = json!({"group": r["group"], "version": r["version"], "kind": kind, "namespace": ns, "name": name, "uid": uid});
        if !r["health"].is_null() {
            node["health"] = r["health"].clone();
        }
        nodes.push(node);
    }
    // Owners first: ReplicaSets, then the Pods they own.
    for (plural, group, version, kind) in [("replicasets", "apps", "v1", "ReplicaSet"), ("pods", "", "v1", "Pod")] {
        for ns in &namespaces {
            for o in api.list(plural, ns) {
                let parents: Vec<Value> = o["metadata"]["ownerReferences"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|r| r["uid"].as_str().is_some_and(|u| uids.contains(u)))
                    .map(|r| json!({"kind": r["kind"], "namespace": ns, "name": r["name"], "uid": r["uid"]}))
                    .collect();
                if parents.is_empty() {
                    continue;
                }
                let uid = o["metadata"]["uid"].as_str().unwrap_or_default().to_string();
                uids.insert(uid.clone());
                let ready = if kind == "Pod" {
                    o["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
                } else {
                    o["status"]["readyReplicas"].as_i64().unwrap_or(0) >= o["spec"]["replicas"].as_i64().unwrap_or(1)
                };
                let health = if ready { "Healthy" } else { "Progressing" };
                nodes.push(json!({"group": group, "version": version, "kind": kind, "namespace": ns, "name": o["metadata"]["name"],
                                  "uid": uid, "parentRefs": parents, "health": {"status": health}, "resourceVersion": o["metadata"]["resourceVersion"]}));
            }
        }
    }
    json!({"nodes": nodes, "hosts": []})
}

/// The application stream: every change to an Application as one JSON line, chunk by chunk,
/// until the client goes or the stream is dropped.
async fn stream_apps(
    api: &ApiDouble,
    rules: &Mutex<Rules>,
    ns: &str,
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    mut dropped: tokio::sync::broadcast::Receiver<()>,
) {
    let mut events = api.subscribe();
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    if write.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    // What there is now, then what changes.
    let mut lines: Vec<Value> =
        api.list("applications", ns).into_iter().map(|a| json!({"result": {"type": "ADDED", "application": as_served(a)}})).collect();
    loop {
        for line in lines.drain(..) {
            rules.lock().unwrap().exchanges.push(Exchange {
                method: "GET".into(),
                route: "/api/v1/stream/applications".into(),
                request: None,
                status: 200,
                response: line.clone(),
            });
            let text = format!("{line}\n");
            let chunk = format!("{:x}\r\n{text}\r\n", text.len());
            if write.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(ev) if ev.kind_name == "applications" => {
                    let kind = if ev.kind == "DELETED" { "DELETED" } else { "MODIFIED" };
                    lines.push(json!({"result": {"type": kind, "application": as_served(ev.object)}}));
                }
                Ok(_) => {}
                Err(_) => return,
            },
            _ = dropped.recv() => {
                let _ = write.write_all(b"0\r\n\r\n").await;
                return;
            }
        }
    }
}

/// An object as the API server serves it: Go's encoding/json of an object read from its
/// informer, whose type fields are empty and so left out — in a list's items too.
fn as_served(mut value: Value) -> Value {
    let strip = |v: &mut Value| {
        if let Some(o) = v.as_object_mut()
            && o.contains_key("metadata")
        {
            o.remove("apiVersion");
            o.remove("kind");
        }
    };
    strip(&mut value);
    if let Some(items) = value.get_mut("items").and_then(Value::as_array_mut) {
        items.iter_mut().for_each(strip);
    }
    value
}
