//! The Argo CD API server way in (REST, bearer token), the primary one: the server enforces Argo
//! CD's RBAC, projects and sync windows. Requests and answers follow its published API
//! description (`assets/swagger.json` in the argo-cd repository); the application stream is
//! read as it comes (`/api/v1/stream/applications`, one JSON result per line), not polled.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};

use super::model::App;
use super::ops::{AppAction, Seen};
use crate::logstore::sanitize;
use crate::util::Token;

/// Longest a request may take before the server is taken to hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of an answer read (a list of a thousand apps with their resource trees fits).
const ANSWER_LIMIT: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerError {
    #[error("Argo CD: {0}")]
    Config(String),
    #[error("Argo CD refused the token (401): {0}; log in again (`argocd login`) or set ARGOCD_AUTH_TOKEN")]
    Unauthorized(String),
    #[error("Argo CD says you may not (403): {0}")]
    Forbidden(String),
    #[error("not found in Argo CD (404): {0}")]
    NotFound(String),
    #[error("Argo CD refused: {0}")]
    Refused(String),
    #[error("cannot reach Argo CD at {0}")]
    Unreachable(String),
    #[error("Argo CD did not answer within {0}s")]
    Timeout(u64),
    #[error("Argo CD answered something unreadable: {0}")]
    Decode(String),
}

/// Which server, and the token for it.
#[derive(Clone, Debug)]
pub struct Connection {
    /// `https://host:port` (or `http://` for a plain-text server).
    pub server: String,
    pub token: Token,
}

/// The `argocd` CLI's own configuration (`~/.config/argocd/config`): the current context names a
/// server and a user, whose token is used.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct CliConfig {
    current_context: String,
    contexts: Vec<CliContext>,
    servers: Vec<CliServer>,
    users: Vec<CliUser>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CliContext {
    name: String,
    server: String,
    user: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct CliServer {
    server: String,
    plain_text: bool,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct CliUser {
    name: String,
    auth_token: String,
}

/// `host:port` as a URL (`http` for a plain-text server); a URL as it is.
pub(super) fn with_scheme(server: &str, plain_text: bool) -> String {
    if server.starts_with("http://") || server.starts_with("https://") {
        server.trim_end_matches('/').to_string()
    } else {
        format!("{}://{}", if plain_text { "http" } else { "https" }, server.trim_end_matches('/'))
    }
}

impl Connection {
    /// `ARGOCD_SERVER` and `ARGOCD_AUTH_TOKEN`, else the `argocd` CLI's current context (from
    /// `cli_config`, or `~/.config/argocd/config`). None: no server is configured (the
    /// Kubernetes way in is used then).
    pub fn find(cli_config: Option<&Path>) -> Result<Option<Connection>, ServerError> {
        Connection::find_for(None, cli_config)
    }

    /// As `find`, with the server the configuration names (`[argocd] server`): then the token
    /// may come from `ARGOCD_AUTH_TOKEN` alone.
    pub fn find_for(configured: Option<&str>, cli_config: Option<&Path>) -> Result<Option<Connection>, ServerError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        if let Some(server) = env("ARGOCD_SERVER") {
            let token =
                env("ARGOCD_AUTH_TOKEN").ok_or_else(|| ServerError::Config("ARGOCD_SERVER is set but ARGOCD_AUTH_TOKEN is not".into()))?;
            return Ok(Some(Connection { server: with_scheme(&server, false), token: Token::new(token) }));
        }
        if let (Some(server), Some(token)) = (configured, env("ARGOCD_AUTH_TOKEN")) {
            return Ok(Some(Connection { server: with_scheme(server, false), token: Token::new(token) }));
        }
        let path = match cli_config {
            Some(p) => p.to_path_buf(),
            None => match directories::BaseDirs::new() {
                Some(d) => d.home_dir().join(".config/argocd/config"),
                None => return Ok(None),
            },
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ServerError::Config(format!("cannot read {}: {e}", path.display()))),
        };
        Connection::from_cli_config(&text, &path)
    }

    fn from_cli_config(text: &str, path: &Path) -> Result<Option<Connection>, ServerError> {
        let config: CliConfig = serde_saphyr::from_str(text)
            .map_err(|e| ServerError::Config(format!("{} is not an argocd configuration: {e}", path.display())))?;
        let Some(context) = config.contexts.iter().find(|c| c.name == config.current_context) else { return Ok(None) };
        let plain_text = config.servers.iter().find(|s| s.server == context.server).is_some_and(|s| s.plain_text);
        let token =
            config.users.iter().find(|u| u.name == context.user).map(|u| u.auth_token.clone()).filter(|t| !t.is_empty()).ok_or_else(
                || ServerError::Config(format!("the argocd context `{}` has no token: `argocd login {}`", context.name, context.server)),
            )?;
        Ok(Some(Connection { server: with_scheme(&context.server, plain_text), token: Token::new(token) }))
    }
}

/// The application service of one Argo CD API server.
#[derive(Clone)]
pub struct ServerApps {
    http: reqwest::Client,
    connection: Connection,
    path_for_errors: PathBuf,
}

/// Sync windows as the API server reports them for an application.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerWindows {
    pub assigned: Vec<super::windows::SyncWindow>,
    pub active: Vec<super::windows::SyncWindow>,
    pub can_sync: bool,
}

/// One line of the application stream.
#[derive(Deserialize)]
struct StreamLine {
    result: Option<WatchEvent>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct WatchEvent {
    #[serde(rename = "type")]
    kind: String,
    application: Value,
}

/// A change on the application stream.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamUpdate {
    Apply(Box<App>),
    Delete(String),
    /// The stream ended or failed: it is opened again (after a list).
    Broken(String),
}

impl ServerApps {
    pub fn new(connection: Connection) -> Result<ServerApps, ServerError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ServerError::Config(format!("cannot make an HTTP client: {e}")))?;
        Ok(ServerApps { http, path_for_errors: PathBuf::from(&connection.server), connection })
    }

    /// The server's address, for people.
    pub fn server(&self) -> &str {
        &self.connection.server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.connection.server)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, ServerError> {
        let request = request.bearer_auth(self.connection.token.reveal()).timeout(REQUEST_TIMEOUT);
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                ServerError::Timeout(REQUEST_TIMEOUT.as_secs())
            } else {
                ServerError::Unreachable(format!("{}: {}", self.path_for_errors.display(), sanitize::excerpt(&e.to_string(), 300)))
            }
        })?;
        let status = response.status();
        if response.content_length().is_some_and(|n| n as usize > ANSWER_LIMIT) {
            return Err(ServerError::Decode(format!("an answer of {} bytes", response.content_length().unwrap_or(0))));
        }
        let body = response.bytes().await.map_err(|e| ServerError::Unreachable(sanitize::excerpt(&e.to_string(), 300)))?;
        let value: Value =
            if body.is_empty() { json!({}) } else { serde_json::from_slice(&body).map_err(|e| ServerError::Decode(e.to_string()))? };
        if status.is_success() {
            return Ok(value);
        }
        // grpc-gateway's error: {"error", "code", "message"}.
        let message = sanitize::excerpt(value["message"].as_str().or(value["error"].as_str()).unwrap_or("no message"), 500);
        Err(match status.as_u16() {
            401 => ServerError::Unauthorized(message),
            403 => ServerError::Forbidden(message),
            404 => ServerError::NotFound(message),
            _ => ServerError::Refused(message),
        })
    }

    pub async fn list(&self) -> Result<Vec<App>, ServerError> {
        let list = self.send(self.http.get(self.url("/api/v1/applications"))).await?;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        items.into_iter().map(|v| App::from_json(v).map(App::for_list).map_err(ServerError::Decode)).collect()
    }

    pub async fn get(&self, name: &str) -> Result<App, ServerError> {
        App::from_json(self.send(self.http.get(self.url(&format!("/api/v1/applications/{}", enc(name))))).await?)
            .map_err(ServerError::Decode)
    }

    /// The sync windows assigned to the app, those active now, and whether a manual sync may go,
    /// as the server judges them.
    pub async fn windows(&self, name: &str) -> Result<ServerWindows, ServerError> {
        let answer = self.send(self.http.get(self.url(&format!("/api/v1/applications/{}/syncwindows", enc(name))))).await?;
        let list = |key: &str| -> Vec<super::windows::SyncWindow> { serde_json::from_value(answer[key].clone()).unwrap_or_default() };
        Ok(ServerWindows {
            assigned: list("assignedWindows"),
            active: list("activeWindows"),
            can_sync: answer["canSync"].as_bool().unwrap_or(true),
        })
    }

    /// The app's resource tree as the server's controller sees it, every node with its health.
    pub async fn tree(&self, name: &str) -> Result<super::tree::Tree, ServerError> {
        let mut answer = self.send(self.http.get(self.url(&format!("/api/v1/applications/{}/resource-tree", enc(name))))).await?;
        // A field sent as null is a field not sent.
        super::model::strip_nulls(&mut answer);
        serde_json::from_value(answer).map_err(|e| ServerError::Decode(format!("a resource tree: {e}")))
    }

    /// The Kubernetes Events about the app itself (syncs started and finished, health changes).
    pub async fn events(&self, name: &str) -> Result<Vec<Value>, ServerError> {
        let answer = self.send(self.http.get(self.url(&format!("/api/v1/applications/{}/events", enc(name))))).await?;
        Ok(answer["items"].as_array().cloned().unwrap_or_default())
    }

    /// Whether Argo CD's RBAC lets the user do `action` (`sync`, `update`, `get`…) to the app
    /// (`PROJECT/NAME`).
    pub async fn can_i(&self, action: &str, project: &str, name: &str) -> Result<bool, ServerError> {
        let path = format!("/api/v1/account/can-i/applications/{}/{}", enc(action), enc(&format!("{project}/{name}")));
        let answer = self.send(self.http.get(self.url(&path))).await?;
        Ok(answer["value"].as_str() == Some("yes"))
    }

    /// Reads the app afresh, refuses if it moved on since `seen`, then asks the server to act;
    /// the server decides (RBAC, projects, sync windows, an operation already running).
    pub async fn act(&self, name: &str, action: &AppAction, seen: Option<&Seen>) -> Result<(App, String), ServerError> {
        let app = self.get(name).await?;
        if let Some(changed) = seen.and_then(|s| s.changed(&app)) {
            return Err(ServerError::Refused(format!("{name} moved on since you looked ({changed}); look again")));
        }
        let call = call_for(name, action);
        let url = self.url(&call.path);
        let request = match call.method {
            "POST" => self.http.post(url),
            "DELETE" => self.http.delete(url),
            "PATCH" => self.http.patch(url),
            _ => self.http.get(url),
        };
        let request = match &call.body {
            Some(body) => request.json(body),
            None => request,
        };
        let summary = call.summary;
        let answer = self.send(request).await?;
        // Terminate answers with an empty object; the app is read again.
        let app = match App::from_json(answer) {
            Ok(a) if !a.metadata.name.is_empty() => a,
            _ => self.get(name).await?,
        };
        Ok((app, summary))
    }

    /// The application stream: each change as the server sends it, until it breaks.
    pub fn stream(&self) -> impl Stream<Item = StreamUpdate> + Send + use<> {
        let request = self.http.get(self.url("/api/v1/stream/applications")).bearer_auth(self.connection.token.reveal());
        futures::stream::once(async move { request.send().await }).flat_map(|sent| match sent {
            Ok(response) if response.status().is_success() => {
                let chunks = futures::stream::unfold(Some(response), |r| async move {
                    let mut response = r?;
                    match response.chunk().await {
                        Ok(Some(chunk)) => Some((Ok(chunk), Some(response))),
                        Ok(None) => None,
                        Err(e) => Some((Err(e), None)),
                    }
                });
                lines(chunks).boxed()
            }
            Ok(response) => futures::stream::iter([StreamUpdate::Broken(format!("the stream answered {}", response.status()))]).boxed(),
            Err(e) => futures::stream::iter([StreamUpdate::Broken(sanitize::excerpt(&e.to_string(), 300))]).boxed(),
        })
    }
}

/// One request to the API server, as sent: for the confirmation (the exact request) and for
/// `act`.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub method: &'static str,
    pub path: String,
    pub body: Option<Value>,
    pub summary: String,
}

impl Call {
    /// `POST /api/v1/applications/web/sync {"name":"web",…}`.
    pub fn text(&self) -> String {
        match &self.body {
            Some(b) => format!("{} {} {b}", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

/// What the API server is asked for an action on app `name` (its REST routes, as the published
/// API description has them).
pub fn call_for(name: &str, action: &AppAction) -> Call {
    let base = format!("/api/v1/applications/{}", enc(name));
    let call = |method, path: String, body: Option<Value>, summary: String| Call { method, path, body, summary };
    match action {
        AppAction::Sync(o) => {
            let mut body = json!({"name": name, "prune": o.prune, "dryRun": o.dry_run, "strategy": {"hook": {"force": o.force}}});
            if let Some(r) = &o.revision {
                body["revision"] = json!(r);
            }
            if o.apply_out_of_sync_only {
                body["syncOptions"] = json!({"items": ["ApplyOutOfSyncOnly=true"]});
            }
            if !o.resources.is_empty() {
                body["resources"] = json!(o.resources);
            }
            call("POST", format!("{base}/sync"), Some(body), format!("sync {name}"))
        }
        AppAction::Rollback { id, prune, dry_run } => {
            let body = json!({"name": name, "id": id, "prune": prune, "dryRun": dry_run});
            call("POST", format!("{base}/rollback"), Some(body), format!("roll {name} back to history {id}"))
        }
        AppAction::Terminate => call("DELETE", format!("{base}/operation"), None, format!("stop the operation running on {name}")),
        AppAction::Refresh { hard } => {
            let kind = if *hard { "hard" } else { "normal" };
            call("GET", format!("{base}?refresh={kind}"), None, format!("{kind} refresh of {name}"))
        }
        AppAction::AutoSync { on } => {
            let automated = if *on { json!({"prune": false, "selfHeal": false}) } else { Value::Null };
            let patch = json!({"spec": {"syncPolicy": {"automated": automated}}}).to_string();
            let body = json!({"name": name, "patch": patch, "patchType": "merge"});
            call("PATCH", base, Some(body), format!("turn auto-sync of {name} {}", if *on { "on" } else { "off" }))
        }
    }
}

/// The stream's lines, each a JSON result, made into updates; a broken stream says so last.
fn lines(bytes: impl Stream<Item = reqwest::Result<bytes::Bytes>> + Send + 'static) -> impl Stream<Item = StreamUpdate> + Send {
    let mut carry: Vec<u8> = Vec::new();
    bytes.map(Some).chain(futures::stream::once(async { None })).flat_map(move |chunk| {
        let mut out = Vec::new();
        match chunk {
            Some(Ok(b)) => {
                carry.extend_from_slice(&b);
                while let Some(nl) = memchr::memchr(b'\n', &carry) {
                    let line: Vec<u8> = carry.drain(..=nl).collect();
                    if let Some(u) = update_of(&line) {
                        out.push(u);
                    }
                }
                if carry.len() > ANSWER_LIMIT {
                    carry.clear();
                    out.push(StreamUpdate::Broken("a stream line longer than the limit".into()));
                }
            }
            Some(Err(e)) => out.push(StreamUpdate::Broken(sanitize::excerpt(&e.to_string(), 300))),
            None => out.push(StreamUpdate::Broken("the stream ended".into())),
        }
        futures::stream::iter(out)
    })
}

fn update_of(line: &[u8]) -> Option<StreamUpdate> {
    let line = std::str::from_utf8(line).ok()?.trim();
    if line.is_empty() {
        return None;
    }
    let parsed: StreamLine = match serde_json::from_str(line) {
        Ok(p) => p,
        Err(e) => return Some(StreamUpdate::Broken(format!("an unreadable stream line: {e}"))),
    };
    if let Some(e) = parsed.error {
        return Some(StreamUpdate::Broken(sanitize::excerpt(e["message"].as_str().unwrap_or("stream error"), 300)));
    }
    let event = parsed.result?;
    let app = match App::from_json(event.application) {
        Ok(a) => a,
        Err(e) => return Some(StreamUpdate::Broken(e)),
    };
    Some(if event.kind == "DELETED" { StreamUpdate::Delete(app.metadata.name) } else { StreamUpdate::Apply(Box::new(app.for_list())) })
}

/// A path segment, percent-encoded.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_argocd_cli_config_names_the_server_and_token() {
        let text = "contexts:\n- name: prod\n  server: argocd.example:443\n  user: prod\n- name: lab\n  server: 127.0.0.1:8080\n  user: lab\ncurrent-context: lab\nservers:\n- server: argocd.example:443\n- server: 127.0.0.1:8080\n  plain-text: true\nusers:\n- name: prod\n  auth-token: prod-token\n- name: lab\n  auth-token: lab-token\n";
        let c = Connection::from_cli_config(text, Path::new("config")).unwrap().unwrap();
        assert_eq!(c.server, "http://127.0.0.1:8080");
        assert_eq!(c.token.reveal(), "lab-token");
        assert!(!format!("{c:?}").contains("lab-token"), "the token is never printed");
        let no_token = text.replace("auth-token: lab-token", "auth-token: ''");
        assert!(
            matches!(Connection::from_cli_config(&no_token, Path::new("config")), Err(ServerError::Config(m)) if m.contains("argocd login"))
        );
        assert!(Connection::from_cli_config("current-context: none\n", Path::new("c")).unwrap().is_none());
    }

    #[test]
    fn stream_lines_become_updates() {
        let line =
            br#"{"result":{"type":"MODIFIED","application":{"metadata":{"name":"checkout"},"status":{"sync":{"status":"Synced"}}}}}"#;
        assert!(matches!(update_of(line), Some(StreamUpdate::Apply(a)) if a.status.sync.status == "Synced"));
        assert!(
            matches!(update_of(br#"{"result":{"type":"DELETED","application":{"metadata":{"name":"x"}}}}"#), Some(StreamUpdate::Delete(n)) if n == "x")
        );
        assert!(matches!(update_of(br#"{"error":{"message":"token expired"}}"#), Some(StreamUpdate::Broken(m)) if m == "token expired"));
        assert_eq!(update_of(b"\n"), None);
        assert_eq!(enc("team/app one"), "team%2Fapp%20one");
    }
}
