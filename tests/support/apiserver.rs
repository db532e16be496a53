//! An in-process Kubernetes API double speaking the real REST conventions on 127.0.0.1: discovery,
//! list with label and field selectors, watch streams with resourceVersions, bookmarks and 410
//! Gone, merge and JSON patches, the status subresource (spec ignored on `/status`, status ignored
//! on the main resource, generation bumped only by spec changes), `Status` error bodies, access
//! reviews and events. It records every request so tests can assert exactly what was sent, and it
//! can be made to hang, drop its watches, forget old events, or forbid verbs. A real `kubectl`
//! checks it (tests/kube_double.rs) so it cannot drift into something only our client accepts.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

#[path = "apiserver_http.rs"]
mod http;
#[path = "apiserver_kinds.rs"]
mod kinds;
#[path = "apiserver_select.rs"]
mod select;

use http::{Reply, error, reason_phrase, reply, status_body};
pub use kinds::KINDS;
use kinds::{Route, discovery, route};
use select::{fields_match, labels_match};

/// One request as the double received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub content_type: String,
    pub body: Value,
}

#[derive(Clone, Debug)]
pub struct WatchEvent {
    rv: u64,
    pub kind: &'static str,
    pub kind_name: &'static str,
    pub object: Value,
}

#[derive(Default)]
struct Store {
    rv: u64,
    /// Events before this resourceVersion are forgotten: asking for them gets 410 Gone.
    oldest: u64,
    objects: BTreeMap<(String, String, String), Value>,
    log: Vec<WatchEvent>,
    received: Vec<Received>,
    /// (verb, resource[/subresource]) the user may not do.
    forbidden: Vec<(String, String)>,
    /// The next write gets this error instead (code, reason, message).
    fail_next_write: Option<(u16, String, String)>,
}

pub struct ApiDouble {
    pub port: u16,
    store: Arc<Mutex<Store>>,
    events: broadcast::Sender<WatchEvent>,
    drop_watches: broadcast::Sender<()>,
    hang: Arc<AtomicBool>,
    _server: tokio::task::JoinHandle<()>,
}

impl ApiDouble {
    /// Starts the double on a free loopback port, inside the current tokio runtime.
    pub async fn start() -> ApiDouble {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind the API double");
        let port = listener.local_addr().expect("address").port();
        let store = Arc::new(Mutex::new(Store { rv: 100, oldest: 0, ..Store::default() }));
        let (events, _) = broadcast::channel(4096);
        let (drop_watches, _) = broadcast::channel(16);
        let hang = Arc::new(AtomicBool::new(false));
        let shared = Shared { store: store.clone(), events: events.clone(), drop_watches: drop_watches.clone(), hang: hang.clone() };
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, shared).await;
                });
            }
        });
        ApiDouble { port, store, events, drop_watches, hang, _server: server }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A kubeconfig for the double with one context per name (all pointing at it).
    pub fn kubeconfig(&self, contexts: &[(&str, &str)]) -> String {
        let mut s = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {}\nclusters:\n- name: double\n  cluster:\n    server: {}\nusers:\n- name: tester\n  user:\n    token: not-a-real-token\ncontexts:\n",
            contexts.first().map(|c| c.0).unwrap_or("double"),
            self.url()
        );
        for (name, ns) in contexts {
            s.push_str(&format!("- name: {name}\n  context:\n    cluster: double\n    user: tester\n    namespace: {ns}\n"));
        }
        s
    }

    /// Adds or replaces an object as a controller would; watchers see ADDED or MODIFIED.
    pub fn put(&self, object: Value) -> Value {
        let kind = KINDS
            .iter()
            .find(|k| Some(k.kind) == object["kind"].as_str())
            .unwrap_or_else(|| panic!("the double does not serve {}", object["kind"]));
        let mut st = self.store.lock().unwrap();
        let ns = object["metadata"]["namespace"].as_str().unwrap_or("").to_string();
        let name = object["metadata"]["name"].as_str().expect("metadata.name").to_string();
        let key = (kind.plural.to_string(), ns, name);
        let existed = st.objects.contains_key(&key);
        let mut object = object;
        st.rv += 1;
        let rv = st.rv;
        let meta = object["metadata"].as_object_mut().expect("metadata");
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        meta.entry("uid").or_insert_with(|| json!(format!("uid-{}-{}", kind.plural, key.2)));
        meta.entry("generation").or_insert(json!(1));
        meta.entry("creationTimestamp").or_insert(json!("2026-11-22T09:00:00Z"));
        object["apiVersion"] = json!(kind.api_version());
        st.objects.insert(key, object.clone());
        let ev = WatchEvent { rv, kind: if existed { "MODIFIED" } else { "ADDED" }, kind_name: kind.plural, object: object.clone() };
        st.log.push(ev.clone());
        let _ = self.events.send(ev);
        object
    }

    /// Changes an object with `f` as a controller would (status included).
    pub fn modify(&self, plural: &str, ns: &str, name: &str, f: impl FnOnce(&mut Value)) -> Value {
        let mut obj = self.get(plural, ns, name).unwrap_or_else(|| panic!("no {plural} {ns}/{name}"));
        f(&mut obj);
        self.put(obj)
    }

    /// Every object of a kind in a namespace.
    pub fn list(&self, plural: &str, ns: &str) -> Vec<Value> {
        let st = self.store.lock().unwrap();
        st.objects.iter().filter(|((p, n, _), _)| p == plural && n == ns).map(|(_, v)| v.clone()).collect()
    }

    pub fn get(&self, plural: &str, ns: &str, name: &str) -> Option<Value> {
        self.store.lock().unwrap().objects.get(&(plural.to_string(), ns.to_string(), name.to_string())).cloned()
    }

    /// Every change from now on, as watchers see it (a scripted controller follows these).
    pub fn subscribe(&self) -> broadcast::Receiver<WatchEvent> {
        self.events.subscribe()
    }

    /// Every request received so far (and forgets them).
    pub fn take_requests(&self) -> Vec<Received> {
        std::mem::take(&mut self.store.lock().unwrap().received)
    }

    /// Requests that change something (not GET).
    pub fn take_writes(&self) -> Vec<Received> {
        self.take_requests().into_iter().filter(|r| r.method != "GET").collect()
    }

    /// Forbid a verb on a resource ("rollouts/status").
    pub fn forbid(&self, verb: &str, resource: &str) {
        self.store.lock().unwrap().forbidden.push((verb.into(), resource.into()));
    }

    /// The next write (PATCH, POST, PUT) fails with this Status, as a real server would answer.
    pub fn fail_next_write(&self, code: u16, reason: &str, message: &str) {
        self.store.lock().unwrap().fail_next_write = Some((code, reason.into(), message.into()));
    }

    /// Every request hangs (until the client gives up) while set.
    pub fn hang(&self, on: bool) {
        self.hang.store(on, Ordering::SeqCst);
    }

    /// Ends every open watch stream, as an API server restart would.
    pub fn drop_watches(&self) {
        let _ = self.drop_watches.send(());
    }

    /// Forgets the event history: a watch from an older resourceVersion gets 410 Gone.
    pub fn compact(&self) {
        let mut st = self.store.lock().unwrap();
        st.oldest = st.rv + 1;
        st.log.clear();
    }
}

#[derive(Clone)]
struct Shared {
    store: Arc<Mutex<Store>>,
    events: broadcast::Sender<WatchEvent>,
    drop_watches: broadcast::Sender<()>,
    hang: Arc<AtomicBool>,
}

async fn serve(stream: TcpStream, shared: Shared) -> std::io::Result<()> {
    // Watch events are small writes that must leave at once, as from a real server.
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let Some(req) = crate::support::http1::read_request(&mut reader).await? else { return Ok(()) };
        let crate::support::http1::Request { method, path, query, headers, body } = req;
        let content_type = headers.get("content-type").cloned().unwrap_or_default();
        let body_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        shared.store.lock().unwrap().received.push(Received {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            content_type: content_type.clone(),
            body: body_json.clone(),
        });
        if shared.hang.load(Ordering::SeqCst) {
            // Never answers; the client's timeout is what ends this.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return Ok(());
        }
        if method == "GET" && query.get("watch").is_some_and(|w| w == "true" || w == "1") {
            return watch(&mut write, &path, &query, &shared).await;
        }
        let r = handle(&method, &path, &query, &content_type, &body, &shared);
        let text = serde_json::to_vec(&r.body).unwrap_or_default();
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            r.code,
            reason_phrase(r.code),
            text.len()
        );
        write.write_all(head.as_bytes()).await?;
        write.write_all(&text).await?;
        write.flush().await?;
    }
}

fn selected(obj: &Value, route: &Route, query: &BTreeMap<String, String>) -> bool {
    if let Some(ns) = &route.namespace
        && obj["metadata"]["namespace"].as_str() != Some(ns)
    {
        return false;
    }
    let labels = &obj["metadata"]["labels"];
    query.get("labelSelector").is_none_or(|s| labels_match(s, labels)) && query.get("fieldSelector").is_none_or(|s| fields_match(s, obj))
}

fn verb_of(method: &str, route: &Route) -> &'static str {
    match (method, route.name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("PATCH", _) => "patch",
        ("PUT", _) => "update",
        ("POST", _) => "create",
        ("DELETE", _) => "delete",
        _ => "unknown",
    }
}

fn forbidden(st: &Store, verb: &str, resource: &str) -> bool {
    st.forbidden.iter().any(|(v, r)| v == verb && r == resource)
}

fn handle(method: &str, path: &str, query: &BTreeMap<String, String>, content_type: &str, body: &[u8], shared: &Shared) -> Reply {
    if method == "GET"
        && let Some(d) = discovery(path)
    {
        return reply(200, d);
    }
    if method == "POST" && path.trim_end_matches('/') == "/apis/authentication.k8s.io/v1/selfsubjectreviews" {
        // As kube-apiserver answers `kubectl auth whoami`: the authenticated user of the request.
        let mut out: Value = serde_json::from_slice(body).unwrap_or_else(|_| json!({}));
        out["apiVersion"] = json!("authentication.k8s.io/v1");
        out["kind"] = json!("SelfSubjectReview");
        out["status"] =
            json!({"userInfo": {"username": "tester", "uid": "0d6d0c4e", "groups": ["system:authenticated", "release-managers"]}});
        return reply(201, out);
    }
    if method == "POST" && path.trim_end_matches('/') == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" {
        let review: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let attrs = &review["spec"]["resourceAttributes"];
        let resource = match attrs["subresource"].as_str().filter(|s| !s.is_empty()) {
            Some(sub) => format!("{}/{sub}", attrs["resource"].as_str().unwrap_or("")),
            None => attrs["resource"].as_str().unwrap_or("").to_string(),
        };
        let denied = forbidden(&shared.store.lock().unwrap(), attrs["verb"].as_str().unwrap_or(""), &resource);
        let mut out = review.clone();
        out["status"] = if denied {
            json!({"allowed": false, "denied": true, "reason": format!("RBAC: no rule lets tester {} {resource}", attrs["verb"].as_str().unwrap_or(""))})
        } else {
            json!({"allowed": true, "reason": "RBAC: allowed by ClusterRoleBinding \"edit\""})
        };
        return reply(201, out);
    }
    let Some(route) = route(path) else {
        return error(404, "NotFound", "the server could not find the requested resource");
    };
    let resource = match &route.sub {
        Some(s) => format!("{}/{s}", route.kind.plural),
        None => route.kind.plural.to_string(),
    };
    let mut st = shared.store.lock().unwrap();
    if method != "GET"
        && let Some((code, reason, message)) = st.fail_next_write.take()
    {
        return error(code, &reason, &message);
    }
    let verb = verb_of(method, &route);
    if forbidden(&st, verb, &resource) {
        let group = if route.kind.group.is_empty() { String::new() } else { format!(".{}", route.kind.group) };
        let what = route.name.as_deref().map(|n| format!(" \"{n}\"")).unwrap_or_default();
        let scope =
            route.namespace.as_deref().map(|n| format!(" in the namespace \"{n}\"")).unwrap_or_else(|| " at the cluster scope".into());
        let message = format!(
            "{}{group}{what} is forbidden: User \"tester\" cannot {verb} resource \"{resource}\" in API group \"{}\"{scope}",
            route.kind.plural, route.kind.group
        );
        return error(403, "Forbidden", &message);
    }
    let not_found = |name: &str| {
        let group = if route.kind.group.is_empty() { String::new() } else { format!(".{}", route.kind.group) };
        error(404, "NotFound", &format!("{}{group} \"{name}\" not found", route.kind.plural))
    };
    match (method, &route.name) {
        ("GET", None) => {
            let items: Vec<Value> = st
                .objects
                .iter()
                .filter(|((p, _, _), o)| p == route.kind.plural && selected(o, &route, query))
                .map(|(_, o)| o.clone())
                .collect();
            reply(
                200,
                json!({"kind": format!("{}List", route.kind.kind), "apiVersion": route.kind.api_version(),
                       "metadata": {"resourceVersion": st.rv.to_string()}, "items": items}),
            )
        }
        ("GET", Some(name)) => {
            if route.kind.plural == "namespaces" {
                return reply(
                    200,
                    json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": name}, "status": {"phase": "Active"}}),
                );
            }
            let key = (route.kind.plural.to_string(), route.namespace.clone().unwrap_or_default(), name.clone());
            match st.objects.get(&key) {
                Some(o) => reply(200, o.clone()),
                None => not_found(name),
            }
        }
        ("POST", None) => {
            let mut obj: Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => return error(400, "BadRequest", &format!("the body of the request could not be decoded: {e}")),
            };
            let ns = route.namespace.clone().unwrap_or_default();
            let name = obj["metadata"]["name"].as_str().map(str::to_string).unwrap_or_else(|| {
                let prefix = obj["metadata"]["generateName"].as_str().unwrap_or("obj-").to_string();
                format!("{prefix}{}", st.rv + 1)
            });
            let key = (route.kind.plural.to_string(), ns.clone(), name.clone());
            if st.objects.contains_key(&key) {
                return error(409, "AlreadyExists", &format!("{} \"{name}\" already exists", route.kind.plural));
            }
            st.rv += 1;
            let rv = st.rv;
            obj["metadata"]["name"] = json!(name);
            obj["metadata"]["namespace"] = json!(ns);
            obj["metadata"]["resourceVersion"] = json!(rv.to_string());
            obj["metadata"]["uid"] = json!(format!("uid-{}-{name}", route.kind.plural));
            st.objects.insert(key, obj.clone());
            let ev = WatchEvent { rv, kind: "ADDED", kind_name: route.kind.plural, object: obj.clone() };
            st.log.push(ev.clone());
            let _ = shared.events.send(ev);
            reply(201, obj)
        }
        ("PATCH", Some(name)) => {
            let key = (route.kind.plural.to_string(), route.namespace.clone().unwrap_or_default(), name.clone());
            let Some(current) = st.objects.get(&key).cloned() else { return not_found(name) };
            if route.sub.as_deref().is_some_and(|s| s != "status" || !route.kind.status_subresource) {
                return error(404, "NotFound", "the server could not find the requested resource");
            }
            let patch: Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => return error(400, "BadRequest", &format!("error decoding patch: {e}")),
            };
            let media = content_type.split(';').next().unwrap_or("").trim();
            let mut next = current.clone();
            match media {
                "application/merge-patch+json" => {
                    if let Some(want) = patch.pointer("/metadata/resourceVersion").and_then(Value::as_str)
                        && Some(want) != current["metadata"]["resourceVersion"].as_str()
                    {
                        return error(
                            409,
                            "Conflict",
                            &format!(
                                "Operation cannot be fulfilled on {}.{} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                                route.kind.plural, route.kind.group
                            ),
                        );
                    }
                    json_patch::merge(&mut next, &patch);
                }
                "application/json-patch+json" => {
                    let ops: json_patch::Patch = match serde_json::from_value(patch) {
                        Ok(p) => p,
                        Err(e) => return error(400, "BadRequest", &format!("error decoding json patch: {e}")),
                    };
                    if let Err(e) = json_patch::patch(&mut next, &ops) {
                        return error(422, "Invalid", &format!("the server rejected our request due to an error in our request: {e}"));
                    }
                }
                _ => {
                    return error(
                        415,
                        "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                    );
                }
            }
            // The status subresource: each side ignores the other's fields.
            if route.kind.status_subresource {
                if route.sub.as_deref() == Some("status") {
                    let status = next.get("status").cloned();
                    next = current.clone();
                    match status {
                        Some(s) => next["status"] = s,
                        None => {
                            next.as_object_mut().map(|o| o.remove("status"));
                        }
                    }
                } else {
                    match current.get("status") {
                        Some(s) => next["status"] = s.clone(),
                        None => {
                            next.as_object_mut().map(|o| o.remove("status"));
                        }
                    }
                    // Labels and annotations may be patched, as on a real API server; the fields the
                    // server owns may not.
                    let mut meta = current["metadata"].clone();
                    for field in ["labels", "annotations"] {
                        match next["metadata"].get(field) {
                            Some(v) => meta[field] = v.clone(),
                            None => {
                                meta.as_object_mut().map(|o| o.remove(field));
                            }
                        }
                    }
                    next["metadata"] = meta;
                }
            }
            if next == current {
                return reply(200, current);
            }
            if next.get("spec") != current.get("spec") {
                let g = current["metadata"]["generation"].as_i64().unwrap_or(1);
                next["metadata"]["generation"] = json!(g + 1);
            }
            st.rv += 1;
            let rv = st.rv;
            next["metadata"]["resourceVersion"] = json!(rv.to_string());
            st.objects.insert(key, next.clone());
            let ev = WatchEvent { rv, kind: "MODIFIED", kind_name: route.kind.plural, object: next.clone() };
            st.log.push(ev.clone());
            let _ = shared.events.send(ev);
            reply(200, next)
        }
        _ => error(405, "MethodNotAllowed", &format!("{method} is not supported on {path} by the API double")),
    }
}

async fn watch(
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    path: &str,
    query: &BTreeMap<String, String>,
    shared: &Shared,
) -> std::io::Result<()> {
    let Some(route) = route(path) else {
        let r = error(404, "NotFound", "the server could not find the requested resource");
        let text = serde_json::to_vec(&r.body).unwrap_or_default();
        write
            .write_all(
                format!("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", text.len()).as_bytes(),
            )
            .await?;
        return write.write_all(&text).await;
    };
    let denied = forbidden(&shared.store.lock().unwrap(), "watch", route.kind.plural);
    {
        if denied {
            let r = error(
                403,
                "Forbidden",
                &format!("{} is forbidden: User \"tester\" cannot watch resource \"{}\"", route.kind.plural, route.kind.plural),
            );
            let text = serde_json::to_vec(&r.body).unwrap_or_default();
            write
                .write_all(
                    format!("HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", text.len())
                        .as_bytes(),
                )
                .await?;
            return write.write_all(&text).await;
        }
    }
    let mut live = shared.events.subscribe();
    let mut dropped = shared.drop_watches.subscribe();
    let timeout = query.get("timeoutSeconds").and_then(|t| t.parse().ok()).unwrap_or(290u64);
    let from: Option<u64> = query.get("resourceVersion").and_then(|r| r.parse().ok()).filter(|r| *r > 0);
    let bookmarks = query.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let initial = query.get("sendInitialEvents").is_some_and(|b| b == "true");
    write.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").await?;
    let send = |line: Value| {
        let mut text = serde_json::to_vec(&line).unwrap_or_default();
        text.push(b'\n');
        let mut chunk = format!("{:x}\r\n", text.len()).into_bytes();
        chunk.extend_from_slice(&text);
        chunk.extend_from_slice(b"\r\n");
        chunk
    };
    let bookmark = |rv: u64, end: bool| {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        send(json!({"type": "BOOKMARK", "object": {"kind": route.kind.kind, "apiVersion": route.kind.api_version(), "metadata": meta}}))
    };
    let gone = from.filter(|rv| rv + 1 < shared.store.lock().unwrap().oldest);
    if let Some(rv) = gone {
        let gone = status_body(410, "Expired", &format!("too old resource version: {rv}"));
        write.write_all(&send(json!({"type": "ERROR", "object": gone}))).await?;
        return write.write_all(b"0\r\n\r\n").await;
    }
    let (replay, mut last) = {
        let st = shared.store.lock().unwrap();
        match from {
            Some(rv) => (
                st.log
                    .iter()
                    .filter(|e| e.rv > rv && e.kind_name == route.kind.plural && selected(&e.object, &route, query))
                    .cloned()
                    .collect::<Vec<_>>(),
                st.rv,
            ),
            None => (
                st.objects
                    .iter()
                    .filter(|((p, _, _), o)| p == route.kind.plural && selected(o, &route, query))
                    .map(|(_, o)| WatchEvent { rv: st.rv, kind: "ADDED", kind_name: route.kind.plural, object: o.clone() })
                    .collect(),
                st.rv,
            ),
        }
    };
    for e in replay {
        write.write_all(&send(json!({"type": e.kind, "object": e.object}))).await?;
    }
    if initial || bookmarks {
        write.write_all(&bookmark(last, initial)).await?;
    }
    write.flush().await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        tokio::select! {
            biased;
            _ = dropped.recv() => {
                // An abrupt end, as when the server goes away: no terminating chunk.
                return Ok(());
            }
            ev = live.recv() => match ev {
                Ok(e) if e.rv > last && e.kind_name == route.kind.plural && selected(&e.object, &route, query) => {
                    last = e.rv;
                    write.write_all(&send(json!({"type": e.kind, "object": e.object}))).await?;
                    write.flush().await?;
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    write.write_all(b"0\r\n\r\n").await?;
    write.flush().await
}
