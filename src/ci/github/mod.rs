//! GitHub Actions as a CI provider: a repository's workflow runs are runs, their jobs and steps
//! jobs, and each environment a run waits on for review is a gate decided through GitHub's
//! deployment reviews. Reads are conditional (a 304 costs nothing), polling is fast only while
//! something is in progress, and a job's log is fetched as soon as that job completes.

pub mod api;
mod convert;
pub mod logs;
pub mod model;
mod watch;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use self::api::{Api, GhError, Token};
use self::convert::{RunParts, split_id};
use crate::ci::{CiError, CiProvider, RunEvent, RunPage, RunQuery};
use crate::config::{GITHUB_API, GithubSettings};
use crate::domain::{GateDecision, JobStatus, RunRecord, RunRef, Trigger};
use crate::logstore::{RawLine, Stream};
pub use convert::{gate_key, run_ref};
pub use deployments::GithubDeployments;

/// The most runs one list asks for per repository.
const PAGE: usize = 100;

impl From<GhError> for CiError {
    fn from(e: GhError) -> CiError {
        CiError::Other(e.to_string())
    }
}

#[derive(Clone)]
pub struct GithubProvider {
    inner: Arc<Inner>,
}

struct Inner {
    settings: GithubSettings,
    api: Api,
    events: UnboundedSender<RunEvent>,
    /// The workflows of each repository, once read.
    workflows: Mutex<BTreeMap<String, Vec<model::Workflow>>>,
    /// The login the token belongs to, once asked.
    login: Mutex<Option<String>>,
    /// Where the last known runs are kept, for a first frame that does not wait for GitHub.
    cache: Option<std::path::PathBuf>,
}

/// The token for an API root, as `gh` finds it: `GH_TOKEN`/`GITHUB_TOKEN` for github.com,
/// `GH_ENTERPRISE_TOKEN`/`GITHUB_ENTERPRISE_TOKEN` for an Enterprise Server, else the token `gh`
/// keeps for the host (`gh auth token --hostname HOST`).
pub fn find_token(api_url: &str) -> Option<Token> {
    let enterprise = api_url != GITHUB_API;
    let vars: &[&str] = if enterprise { &["GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN"] } else { &["GH_TOKEN", "GITHUB_TOKEN"] };
    if let Some(t) = vars.iter().find_map(|v| std::env::var(v).ok().filter(|t| !t.trim().is_empty())) {
        return Some(Token::new(t.trim().to_string()));
    }
    let host = if enterprise { reqwest::Url::parse(api_url).ok()?.host_str()?.to_string() } else { "github.com".into() };
    let out = std::process::Command::new("gh")
        .args(["auth", "token", "--hostname", &host])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let t = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !t.is_empty()).then(|| Token::new(t))
}

impl GithubProvider {
    pub fn new(settings: GithubSettings, events: UnboundedSender<RunEvent>) -> Result<GithubProvider, CiError> {
        let api = Api::new(&settings.api_url, find_token(&settings.api_url))?;
        Ok(GithubProvider {
            inner: Arc::new(Inner { settings, api, events, workflows: Mutex::new(BTreeMap::new()), login: Mutex::new(None), cache: None }),
        })
    }

    /// Keeps the last known runs in `dir`: the cockpit shows them at once, marked as such.
    pub fn cached_in(self, dir: &std::path::Path) -> GithubProvider {
        let file = dir.join(format!("github-{}.json", self.inner.settings.name));
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.cache = Some(file);
                GithubProvider { inner: Arc::new(inner) }
            }
            Err(inner) => GithubProvider { inner },
        }
    }

    pub fn budget(&self) -> api::Budget {
        self.inner.api.budget()
    }

    /// The login the token belongs to (`GET /user`), asked once.
    pub async fn login(&self) -> Result<String, CiError> {
        if let Some(l) = self.inner.login.lock().ok().and_then(|l| l.clone()) {
            return Ok(l);
        }
        let user: model::User = self.inner.api.get("/user").await?;
        if let Ok(mut l) = self.inner.login.lock() {
            *l = Some(user.login.clone());
        }
        Ok(user.login)
    }

    fn repo_of<'a>(&self, run: &'a RunRef) -> Result<(&'a str, u64), CiError> {
        let (repo, id) = split_id(&run.id).ok_or_else(|| CiError::NoSuchRun(run.clone()))?;
        if !self.inner.settings.repos.iter().any(|r| r.eq_ignore_ascii_case(repo)) {
            return Err(CiError::Other(format!(
                "{repo} is not among the repositories of [ci.github.{}] ({})",
                self.inner.settings.name,
                self.inner.settings.repos.join(", ")
            )));
        }
        Ok((repo, id))
    }

    /// The workflows of a repository that are shown (all, or the configured files).
    async fn workflows(&self, repo: &str) -> Result<Vec<model::Workflow>, CiError> {
        let all: model::Workflows =
            self.inner.api.get(&format!("/repos/{repo}/actions/workflows?per_page=100")).await.map_err(|e| in_repo(repo, e))?;
        let wanted = &self.inner.settings.workflows;
        let shown: Vec<model::Workflow> =
            all.workflows.into_iter().filter(|w| wanted.is_empty() || wanted.iter().any(|f| f == w.file())).collect();
        if let Ok(mut w) = self.inner.workflows.lock() {
            w.insert(repo.to_string(), shown.clone());
        }
        Ok(shown)
    }

    fn shown(&self, run: &model::Run) -> bool {
        let wanted = &self.inner.settings.workflows;
        wanted.is_empty()
            || run
                .path
                .as_deref()
                .is_some_and(|p| wanted.iter().any(|f| p.split('@').next().is_some_and(|p| p.ends_with(&format!("/{f}")))))
    }

    /// One repository's newest runs (of one workflow file when given).
    async fn repo_runs(
        &self,
        repo: &str,
        workflow: Option<&str>,
        limit: usize,
        filter: &crate::ci::RunFilter,
    ) -> Result<Vec<RunRecord>, CiError> {
        let per_page = limit.clamp(1, PAGE);
        let mut path = match workflow {
            Some(w) => format!("/repos/{repo}/actions/workflows/{w}/runs?per_page={per_page}"),
            None => format!("/repos/{repo}/actions/runs?per_page={per_page}"),
        };
        // GitHub filters on its side: only what matches is sent (and counted).
        let status = filter.status.as_deref().map(|s| match s {
            "running" => "in_progress",
            "failed" => "failure",
            other => other,
        });
        for (key, value) in [
            ("branch", filter.branch.as_deref()),
            ("event", filter.event.as_deref()),
            ("actor", filter.actor.as_deref()),
            ("status", status),
        ] {
            if let Some(v) = value {
                path.push_str(&format!("&{key}={}", dispatch::urlencode(v)));
            }
        }
        let runs: model::Runs = self.inner.api.get(&path).await.map_err(|e| in_repo(repo, e))?;
        let refused = self.refused(repo).await;
        let mut out = Vec::new();
        for r in runs.workflow_runs.iter().filter(|r| self.shown(r)) {
            // A run waiting for a review is read whole: its gates are what a human must see.
            if r.status.as_deref() == Some("waiting") {
                out.push(self.full_run(repo, r.id).await?.0);
            } else {
                out.push(convert::record(RunParts {
                    provider: &self.inner.settings.name,
                    repo,
                    run: r,
                    jobs: &[],
                    pending: &[],
                    approvals: &[],
                    reports: &[],
                    refused: &refused,
                }));
            }
        }
        Ok(out)
    }

    /// A run with its jobs, steps and deployment reviews.
    async fn full_run(&self, repo: &str, id: u64) -> Result<(RunRecord, Vec<model::Job>), CiError> {
        let api = &self.inner.api;
        let run: model::Run = api.get(&format!("/repos/{repo}/actions/runs/{id}")).await.map_err(|e| in_run(repo, id, e))?;
        let jobs: model::Jobs = api.get(&format!("/repos/{repo}/actions/runs/{id}/jobs?per_page=100")).await?;
        let pending: Vec<model::PendingDeployment> = if run.status.as_deref() == Some("waiting") {
            api.get(&format!("/repos/{repo}/actions/runs/{id}/pending_deployments")).await?
        } else {
            Vec::new()
        };
        let approvals: Vec<model::Approval> = api.get(&format!("/repos/{repo}/actions/runs/{id}/approvals")).await?;
        let rec = convert::record(RunParts {
            provider: &self.inner.settings.name,
            repo,
            run: &run,
            jobs: &jobs.jobs,
            pending: &pending,
            approvals: &approvals,
            reports: &evidence::wanted(self, convert::pipeline_of(repo, &run).rsplit(':').next().unwrap_or_default()),
            refused: &self.refused(repo).await,
        });
        Ok((rec, jobs.jobs))
    }

    /// What the user's access to a repository rules out, from the permissions GitHub reports with
    /// it (a conditional read: usually a 304). Unknown access rules out nothing: GitHub's own
    /// answer will say.
    async fn refused(&self, repo: &str) -> BTreeMap<String, String> {
        let Ok(info) = self.inner.api.get::<serde_json::Value>(&format!("/repos/{repo}")).await else { return BTreeMap::new() };
        if info["permissions"]["push"].as_bool() != Some(false) {
            return BTreeMap::new();
        }
        let why = format!("GitHub: your access to {repo} is read-only, so it cannot start, cancel or re-run its workflows");
        ["trigger", "cancel", "retry"].into_iter().map(|v| (v.to_string(), why.clone())).collect()
    }

    /// A completed job's log as lines; for a job still going, what can be said instead.
    async fn job_log(&self, repo: &str, job: &model::Job) -> Result<Vec<RawLine>, CiError> {
        if job.status != "completed" {
            let mut lines = vec![meta(&format!(
                "GitHub publishes a job's log when the job ends; `{}` is {} — its steps so far:",
                crate::logstore::sanitize::excerpt(&job.name, 200),
                job.status.replace('_', " ")
            ))];
            for s in &job.steps {
                let status = convert::status_of(&s.status, s.conclusion.as_deref());
                lines.push(meta(&format!("  {} {}  {}", status.glyph(), status.label(), crate::logstore::sanitize::excerpt(&s.name, 200))));
            }
            return Ok(lines);
        }
        let bytes = self.inner.api.download(&format!("/repos/{repo}/actions/jobs/{}/logs", job.id), api::DOWNLOAD_LIMIT).await?;
        Ok(logs::parse(&bytes))
    }
}

fn meta(text: &str) -> RawLine {
    RawLine { ts_ms: jiff::Timestamp::now().as_millisecond(), stream: Stream::Meta, bytes: text.as_bytes().to_vec() }
}

fn in_repo(repo: &str, e: GhError) -> CiError {
    match e {
        GhError::NotFound(_) => CiError::Other(format!("GitHub has no repository {repo} that this token can see (404)")),
        e => e.into(),
    }
}

fn in_run(repo: &str, id: u64, e: GhError) -> CiError {
    match e {
        GhError::NotFound(_) => CiError::NoSuchRun(run_ref("gh", repo, id)),
        e => e.into(),
    }
}

impl CiProvider for GithubProvider {
    fn name(&self) -> &str {
        &self.inner.settings.name
    }

    fn pipelines(&self) -> Vec<String> {
        let s = &self.inner.settings;
        let known = self.inner.workflows.lock().map(|w| w.clone()).unwrap_or_default();
        let mut out = Vec::new();
        for repo in &s.repos {
            match known.get(repo) {
                Some(ws) => out.extend(ws.iter().map(|w| format!("{repo}:{}", w.file()))),
                None => out.extend(s.workflows.iter().map(|f| format!("{repo}:{f}"))),
            }
        }
        out
    }

    fn list_runs(&self, query: RunQuery) -> BoxFuture<'_, Result<RunPage, CiError>> {
        async move {
            let limit = if query.limit == 0 { PAGE } else { query.limit };
            let mut runs = Vec::new();
            for repo in &self.inner.settings.repos {
                let workflow = match &query.pipeline {
                    Some(p) => match p.split_once(':') {
                        Some((r, w)) if r.eq_ignore_ascii_case(repo) => Some(w.to_string()),
                        _ => continue,
                    },
                    None => None,
                };
                runs.extend(self.repo_runs(repo, workflow.as_deref(), limit, &query.filter).await?);
            }
            runs.retain(|r| query.filter.matches(r));
            runs.sort_by_key(|r| std::cmp::Reverse(r.created_at));
            runs.truncate(limit);
            if query.pipeline.is_none() {
                cache::save(self.inner.cache.as_deref(), &runs);
            }
            Ok(RunPage { runs, next: None, problems: Vec::new() })
        }
        .boxed()
    }

    fn watch(&self, stop: CancellationToken) {
        // The last known state first (marked as such), then what GitHub says now.
        for rec in cache::load(self.inner.cache.as_deref()) {
            let _ = self.inner.events.send(RunEvent::Updated(Box::new(rec)));
        }
        tokio::spawn(watch::poll(self.clone(), stop));
    }

    fn run(&self, run: RunRef) -> BoxFuture<'_, Result<RunRecord, CiError>> {
        async move {
            let (repo, id) = self.repo_of(&run)?;
            Ok(self.full_run(repo, id).await?.0)
        }
        .boxed()
    }

    fn trigger(&self, pipeline: String, trigger: Trigger) -> BoxFuture<'_, Result<RunRef, CiError>> {
        async move {
            let (repo, workflow) = pipeline
                .split_once(':')
                .filter(|(r, w)| r.contains('/') && !w.is_empty())
                .ok_or_else(|| CiError::Other(format!("`{pipeline}` is not owner/repo:workflow.yml")))?;
            if !self.inner.settings.repos.iter().any(|r| r.eq_ignore_ascii_case(repo)) {
                return Err(CiError::UnknownPipeline { name: pipeline.clone(), known: self.pipelines().join(", ") });
            }
            let git_ref = match trigger.git_ref.clone() {
                Some(r) => r,
                None => dispatch::default_branch(self, repo).await?,
            };
            dispatch::run(self, repo, workflow, &git_ref, &trigger.inputs).await
        }
        .boxed()
    }

    fn cancel(&self, run: RunRef) -> BoxFuture<'_, Result<(), CiError>> {
        async move {
            let (repo, id) = self.repo_of(&run)?;
            self.inner
                .api
                .call(Method::POST, &format!("/repos/{repo}/actions/runs/{id}/cancel"), None)
                .await
                .map_err(|e| in_run(repo, id, e))?;
            Ok(())
        }
        .boxed()
    }

    fn retry(&self, run: RunRef, _trigger: Trigger) -> BoxFuture<'_, Result<(), CiError>> {
        async move {
            let (repo, id) = self.repo_of(&run)?;
            let (rec, _) = self.full_run(repo, id).await?;
            if !rec.status.is_terminal() {
                return Err(CiError::WrongState {
                    run,
                    status: rec.status.label().into(),
                    what: "GitHub re-runs a run only once it has ended".into(),
                });
            }
            let failed = rec.jobs.iter().any(|j| matches!(j.status, JobStatus::Failed | JobStatus::Cancelled | JobStatus::TimedOut));
            let verb = if failed { "rerun-failed-jobs" } else { "rerun" };
            self.inner.api.call(Method::POST, &format!("/repos/{repo}/actions/runs/{id}/{verb}"), Some(&json!({}))).await?;
            Ok(())
        }
        .boxed()
    }

    fn retry_scoped(&self, run: RunRef, _trigger: Trigger, scope: crate::ci::RetryScope) -> BoxFuture<'_, Result<(), CiError>> {
        async move {
            let (repo, id) = self.repo_of(&run)?;
            let (rec, jobs) = self.full_run(repo, id).await?;
            let path = match &scope {
                crate::ci::RetryScope::All => format!("/repos/{repo}/actions/runs/{id}/rerun"),
                crate::ci::RetryScope::Failed => {
                    if !rec.jobs.iter().any(|j| matches!(j.status, JobStatus::Failed | JobStatus::Cancelled | JobStatus::TimedOut)) {
                        return Err(CiError::WrongState {
                            run,
                            status: rec.status.label().into(),
                            what: "no job failed; `retry --all` runs every job again".into(),
                        });
                    }
                    format!("/repos/{repo}/actions/runs/{id}/rerun-failed-jobs")
                }
                crate::ci::RetryScope::Job(key) => {
                    let index = rec
                        .jobs
                        .iter()
                        .position(|j| &j.key == key)
                        .ok_or_else(|| CiError::NoSuchJob { run: run.clone(), job: key.clone() })?;
                    let job =
                        jobs.get(index).ok_or_else(|| CiError::Other(format!("`{key}` is a review, not a job: it cannot be re-run")))?;
                    format!("/repos/{repo}/actions/jobs/{}/rerun", job.id)
                }
            };
            if !rec.status.is_terminal() {
                return Err(CiError::WrongState {
                    run,
                    status: rec.status.label().into(),
                    what: "GitHub re-runs a run only once it has ended".into(),
                });
            }
            self.inner.api.call(Method::POST, &path, Some(&json!({}))).await?;
            Ok(())
        }
        .boxed()
    }

    fn trigger_form(&self, pipeline: &str) -> BoxFuture<'_, Result<Option<crate::ci::form::TriggerForm>, CiError>> {
        let pipeline = pipeline.to_string();
        async move {
            let Some((repo, workflow)) =
                pipeline.split_once(':').filter(|(r, _)| self.inner.settings.repos.iter().any(|x| x.eq_ignore_ascii_case(r)))
            else {
                return Ok(None);
            };
            dispatch::form(self, repo, workflow, &pipeline).await.map(Some)
        }
        .boxed()
    }

    fn force_cancel(&self, run: RunRef) -> BoxFuture<'_, Result<(), CiError>> {
        async move {
            let (repo, id) = self.repo_of(&run)?;
            self.inner
                .api
                .call(Method::POST, &format!("/repos/{repo}/actions/runs/{id}/force-cancel"), None)
                .await
                .map_err(|e| in_run(repo, id, e))?;
            Ok(())
        }
        .boxed()
    }

    fn decide_gate(&self, run: RunRef, job: String, decision: GateDecision) -> BoxFuture<'_, Result<(), CiError>> {
        async move {
            let (repo, id) = self.repo_of(&run)?;
            reviews::decide(self, repo, id, &run, &job, &decision).await
        }
        .boxed()
    }

    fn read_log(&self, run: RunRef, job: String) -> BoxFuture<'_, Result<Vec<RawLine>, CiError>> {
        async move {
            let (repo, id) = self.repo_of(&run)?;
            let (rec, jobs) = self.full_run(repo, id).await?;
            let Some(index) = rec.jobs.iter().position(|j| j.key == job) else {
                return Err(CiError::NoSuchJob { run, job });
            };
            match jobs.get(index) {
                Some(j) => self.job_log(repo, j).await,
                // A gate: GitHub keeps no log of a review; its reviewers are the record.
                None => Ok(rec.jobs[index].error.iter().map(|e| meta(e)).collect()),
            }
        }
        .boxed()
    }

    /// A finished job's log is spooled to disk beside the cached runs (once: GitHub does not change
    /// it), so the log view reads and searches it like a local one.
    fn log_file(&self, run: RunRef, job: String) -> BoxFuture<'_, Option<std::path::PathBuf>> {
        async move {
            let dir = self.inner.cache.as_ref()?.parent()?.join("logs");
            let (repo, id) = self.repo_of(&run).ok()?;
            let (rec, jobs) = self.full_run(repo, id).await.ok()?;
            let index = rec.jobs.iter().position(|j| j.key == job)?;
            let gh_job = jobs.get(index).filter(|j| j.status == "completed")?;
            let path = dir.join(format!("{}-{}-{}.log", self.inner.settings.name, repo.replace('/', "_"), gh_job.id));
            if path.is_file() {
                return Some(path);
            }
            match self.spool_log(repo, gh_job.id, &path).await {
                Ok(()) => Some(path),
                Err(e) => {
                    tracing::warn!("the log of GitHub job {} could not be kept on disk: {e}", gh_job.id);
                    None
                }
            }
        }
        .boxed()
    }

    fn authenticated(&self, _subject: &str) -> BoxFuture<'_, Option<(String, String)>> {
        async move { self.login().await.ok().map(|l| ("github".to_string(), l)) }.boxed()
    }

    fn evidence(&self, run: RunRef) -> BoxFuture<'_, Result<crate::ci::RunEvidence, CiError>> {
        async move {
            let (repo, id) = self.repo_of(&run)?;
            let (rec, _) = self.full_run(repo, id).await?;
            let workflow = rec.pipeline.rsplit(':').next().unwrap_or_default().to_string();
            evidence::read(self, repo, id, &workflow).await
        }
        .boxed()
    }
}

mod cache;
mod deployments;
mod dispatch;
mod evidence;
mod reviews;
mod spool;
