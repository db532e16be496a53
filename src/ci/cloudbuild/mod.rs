//! Google Cloud Build as a CI provider: a trigger is a pipeline, its builds are runs, each step a
//! job, and a build waiting for approval a gate decided with `builds.approve`. A build's log is
//! read from its logs bucket, from where the last read ended while it runs. Builds are polled
//! fast only while one is in progress.

pub mod convert;
mod logging;
mod logs;
pub mod model;
mod watch;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use self::convert::{APPROVAL, split_id};
use self::model::*;
use crate::ci::{CiError, CiProvider, RetryScope, RunEvent, RunPage, RunQuery};
use crate::config::CloudBuildSettings;
use crate::domain::{GateDecision, JobStatus, RunRecord, RunRef, Trigger as RunTrigger};
use crate::gcp::{GcpError, Session};
use crate::logstore::RawLine;

/// A trigger and the region it is in.
type Located = (String, Trigger);

/// Builds per page of `builds.list`.
const PAGE: usize = 50;
/// The triggers are listed again after this long (someone may have added one).
const TRIGGERS_KEPT: Duration = Duration::from_secs(60);
/// A log larger than this is not read whole into the log view.
const LOG_CAP: usize = 64 << 20;

impl From<GcpError> for CiError {
    fn from(e: GcpError) -> CiError {
        CiError::Other(e.to_string())
    }
}

#[derive(Clone)]
pub struct CloudBuildProvider {
    inner: Arc<Inner>,
}

struct Inner {
    settings: CloudBuildSettings,
    session: Session,
    events: UnboundedSender<RunEvent>,
    /// Every trigger shown, kept for a minute.
    triggers: Mutex<Option<(Vec<Located>, Instant)>>,
    /// Decisions Google refused this user (IAM), by run and job.
    denied: Mutex<BTreeMap<(RunRef, String), String>>,
}

impl CloudBuildProvider {
    pub fn new(settings: CloudBuildSettings, events: UnboundedSender<RunEvent>) -> CloudBuildProvider {
        CloudBuildProvider {
            inner: Arc::new(Inner {
                settings,
                session: Session::new(),
                events,
                triggers: Mutex::new(None),
                denied: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    fn parent(&self, region: &str) -> String {
        format!("projects/{}/locations/{region}", self.inner.settings.project)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/{path}", self.inner.settings.endpoint)
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, CiError> {
        let v = self.inner.session.call(Method::GET, &self.url(path), None).await?;
        serde_json::from_value(v).map_err(|e| CiError::Other(format!("Cloud Build answered something unexpected for {path}: {e}")))
    }

    async fn post<T: serde::de::DeserializeOwned>(&self, path: &str, body: Value) -> Result<T, GcpError> {
        let v = self.inner.session.call(Method::POST, &self.url(path), Some(&body)).await?;
        serde_json::from_value(v).map_err(|e| GcpError::Api { status: 200, code: "MALFORMED".into(), message: e.to_string() })
    }

    /// Every trigger shown, with its region: those configured (by name or id).
    async fn triggers(&self) -> Result<Vec<(String, Trigger)>, CiError> {
        if let Some((t, at)) = self.inner.triggers.lock().ok().and_then(|t| t.clone())
            && at.elapsed() < TRIGGERS_KEPT
        {
            return Ok(t);
        }
        let wanted = &self.inner.settings.triggers;
        let mut out = Vec::new();
        for region in &self.inner.settings.regions {
            let mut token: Option<String> = None;
            loop {
                let mut path = format!("{}/triggers?pageSize=100", self.parent(region));
                if let Some(t) = &token {
                    path.push_str(&format!("&pageToken={t}"));
                }
                let page: ListTriggers = self.get(&path).await?;
                for t in page.triggers {
                    let name = t.name.clone().unwrap_or_else(|| t.id.clone());
                    if wanted.iter().any(|w| *w == name || *w == t.id) {
                        out.push((region.clone(), t));
                    }
                }
                match page.next_page_token.filter(|t| !t.is_empty()) {
                    Some(t) if out.len() < 10_000 => token = Some(t),
                    _ => break,
                }
            }
        }
        if let Ok(mut kept) = self.inner.triggers.lock() {
            *kept = Some((out.clone(), Instant::now()));
        }
        Ok(out)
    }

    fn trigger_name(triggers: &[(String, Trigger)], id: Option<&str>) -> Option<String> {
        let id = id?;
        triggers.iter().find(|(_, t)| t.id == id).map(|(_, t)| t.name.clone().unwrap_or_else(|| t.id.clone()))
    }

    fn record(&self, build: &Build, triggers: &[(String, Trigger)]) -> RunRecord {
        let name = Self::trigger_name(triggers, build.build_trigger_id.as_deref());
        let mut rec = convert::run(&self.inner.settings.name, build, name.as_deref(), &self.inner.settings.gate_environments);
        if let Ok(denied) = self.inner.denied.lock() {
            for j in rec.jobs.iter_mut().filter(|j| j.status == JobStatus::Waiting) {
                if let (Some(g), Some(why)) = (j.gate.as_mut(), denied.get(&(rec.id.clone(), j.key.clone()))) {
                    g.refused_by_service = Some(why.clone());
                }
            }
        }
        rec
    }

    /// A page of builds in `region`, newest first, matching `filter` (Cloud Build's syntax).
    async fn builds(&self, region: &str, filter: &str, limit: usize, after: Option<&str>) -> Result<ListBuilds, CiError> {
        let mut path = format!("{}/builds?pageSize={}", self.parent(region), limit.clamp(1, PAGE));
        if !filter.is_empty() {
            path.push_str(&format!("&filter={}", form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()));
        }
        if let Some(t) = after {
            path.push_str(&format!("&pageToken={t}"));
        }
        self.get(&path).await
    }

    async fn build(&self, run: &RunRef) -> Result<Build, CiError> {
        let (region, id) = split_id(&run.id).ok_or_else(|| CiError::NoSuchRun(run.clone()))?;
        if !self.inner.settings.regions.iter().any(|r| r == region) {
            return Err(CiError::Other(format!("{region} is not among the regions of [ci.cloudbuild.{}]", self.inner.settings.name)));
        }
        match self.get(&format!("{}/builds/{id}", self.parent(region))).await {
            Err(CiError::Other(m)) if m.contains("HTTP 404") => Err(CiError::NoSuchRun(run.clone())),
            other => other,
        }
    }

    /// The filter for what `query` asks, in Cloud Build's syntax.
    fn filter(query: &RunQuery, trigger: Option<&str>) -> String {
        let mut terms = Vec::new();
        if let Some(id) = trigger {
            terms.push(format!("trigger_id=\"{id}\""));
        }
        // A tag (`refs/tags/v1.4`, `tag:v1.4`) is asked for by its TAG_NAME, a branch by BRANCH_NAME.
        if let Some(b) = &query.filter.branch {
            match b.strip_prefix("refs/tags/").or_else(|| b.strip_prefix("tag:")) {
                Some(tag) => terms.push(format!("substitutions.TAG_NAME=\"{}\"", tag.replace('"', ""))),
                None => terms.push(format!("substitutions.BRANCH_NAME=\"{}\"", b.trim_start_matches("refs/heads/").replace('"', ""))),
            }
        }
        let status = query.filter.status.as_deref().and_then(|s| match s {
            "queued" => Some("QUEUED"),
            "running" => Some("WORKING"),
            "waiting" => Some("PENDING"),
            "success" => Some("SUCCESS"),
            "failed" => Some("FAILURE"),
            "cancelled" => Some("CANCELLED"),
            _ => None,
        });
        if let Some(s) = status {
            terms.push(format!("status=\"{s}\""));
        }
        terms.join(" AND ")
    }

    async fn decide(&self, run: &RunRef, job: &str, decision: &GateDecision) -> Result<(), CiError> {
        if job != APPROVAL {
            return Err(CiError::NoSuchJob { run: run.clone(), job: job.to_string() });
        }
        let build = self.build(run).await?;
        let triggers = self.triggers().await.unwrap_or_default();
        let rec = self.record(&build, &triggers);
        let pending = build.approval.as_ref().and_then(|a| a.state.as_deref()) == Some("PENDING") && build.status == "PENDING";
        if !pending {
            return Err(crate::ci::not_waiting(&rec, job));
        }
        let body = json!({"approvalResult": {
            "decision": if decision.approved { "APPROVED" } else { "REJECTED" },
            "comment": crate::ci::decision_text(decision, 1000),
        }});
        match self.post::<Value>(&format!("{}:approve", build.name), body).await {
            Ok(_) => Ok(()),
            Err(e @ GcpError::PermissionDenied { .. }) => {
                if let Ok(mut d) = self.inner.denied.lock() {
                    d.insert((run.clone(), job.to_string()), e.to_string());
                }
                Err(e.into())
            }
            // Someone decided first: say who, from the build as it is now.
            Err(GcpError::Api { code, .. }) if code == "FAILED_PRECONDITION" => {
                let now = self.build(run).await?;
                Err(crate::ci::not_waiting(&self.record(&now, &triggers), job))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn retry_build(&self, run: &RunRef) -> Result<(), CiError> {
        let build = self.build(run).await?;
        if !convert::run_status(&build).is_terminal() {
            return Err(CiError::WrongState {
                run: run.clone(),
                status: build.status.to_lowercase(),
                what: "only a finished build is retried".into(),
            });
        }
        let body = json!({"name": build.name, "projectId": build.project_id, "id": build.id});
        self.post::<Operation>(&format!("{}:retry", build.name), body).await?;
        Ok(())
    }

    /// The build's whole log, each line with its step: from Cloud Logging or the logs bucket.
    async fn whole_log(&self, build: &Build) -> Result<Vec<(Option<usize>, RawLine)>, CiError> {
        if logging::in_cloud_logging(build) {
            return Ok(self.log_entries(build, &logging::Cursor::default()).await?.0);
        }
        Ok(logs::lines(&self.read_whole_log(build).await?, true).0)
    }

    async fn read_whole_log(&self, build: &Build) -> Result<Vec<u8>, CiError> {
        let (bucket, object) = build
            .logs_bucket
            .as_deref()
            .and_then(|b| logs::object(b, &build.id))
            .ok_or_else(|| CiError::Other("the build names no logs bucket (its logs go to Cloud Logging only)".into()))?;
        let url = logs::media_url(&self.inner.settings.storage_endpoint, &bucket, &object);
        let bytes = self.inner.session.bytes_from(&url, 0).await.map_err(|e| match e {
            GcpError::Api { status: 404, .. } => CiError::Other(format!("gs://{bucket}/{object} does not exist yet")),
            e => e.into(),
        })?;
        if bytes.len() > LOG_CAP {
            return Err(CiError::Other(format!("the log gs://{bucket}/{object} is larger than {} MiB", LOG_CAP >> 20)));
        }
        Ok(bytes)
    }
}

/// What to run a trigger on: a commit (40 hex digits), a tag (`refs/tags/…` or `tag:…`), else a
/// branch.
fn repo_source(git_ref: &str) -> Value {
    if git_ref.len() == 40 && git_ref.bytes().all(|b| b.is_ascii_hexdigit()) {
        json!({"commitSha": git_ref})
    } else if let Some(tag) = git_ref.strip_prefix("refs/tags/").or_else(|| git_ref.strip_prefix("tag:")) {
        json!({"tagName": tag})
    } else {
        json!({"branchName": git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref)})
    }
}

impl CiProvider for CloudBuildProvider {
    fn name(&self) -> &str {
        &self.inner.settings.name
    }

    fn pipelines(&self) -> Vec<String> {
        self.inner.settings.triggers.clone()
    }

    fn list_runs(&self, query: RunQuery) -> BoxFuture<'_, Result<RunPage, CiError>> {
        async move {
            let limit = if query.limit == 0 { PAGE } else { query.limit };
            let triggers = self.triggers().await?;
            let mut runs = Vec::new();
            let mut next = None;
            let mut problems = Vec::new();
            // One list per region and trigger asked for (all of a region's builds when none is named).
            let mut asks: Vec<(String, Option<String>)> = Vec::new();
            for region in &self.inner.settings.regions {
                let mine: Vec<&Trigger> = triggers
                    .iter()
                    .filter(|(r, t)| r == region && query.pipeline.as_ref().is_none_or(|p| t.name.as_ref() == Some(p) || &t.id == p))
                    .map(|(_, t)| t)
                    .collect();
                asks.extend(mine.iter().map(|t| (region.clone(), Some(t.id.clone()))));
            }
            if asks.is_empty() && query.pipeline.is_some() {
                return Err(CiError::UnknownPipeline {
                    name: query.pipeline.clone().unwrap_or_default(),
                    known: self.pipelines().join(", "),
                });
            }
            let single = asks.len() == 1;
            for (region, trigger) in &asks {
                let after = if single { query.after.as_deref() } else { None };
                match self.builds(region, &Self::filter(&query, trigger.as_deref()), limit, after).await {
                    Ok(page) => {
                        runs.extend(page.builds.iter().map(|b| self.record(b, &triggers)));
                        if single {
                            next = page.next_page_token.filter(|t| !t.is_empty());
                        }
                    }
                    Err(e) => problems.push(format!("{region}: {e}")),
                }
            }
            if runs.is_empty() && !problems.is_empty() && problems.len() == asks.len() {
                return Err(CiError::Other(problems.join("; ")));
            }
            // A run's ref is the bare branch or tag name.
            let mut wanted = query.filter.clone();
            wanted.branch = wanted.branch.map(|b| {
                let bare = b.strip_prefix("refs/tags/").or_else(|| b.strip_prefix("tag:")).or_else(|| b.strip_prefix("refs/heads/"));
                bare.unwrap_or(&b).to_string()
            });
            runs.retain(|r| wanted.matches(r));
            runs.sort_by_key(|r| std::cmp::Reverse(r.created_at));
            runs.truncate(limit);
            Ok(RunPage { runs, next, problems })
        }
        .boxed()
    }

    fn watch(&self, stop: CancellationToken) {
        tokio::spawn(watch::poll(self.clone(), stop));
    }

    fn run(&self, run: RunRef) -> BoxFuture<'_, Result<RunRecord, CiError>> {
        async move {
            let build = self.build(&run).await?;
            let triggers = self.triggers().await.unwrap_or_default();
            Ok(self.record(&build, &triggers))
        }
        .boxed()
    }

    fn trigger(&self, pipeline: String, trigger: RunTrigger) -> BoxFuture<'_, Result<RunRef, CiError>> {
        async move {
            let triggers = self.triggers().await?;
            let Some((region, t)) = triggers.iter().find(|(_, t)| t.name.as_ref() == Some(&pipeline) || t.id == pipeline) else {
                return Err(CiError::UnknownPipeline { name: pipeline, known: self.pipelines().join(", ") });
            };
            let mut source = repo_source(trigger.git_ref.as_deref().unwrap_or_default());
            if trigger.git_ref.as_deref().is_none_or(str::is_empty) {
                source = json!({});
            }
            if !trigger.inputs.is_empty() {
                source["substitutions"] = json!(trigger.inputs);
            }
            let body = json!({"projectId": self.inner.settings.project, "triggerId": t.id, "source": source});
            let op: Operation = self.post(&format!("{}/triggers/{}:run", self.parent(region), t.id), body).await?;
            let build = op
                .metadata
                .and_then(|m| m.build)
                .ok_or_else(|| CiError::Other(format!("Cloud Build started {} without naming its build", op.name)))?;
            Ok(RunRef::new(&self.inner.settings.name, convert::run_id(region, &build.id)))
        }
        .boxed()
    }

    fn cancel(&self, run: RunRef) -> BoxFuture<'_, Result<(), CiError>> {
        async move {
            let build = self.build(&run).await?;
            if convert::run_status(&build).is_terminal() {
                return Err(CiError::WrongState { run, status: build.status.to_lowercase(), what: "it has finished".into() });
            }
            let body = json!({"name": build.name, "projectId": build.project_id, "id": build.id});
            self.post::<Value>(&format!("{}:cancel", build.name), body).await?;
            Ok(())
        }
        .boxed()
    }

    fn retry(&self, run: RunRef, _trigger: RunTrigger) -> BoxFuture<'_, Result<(), CiError>> {
        async move { self.retry_build(&run).await }.boxed()
    }

    fn retry_scoped(&self, run: RunRef, trigger: RunTrigger, scope: RetryScope) -> BoxFuture<'_, Result<(), CiError>> {
        async move {
            match scope {
                RetryScope::Failed | RetryScope::All => self.retry(run, trigger).await,
                RetryScope::Job(j) => Err(CiError::Other(format!("Cloud Build retries a whole build, not one step such as `{j}`"))),
            }
        }
        .boxed()
    }

    fn decide_gate(&self, run: RunRef, job: String, decision: GateDecision) -> BoxFuture<'_, Result<(), CiError>> {
        async move { self.decide(&run, &job, &decision).await }.boxed()
    }

    fn read_log(&self, run: RunRef, job: String) -> BoxFuture<'_, Result<Vec<RawLine>, CiError>> {
        async move {
            let build = self.build(&run).await?;
            if job == APPROVAL {
                let rec = self.record(&build, &self.triggers().await.unwrap_or_default());
                let line = match rec.jobs.iter().find(|j| j.key == APPROVAL).and_then(|j| j.gate.clone()).and_then(|g| g.decision) {
                    Some(d) => format!("{} by {} at {}: {}", if d.approved { "approved" } else { "rejected" }, d.by, d.at, d.comment),
                    None => "waiting for someone to approve or reject this build".into(),
                };
                return Ok(vec![RawLine {
                    ts_ms: jiff::Timestamp::now().as_millisecond(),
                    stream: crate::logstore::Stream::Meta,
                    bytes: line.into_bytes(),
                }]);
            }
            let index = (0..build.steps.len())
                .find(|i| convert::step_key(&build, *i) == job)
                .ok_or_else(|| CiError::NoSuchJob { run: run.clone(), job: job.clone() })?;
            let lines = self.whole_log(&build).await?;
            Ok(lines.into_iter().filter(|(s, _)| *s == Some(index)).map(|(_, l)| l).collect())
        }
        .boxed()
    }

    fn authenticated(&self, _subject: &str) -> BoxFuture<'_, Option<(String, String)>> {
        async move { Some(("google".to_string(), self.inner.session.principal().await)) }.boxed()
    }

    /// The scan reports among the build's uploaded artifacts (`report_artifacts`); one that is
    /// missing or unreadable is an unreadable report, and the gate fails closed.
    fn evidence(&self, run: RunRef) -> BoxFuture<'_, Result<crate::ci::RunEvidence, CiError>> {
        async move {
            let mut out = crate::ci::RunEvidence::default();
            if self.inner.settings.report_artifacts.is_empty() {
                return Ok(out);
            }
            let build = self.build(&run).await?;
            let location = build.artifacts.as_ref().and_then(|a| a.objects.as_ref()).and_then(|o| o.location.clone());
            for name in &self.inner.settings.report_artifacts {
                let problem = |p: String| crate::findings::ReportError { path: name.clone(), problem: p };
                let Some((bucket, object)) = location.as_deref().and_then(|l| logs::artifact(l, name)) else {
                    out.unreadable.push(problem("the build uploaded no artifacts (artifacts.objects)".into()));
                    continue;
                };
                let shown = format!("gs://{bucket}/{object}");
                match self.inner.session.bytes_from(&logs::media_url(&self.inner.settings.storage_endpoint, &bucket, &object), 0).await {
                    Ok(bytes) if bytes.starts_with(b"PK\x03\x04") => {
                        let (reports, errors) = crate::findings::archive::unpack(&bytes, &shown);
                        reports.into_iter().for_each(|r| out.add(r));
                        out.unreadable.extend(errors);
                    }
                    Ok(bytes) => match crate::findings::parse_report(&bytes, &shown) {
                        Ok(r) => out.add(r),
                        Err(e) => out.unreadable.push(e),
                    },
                    Err(e) => out.unreadable.push(crate::findings::ReportError { path: shown, problem: e.to_string() }),
                }
            }
            out.findings = crate::findings::group(std::mem::take(&mut out.findings));
            Ok(out)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_written_in_cloud_build_s_syntax() {
        let mut q = RunQuery::default();
        q.filter.branch = Some("refs/tags/v1.4".into());
        q.filter.status = Some("running".into());
        assert_eq!(
            CloudBuildProvider::filter(&q, Some("t1")),
            "trigger_id=\"t1\" AND substitutions.TAG_NAME=\"v1.4\" AND status=\"WORKING\""
        );
        q.filter.branch = Some("main".into());
        q.filter.status = None;
        assert_eq!(CloudBuildProvider::filter(&q, None), "substitutions.BRANCH_NAME=\"main\"");
        assert_eq!(
            repo_source("0b5e3d52c2a4f5b7e9d1c3a5b7e9f1a3c5d7e9f1"),
            json!({"commitSha": "0b5e3d52c2a4f5b7e9d1c3a5b7e9f1a3c5d7e9f1"})
        );
        assert_eq!(repo_source("tag:v1.4"), json!({"tagName": "v1.4"}));
        assert_eq!(repo_source("refs/heads/main"), json!({"branchName": "main"}));
    }
}
