//! A stateful GitHub REST API double on 127.0.0.1, as an Enterprise Server (`/api/v3`) or as
//! api.github.com: repositories, workflows (their files too), runs that a test moves on job by job,
//! environments that wait for a review, logs behind a redirect to a separate storage host, ETags
//! with 304s that cost nothing, and a rate limit that runs out. Every answer is kept so that the
//! contract test can hold it against GitHub's published OpenAPI description, and the real `gh`
//! reads it over TLS (tests/github_contract.rs).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[path = "github_objects.rs"]
pub mod objects;
#[path = "github_routes.rs"]
mod routes;
#[path = "test_ca.rs"]
pub mod test_ca;
#[path = "github_tls.rs"]
pub mod tls;

pub const TOKEN: &str = "ghp_doubletoken0123456789";
pub const LOGIN: &str = "octo-reviewer";
pub const BUDGET: u64 = 5000;

/// One answer the double gave: for the contract check and for assertions.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    /// Without the `/api/v3` prefix and the query.
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub status: u16,
    pub body: Value,
    pub authorized: bool,
    pub request_body: Value,
}

#[derive(Clone, Debug, Default)]
pub struct JobState {
    pub id: u64,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub steps: Vec<(String, String, Option<String>)>,
    pub environment: Option<String>,
    pub log: String,
}

#[derive(Clone, Debug, Default)]
pub struct RunState {
    pub id: u64,
    pub number: u64,
    pub repo: String,
    pub workflow_id: u64,
    pub file: String,
    pub name: String,
    pub title: String,
    pub branch: String,
    pub sha: String,
    pub event: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub attempt: u32,
    pub actor: String,
    pub created_at: String,
    pub updated_at: String,
    pub inputs: Value,
    pub jobs: Vec<JobState>,
    /// (environment id, name, reviewers, whether the token's user may approve, since).
    pub pending: Vec<(u64, String, Vec<Value>, bool, String)>,
    pub approvals: Vec<Value>,
    /// (id, name, zip archive) of the run's artifacts.
    pub artifacts: Vec<(u64, String, Vec<u8>)>,
}

#[derive(Clone, Debug)]
pub struct WorkflowState {
    pub id: u64,
    pub file: String,
    pub name: String,
    pub yaml: String,
}

#[derive(Default)]
pub struct State {
    pub repos: BTreeMap<String, (u64, Vec<WorkflowState>)>,
    pub runs: BTreeMap<u64, RunState>,
    pub next_id: u64,
    pub exchanges: Vec<Exchange>,
    pub remaining: u64,
    /// Seconds a secondary limit asks to wait; the next request gets a 403 with Retry-After.
    pub secondary_limit: Option<u64>,
    /// The token's user may not approve environments (a reviewer who is not required).
    pub reviewer_may_approve: bool,
    /// An Enterprise Server too old for `return_run_details`.
    pub no_run_details: bool,
    /// The token may read but not change anything (a fine-grained token without Actions write).
    pub read_only_token: bool,
    /// Requests that reached the storage host, and whether they carried a token.
    pub storage_requests: Vec<(String, bool)>,
    /// How long every answer takes (a slow network).
    pub delay: std::time::Duration,
    /// Deployments, as a job with an `environment` makes them.
    pub deployments: Vec<Deployment>,
}

/// One deployment and its statuses (oldest first).
#[derive(Clone, Debug, Default)]
pub struct Deployment {
    pub id: u64,
    pub repo: String,
    pub environment: String,
    pub git_ref: String,
    pub sha: String,
    pub run: u64,
    pub created_at: String,
    /// (id, state, at)
    pub statuses: Vec<(u64, String, String)>,
}

pub struct GithubDouble {
    pub port: u16,
    pub storage_port: u16,
    pub enterprise: bool,
    pub state: Arc<Mutex<State>>,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl GithubDouble {
    /// Starts the double (and its storage host) on free loopback ports, inside the current runtime.
    pub async fn start(enterprise: bool) -> GithubDouble {
        let state = Arc::new(Mutex::new(State { next_id: 9000, remaining: BUDGET, reviewer_may_approve: true, ..State::default() }));
        let api = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let storage = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let (port, storage_port) = (api.local_addr().unwrap().port(), storage.local_addr().unwrap().port());
        let s = state.clone();
        let api_task = tokio::spawn(async move {
            while let Ok((stream, _)) = api.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, s, enterprise, false, storage_port).await;
                });
            }
        });
        let s = state.clone();
        let storage_task = tokio::spawn(async move {
            while let Ok((stream, _)) = storage.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = serve_storage(stream, s).await;
                });
            }
        });
        GithubDouble { port, storage_port, enterprise, state, _tasks: vec![api_task, storage_task] }
    }

    /// A GitHub provider's settings for `repo` on this double (1 s active poll, 30 s idle).
    pub fn settings(&self, repo: &str) -> flightdeck::config::GithubSettings {
        flightdeck::config::GithubSettings {
            name: "gh".into(),
            repos: vec![repo.into()],
            api_url: self.api_url(),
            workflows: Vec::new(),
            report_artifacts: Default::default(),
            active_poll: std::time::Duration::from_secs(1),
            idle_poll: std::time::Duration::from_secs(30),
        }
    }

    /// The provider as the cockpit builds it for `repo`, with the token where `gh` keeps it for an
    /// Enterprise host (every test sets the same value).
    pub fn provider(&self, repo: &str) -> flightdeck::ci::github::GithubProvider {
        // SAFETY: every caller sets the same value; nothing reads it concurrently in another way.
        unsafe { std::env::set_var("GH_ENTERPRISE_TOKEN", TOKEN) };
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        flightdeck::ci::github::GithubProvider::new(self.settings(repo), tx).unwrap()
    }

    pub fn api_url(&self) -> String {
        if self.enterprise { format!("http://127.0.0.1:{}/api/v3", self.port) } else { format!("http://127.0.0.1:{}", self.port) }
    }

    pub fn add_repo(&self, repo: &str) {
        let mut st = self.state.lock().unwrap();
        st.next_id += 1;
        let id = st.next_id;
        st.repos.entry(repo.to_string()).or_insert((id, Vec::new()));
    }

    pub fn add_workflow(&self, repo: &str, file: &str, yaml: &str) -> u64 {
        self.add_repo(repo);
        let mut st = self.state.lock().unwrap();
        st.next_id += 1;
        let id = st.next_id;
        let doc: Value = serde_saphyr::from_str(yaml).unwrap();
        let name = doc["name"].as_str().unwrap_or(file).to_string();
        st.repos.get_mut(repo).unwrap().1.push(WorkflowState { id, file: file.into(), name, yaml: yaml.into() });
        id
    }

    /// Starts a run of a workflow as GitHub would on a push or a dispatch: queued, its jobs from
    /// the workflow file (a job with an `environment` waits for a review when it is reached).
    pub fn start_run(&self, repo: &str, file: &str, branch: &str, actor: &str, event: &str) -> u64 {
        routes::create_run(&mut self.state.lock().unwrap(), repo, file, branch, actor, event, json!({})).unwrap()
    }

    /// Moves a run on by one change, as a runner would: the next job starts, or the running one
    /// completes (a job reaching an environment waits for its review).
    pub fn advance(&self, run: u64) {
        routes::advance(&mut self.state.lock().unwrap(), run);
    }

    /// Advances until the run completes or waits for a review.
    pub fn advance_until_settled(&self, run: u64) {
        for _ in 0..100 {
            let st = self.run(run);
            if st.status == "completed" || st.status == "waiting" {
                return;
            }
            self.advance(run);
        }
    }

    /// A run from a first-time contributor's fork, held until someone approves it.
    pub fn hold_for_approval(&self, run: u64) {
        let mut st = self.state.lock().unwrap();
        let r = st.runs.get_mut(&run).unwrap();
        r.event = "pull_request".into();
        r.status = "completed".into();
        r.conclusion = Some("action_required".into());
    }

    pub fn fail_job(&self, run: u64, job: &str, log: &str) {
        let mut st = self.state.lock().unwrap();
        let r = st.runs.get_mut(&run).unwrap();
        let j = r.jobs.iter_mut().find(|j| j.name == job).unwrap();
        j.status = "completed".into();
        j.conclusion = Some("failure".into());
        j.log = log.into();
        for s in &mut j.steps {
            s.1 = "completed".into();
            s.2 = Some("failure".into());
        }
        r.updated_at = routes::now();
    }

    pub fn set_log(&self, run: u64, job: &str, log: &str) {
        let mut st = self.state.lock().unwrap();
        let r = st.runs.get_mut(&run).unwrap();
        r.jobs.iter_mut().find(|j| j.name == job).unwrap().log = log.into();
    }

    /// Uploads an artifact to a run, as `actions/upload-artifact` would (a zip archive).
    pub fn add_artifact(&self, run: u64, name: &str, zip: Vec<u8>) -> u64 {
        let mut st = self.state.lock().unwrap();
        st.next_id += 1;
        let id = st.next_id;
        st.runs.get_mut(&run).unwrap().artifacts.push((id, name.into(), zip));
        id
    }

    pub fn run(&self, id: u64) -> RunState {
        self.state.lock().unwrap().runs.get(&id).cloned().unwrap()
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.state.lock().unwrap().exchanges.clone()
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }
}

pub(super) use crate::support::http1::{Request, read_request};

/// Moves a run on by one change, from a task that holds only the state.
pub fn advance_in(state: &Arc<Mutex<State>>, run: u64) {
    routes::advance(&mut state.lock().unwrap(), run);
}

/// One reply: status, headers, body bytes.
pub(super) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    state: Arc<Mutex<State>>,
    enterprise: bool,
    tls: bool,
    storage_port: u16,
) -> std::io::Result<()> {
    let (read, mut write) = tokio::io::split(stream);
    let mut reader = BufReader::new(read);
    while let Some(req) = read_request(&mut reader).await? {
        let delay = state.lock().map(|s| s.delay).unwrap_or_default();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let reply = routes::answer(&state, &req, enterprise, tls, storage_port);
        write_reply(&mut write, &reply).await?;
    }
    Ok(())
}

async fn write_reply<W: AsyncWrite + Unpin>(write: &mut W, r: &Reply) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\nContent-Length: {}\r\n", r.status, phrase(r.status), r.body.len());
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    write.write_all(head.as_bytes()).await?;
    write.write_all(&r.body).await?;
    write.flush().await
}

fn phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        302 => "Found",
        304 => "Not Modified",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        _ => "Error",
    }
}

/// The storage host logs are redirected to: it records whether a token came along.
async fn serve_storage(stream: tokio::net::TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    while let Some(req) = read_request(&mut reader).await? {
        let id: u64 = req.path.rsplit('/').next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let content = {
            let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
            st.storage_requests.push((req.path.clone(), req.headers.contains_key("authorization")));
            if req.path.starts_with("/artifacts/") {
                st.runs.values().flat_map(|r| &r.artifacts).find(|a| a.0 == id).map(|a| (a.2.clone(), "application/zip"))
            } else {
                st.runs.values().flat_map(|r| &r.jobs).find(|j| j.id == id).map(|j| (j.log.clone().into_bytes(), "text/plain"))
            }
        };
        let reply = match (content, req.query.get("sig").map(String::as_str)) {
            (Some((body, kind)), Some("signed")) => Reply { status: 200, headers: vec![("Content-Type".into(), kind.into())], body },
            _ => Reply { status: 403, headers: Vec::new(), body: b"<Error>AuthenticationFailed</Error>".to_vec() },
        };
        write_reply(&mut write, &reply).await?;
    }
    Ok(())
}
