//! AWS CodePipeline as a CI provider: a pipeline's executions are runs, its stages stages, its
//! actions jobs, and each manual approval a gate decided with `PutApprovalResult` and the token
//! the pipeline's state gives. A CodeBuild action's log is read from CloudWatch Logs, live while
//! the build runs. Polling is fast only while something is in progress.

mod artifacts;
mod convert;
mod ecr;
mod evidence;
mod logs;
pub mod model;
mod watch;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use self::convert::split_id;
use self::model::*;
use crate::aws::json_rpc::{AwsError, CODEPIPELINE, Session};
use crate::ci::{CiError, CiProvider, RetryScope, RunEvent, RunPage, RunQuery};
use crate::config::CodePipelineSettings;
use crate::domain::{GateDecision, JobStatus, RunRecord, RunRef, Trigger};
use crate::logstore::RawLine;
pub use convert::{APPROVAL_TIMEOUT_MINUTES, principal};

/// Executions per page of `ListPipelineExecutions` (its maximum).
const PAGE: usize = 100;
/// A pipeline's declaration is read again after this long (someone may have edited it).
const DECLARATION_KEPT: Duration = Duration::from_secs(60);

impl From<AwsError> for CiError {
    fn from(e: AwsError) -> CiError {
        CiError::Other(e.to_string())
    }
}

#[derive(Clone)]
pub struct CodePipelineProvider {
    inner: Arc<Inner>,
}

struct Inner {
    settings: CodePipelineSettings,
    session: Session,
    events: UnboundedSender<RunEvent>,
    declarations: Mutex<BTreeMap<String, (PipelineDeclaration, Instant)>>,
    /// Decisions AWS refused this user (IAM), by run and job: shown on the gate from then on.
    denied: Mutex<BTreeMap<(RunRef, String), String>>,
    /// Who AWS takes the user to be, once asked.
    caller: tokio::sync::Mutex<Option<String>>,
}

impl CodePipelineProvider {
    pub fn new(settings: CodePipelineSettings, events: UnboundedSender<RunEvent>) -> Result<CodePipelineProvider, CiError> {
        let session = Session::new(settings.region.clone(), settings.profile.clone(), settings.endpoint_url.clone())?;
        Ok(CodePipelineProvider {
            inner: Arc::new(Inner {
                settings,
                session,
                events,
                declarations: Mutex::new(BTreeMap::new()),
                denied: Mutex::new(BTreeMap::new()),
                caller: tokio::sync::Mutex::new(None),
            }),
        })
    }

    async fn call<T: serde::de::DeserializeOwned>(&self, operation: &str, input: Value) -> Result<T, AwsError> {
        let v = self.inner.session.call(&CODEPIPELINE, operation, &input).await?;
        serde_json::from_value(v).map_err(|e| AwsError::Service {
            service: "CodePipeline",
            operation: operation.into(),
            code: "MalformedResponse".into(),
            message: e.to_string(),
            status: 200,
        })
    }

    fn pipeline_of<'a>(&self, run: &'a RunRef) -> Result<(&'a str, &'a str), CiError> {
        let (pipeline, execution) = split_id(&run.id).ok_or_else(|| CiError::NoSuchRun(run.clone()))?;
        if !self.inner.settings.pipelines.iter().any(|p| p == pipeline) {
            return Err(CiError::Other(format!(
                "{pipeline} is not among the pipelines of [ci.codepipeline.{}] ({})",
                self.inner.settings.name,
                self.inner.settings.pipelines.join(", ")
            )));
        }
        Ok((pipeline, execution))
    }

    /// The pipeline's declaration (stages, actions, variables), kept for a minute.
    async fn declaration(&self, pipeline: &str) -> Result<PipelineDeclaration, CiError> {
        if let Some((d, at)) = self.inner.declarations.lock().ok().and_then(|d| d.get(pipeline).cloned())
            && at.elapsed() < DECLARATION_KEPT
        {
            return Ok(d);
        }
        let out: GetPipelineOutput = self.call("GetPipeline", json!({"name": pipeline})).await.map_err(|e| in_pipeline(pipeline, e))?;
        if let Ok(mut d) = self.inner.declarations.lock() {
            d.insert(pipeline.to_string(), (out.pipeline.clone(), Instant::now()));
        }
        Ok(out.pipeline)
    }

    /// A page of executions, newest first; those in progress read whole when `whole` (whether one
    /// waits on a person is in its actions).
    async fn executions(
        &self,
        pipeline: &str,
        limit: usize,
        after: Option<&str>,
        whole: bool,
    ) -> Result<(Vec<RunRecord>, Option<String>), CiError> {
        let mut input = json!({"pipelineName": pipeline, "maxResults": limit.clamp(1, PAGE)});
        if let Some(t) = after {
            input["nextToken"] = json!(t);
        }
        let out: ListPipelineExecutionsOutput = self.call("ListPipelineExecutions", input).await.map_err(|e| in_pipeline(pipeline, e))?;
        let mut runs = Vec::new();
        for e in &out.pipeline_execution_summaries {
            let listed = convert::listed(&self.inner.settings.name, pipeline, e);
            if listed.status.is_terminal() || !whole {
                runs.push(listed);
            } else {
                runs.push(self.full_run(pipeline, &e.pipeline_execution_id).await?.0);
            }
        }
        Ok((runs, out.next_token))
    }

    async fn action_executions(&self, pipeline: &str, execution: &str) -> Result<Vec<ActionExecutionDetail>, CiError> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut input = json!({"pipelineName": pipeline, "filter": {"pipelineExecutionId": execution}, "maxResults": 100});
            if let Some(t) = &token {
                input["nextToken"] = json!(t);
            }
            let out: ListActionExecutionsOutput = self.call("ListActionExecutions", input).await.map_err(|e| in_pipeline(pipeline, e))?;
            all.extend(out.action_execution_details);
            match out.next_token {
                Some(t) if Some(&t) != token.as_ref() && all.len() < 10_000 => token = Some(t),
                _ => return Ok(all),
            }
        }
    }

    /// The source commit an execution built (its first artifact revision).
    async fn execution_commit(&self, pipeline: &str, execution: &str) -> Result<Option<String>, CiError> {
        let got: GetPipelineExecutionOutput = self
            .call("GetPipelineExecution", json!({"pipelineName": pipeline, "pipelineExecutionId": execution}))
            .await
            .map_err(|e| in_pipeline(pipeline, e))?;
        Ok(got.pipeline_execution.artifact_revisions.into_iter().find_map(|r| r.revision_id))
    }

    /// One execution whole: its summary, the pipeline's stages and actions, and their executions.
    async fn full_run(&self, pipeline: &str, execution: &str) -> Result<(RunRecord, Vec<ActionExecutionDetail>), CiError> {
        let run = RunRef::new(&self.inner.settings.name, convert::run_id(pipeline, execution));
        let declaration = self.declaration(pipeline).await?;
        let got: GetPipelineExecutionOutput = self
            .call("GetPipelineExecution", json!({"pipelineName": pipeline, "pipelineExecutionId": execution}))
            .await
            .map_err(|e| match e.code() {
                Some("PipelineExecutionNotFoundException") => CiError::NoSuchRun(run.clone()),
                _ => in_pipeline(pipeline, e),
            })?;
        let actions = self.action_executions(pipeline, execution).await?;
        let state: GetPipelineStateOutput =
            self.call("GetPipelineState", json!({"name": pipeline})).await.map_err(|e| in_pipeline(pipeline, e))?;
        let e = got.pipeline_execution;
        let summary = ExecutionSummary {
            pipeline_execution_id: e.pipeline_execution_id.clone(),
            status: e.status.clone(),
            status_summary: e.status_summary.clone(),
            start_time: actions.iter().filter_map(|a| a.start_time).reduce(f64::min),
            last_update_time: actions.iter().filter_map(|a| a.last_update_time).reduce(f64::max),
            source_revisions: e
                .artifact_revisions
                .iter()
                .map(|r| SourceRevision {
                    action_name: r.name.clone().unwrap_or_default(),
                    revision_id: r.revision_id.clone(),
                    revision_summary: r.revision_summary.clone(),
                    revision_url: r.revision_url.clone(),
                })
                .collect(),
            trigger: e.trigger.clone(),
            stop_trigger: None,
            execution_mode: e.execution_mode.clone(),
            execution_type: None,
        };
        let mut rec = convert::listed(&self.inner.settings.name, pipeline, &summary);
        rec.trigger.inputs = e.variables.iter().map(|v| (v.name.clone(), v.resolved_value.clone().unwrap_or_default())).collect();
        let environments = self.inner.settings.gate_environments.clone();
        let mut rec = convert::full(rec, &declaration, &state, &actions, &environments);
        if let Ok(denied) = self.inner.denied.lock() {
            for j in rec.jobs.iter_mut().filter(|j| j.status == JobStatus::Waiting) {
                if let (Some(g), Some(why)) = (j.gate.as_mut(), denied.get(&(run.clone(), j.key.clone()))) {
                    g.refused_by_service = Some(why.clone());
                }
            }
        }
        Ok((rec, actions))
    }

    /// The stage and action behind a job key.
    fn action_of<'a>(declaration: &'a PipelineDeclaration, job: &str) -> Option<(&'a StageDeclaration, &'a ActionDeclaration)> {
        let keys = convert::job_keys(declaration);
        declaration
            .stages
            .iter()
            .flat_map(|s| s.actions.iter().map(move |a| (s, a)))
            .find(|(s, a)| keys.get(&(s.name.clone(), a.name.clone())).is_some_and(|k| k == job))
    }

    /// Who AWS takes the user to be (`sts:GetCallerIdentity`), asked once.
    pub async fn caller(&self) -> Result<String, CiError> {
        let mut kept = self.inner.caller.lock().await;
        if let Some(c) = kept.as_ref() {
            return Ok(c.clone());
        }
        let arn = crate::aws::sts::caller_arn(&self.inner.session).await?;
        *kept = Some(arn.clone());
        Ok(arn)
    }

    async fn decide(&self, run: &RunRef, job: &str, decision: &GateDecision) -> Result<(), CiError> {
        let (pipeline, execution) = self.pipeline_of(run)?;
        let declaration = self.declaration(pipeline).await?;
        let (stage, action) = Self::action_of(&declaration, job)
            .filter(|(_, a)| a.action_type_id.category == "Approval")
            .ok_or_else(|| CiError::NoSuchJob { run: run.clone(), job: job.to_string() })?;
        let state: GetPipelineStateOutput =
            self.call("GetPipelineState", json!({"name": pipeline})).await.map_err(|e| in_pipeline(pipeline, e))?;
        let token = state
            .stage_states
            .iter()
            .find(|s| s.stage_name == stage.name && s.latest_execution.as_ref().is_some_and(|l| l.pipeline_execution_id == execution))
            .and_then(|s| s.action_states.iter().find(|a| a.action_name == action.name))
            .and_then(|a| a.latest_execution.as_ref())
            .filter(|l| l.status.as_deref() == Some("InProgress"))
            .and_then(|l| l.token.clone());
        let Some(token) = token else {
            return Err(self.not_waiting(run, job).await);
        };
        let input = json!({
            "pipelineName": pipeline,
            "stageName": stage.name,
            "actionName": action.name,
            "result": {"summary": decision_summary(decision), "status": if decision.approved { "Approved" } else { "Rejected" }},
            "token": token,
        });
        match self.call::<Value>("PutApprovalResult", input).await {
            Ok(_) => Ok(()),
            Err(e) => Err(match e.code() {
                Some("ApprovalAlreadyCompletedException") => self.not_waiting(run, job).await,
                Some("InvalidApprovalTokenException") => CiError::Other(format!(
                    "CodePipeline no longer takes a decision on `{job}` of run {}: the approval timed out or its stage was run again ({e})",
                    run.text()
                )),
                Some("AccessDeniedException") => {
                    if let Ok(mut d) = self.inner.denied.lock() {
                        d.insert((run.clone(), job.to_string()), e.to_string());
                    }
                    e.into()
                }
                _ => in_pipeline(pipeline, e),
            }),
        }
    }

    /// Why a gate cannot be decided: someone decided it (who, when), or it is not waiting.
    async fn not_waiting(&self, run: &RunRef, job: &str) -> CiError {
        let Ok((pipeline, execution)) = self.pipeline_of(run) else { return CiError::NoSuchRun(run.clone()) };
        match self.full_run(pipeline, execution).await {
            Ok((rec, _)) => crate::ci::not_waiting(&rec, job),
            Err(e) => e,
        }
    }

    /// The stage of this execution that failed (the one CodePipeline retries).
    async fn failed_stage(&self, pipeline: &str, execution: &str, run: &RunRef) -> Result<String, CiError> {
        let (rec, _) = self.full_run(pipeline, execution).await?;
        rec.jobs.iter().find(|j| matches!(j.status, JobStatus::Failed | JobStatus::Cancelled)).map(|j| j.stage.clone()).ok_or_else(|| {
            CiError::WrongState {
                run: run.clone(),
                status: rec.status.label().to_string(),
                what: "no stage of it failed; CodePipeline retries a failed stage only".into(),
            }
        })
    }

    async fn retry_stage(&self, run: &RunRef, mode: &str) -> Result<(), CiError> {
        let (pipeline, execution) = self.pipeline_of(run)?;
        let stage = self.failed_stage(pipeline, execution, run).await?;
        let input = json!({"pipelineName": pipeline, "stageName": stage, "pipelineExecutionId": execution, "retryMode": mode});
        self.call::<Value>("RetryStageExecution", input).await.map_err(|e| in_pipeline(pipeline, e))?;
        Ok(())
    }

    async fn stop(&self, run: &RunRef, abandon: bool) -> Result<(), CiError> {
        let (pipeline, execution) = self.pipeline_of(run)?;
        let reason = if abandon { "abandoned from flightdeck" } else { "stopped from flightdeck" };
        let input = json!({"pipelineName": pipeline, "pipelineExecutionId": execution, "abandon": abandon, "reason": reason});
        self.call::<Value>("StopPipelineExecution", input).await.map_err(|e| match e.code() {
            Some("PipelineExecutionNotStoppableException") | Some("DuplicatedStopRequestException") => {
                CiError::WrongState { run: run.clone(), status: "not running".into(), what: e.to_string() }
            }
            _ => in_pipeline(pipeline, e),
        })?;
        Ok(())
    }
}

/// An idempotency token: a start retried after a lost answer starts one execution, not two.
fn request_token() -> String {
    use aws_lc_rs::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    let _ = aws_lc_rs::rand::SystemRandom::new().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The summary CodePipeline keeps with a decision (at most 512 characters).
fn decision_summary(d: &GateDecision) -> String {
    crate::ci::decision_text(d, 512)
}

fn in_pipeline(pipeline: &str, e: AwsError) -> CiError {
    match e.code() {
        Some("PipelineNotFoundException") => {
            CiError::Other(format!("CodePipeline has no pipeline named {pipeline} in this account and region"))
        }
        _ => e.into(),
    }
}

impl CiProvider for CodePipelineProvider {
    fn name(&self) -> &str {
        &self.inner.settings.name
    }

    fn pipelines(&self) -> Vec<String> {
        self.inner.settings.pipelines.clone()
    }

    fn list_runs(&self, query: RunQuery) -> BoxFuture<'_, Result<RunPage, CiError>> {
        async move {
            let limit = if query.limit == 0 { PAGE } else { query.limit };
            let mut runs = Vec::new();
            let mut next = None;
            let mut problems = Vec::new();
            for pipeline in &self.inner.settings.pipelines {
                if query.pipeline.as_ref().is_some_and(|p| p != pipeline) {
                    continue;
                }
                // A cursor names a page of one pipeline: only when one is asked for.
                let after = query.pipeline.as_ref().and(query.after.as_deref());
                match self.executions(pipeline, limit, after, true).await {
                    Ok((mut r, n)) => {
                        runs.append(&mut r);
                        if query.pipeline.is_some() {
                            next = n;
                        }
                    }
                    Err(e) if query.pipeline.is_none() => problems.push(format!("{pipeline}: {e}")),
                    Err(e) => return Err(e),
                }
            }
            if !problems.is_empty() && runs.is_empty() && problems.len() == self.inner.settings.pipelines.len() {
                return Err(CiError::Other(problems.join("; ")));
            }
            runs.retain(|r| query.filter.matches(r));
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
            let (pipeline, execution) = self.pipeline_of(&run)?;
            Ok(self.full_run(pipeline, execution).await?.0)
        }
        .boxed()
    }

    fn trigger(&self, pipeline: String, trigger: Trigger) -> BoxFuture<'_, Result<RunRef, CiError>> {
        async move {
            if !self.inner.settings.pipelines.contains(&pipeline) {
                return Err(CiError::UnknownPipeline { name: pipeline, known: self.inner.settings.pipelines.join(", ") });
            }
            let mut input = json!({"name": pipeline, "clientRequestToken": request_token()});
            if !trigger.inputs.is_empty() {
                input["variables"] = trigger.inputs.iter().map(|(k, v)| json!({"name": k, "value": v})).collect();
            }
            // A commit to run instead of the source's newest (V2 pipelines): for the first source action.
            if let Some(commit) = trigger.git_ref.as_deref().filter(|r| !r.is_empty()) {
                let declaration = self.declaration(&pipeline).await?;
                let source = declaration.stages.iter().flat_map(|s| &s.actions).find(|a| a.action_type_id.category == "Source");
                match source {
                    Some(a) => {
                        input["sourceRevisions"] = json!([{"actionName": a.name, "revisionType": "COMMIT_ID", "revisionValue": commit}])
                    }
                    None => return Err(CiError::Other(format!("{pipeline} has no source action to run commit {commit} from"))),
                }
            }
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Started {
                pipeline_execution_id: String,
            }
            let started: Started = self.call("StartPipelineExecution", input).await.map_err(|e| in_pipeline(&pipeline, e))?;
            Ok(RunRef::new(&self.inner.settings.name, convert::run_id(&pipeline, &started.pipeline_execution_id)))
        }
        .boxed()
    }

    /// A V2 pipeline's variables, with their defaults, to fill in before it is started.
    fn trigger_form(&self, pipeline: &str) -> BoxFuture<'_, Result<Option<crate::ci::form::TriggerForm>, CiError>> {
        let pipeline = pipeline.to_string();
        async move {
            if !self.inner.settings.pipelines.contains(&pipeline) {
                return Ok(None);
            }
            let d = self.declaration(&pipeline).await?;
            let inputs = d
                .variables
                .iter()
                .map(|v| crate::ci::form::WorkflowInput {
                    name: v.name.clone(),
                    kind: "string".into(),
                    required: v.default_value.is_none(),
                    default: v.default_value.clone(),
                    options: Vec::new(),
                    description: v.description.clone().unwrap_or_default(),
                })
                .collect();
            Ok(Some(crate::ci::form::TriggerForm { pipeline, git_ref: String::new(), inputs }))
        }
        .boxed()
    }

    fn cancel(&self, run: RunRef) -> BoxFuture<'_, Result<(), CiError>> {
        async move { self.stop(&run, false).await }.boxed()
    }

    /// Abandon: in-progress actions are not waited for.
    fn force_cancel(&self, run: RunRef) -> BoxFuture<'_, Result<(), CiError>> {
        async move { self.stop(&run, true).await }.boxed()
    }

    fn retry(&self, run: RunRef, _trigger: Trigger) -> BoxFuture<'_, Result<(), CiError>> {
        async move { self.retry_stage(&run, "FAILED_ACTIONS").await }.boxed()
    }

    fn retry_scoped(&self, run: RunRef, trigger: Trigger, scope: RetryScope) -> BoxFuture<'_, Result<(), CiError>> {
        async move {
            match scope {
                RetryScope::Failed => self.retry(run, trigger).await,
                RetryScope::All => self.retry_stage(&run, "ALL_ACTIONS").await,
                RetryScope::Job(j) => Err(CiError::Other(format!(
                    "CodePipeline retries a failed stage (its failed actions, or all of them), not one action such as `{j}`"
                ))),
            }
        }
        .boxed()
    }

    fn decide_gate(&self, run: RunRef, job: String, decision: GateDecision) -> BoxFuture<'_, Result<(), CiError>> {
        async move { self.decide(&run, &job, &decision).await }.boxed()
    }

    fn read_log(&self, run: RunRef, job: String) -> BoxFuture<'_, Result<Vec<RawLine>, CiError>> {
        async move {
            let (pipeline, execution) = self.pipeline_of(&run)?;
            let (rec, actions) = self.full_run(pipeline, execution).await?;
            let declaration = self.declaration(pipeline).await?;
            let record = rec.jobs.iter().find(|j| j.key == job).ok_or_else(|| CiError::NoSuchJob { run: run.clone(), job: job.clone() })?;
            let (stage, action) =
                Self::action_of(&declaration, &job).ok_or_else(|| CiError::NoSuchJob { run: run.clone(), job: job.clone() })?;
            logs::read(self, record, stage, action, &actions).await
        }
        .boxed()
    }

    fn authenticated(&self, _subject: &str) -> BoxFuture<'_, Option<(String, String)>> {
        async move { self.caller().await.ok().map(|arn| ("aws".to_string(), arn)) }.boxed()
    }

    fn evidence(&self, run: RunRef) -> BoxFuture<'_, Result<crate::ci::RunEvidence, CiError>> {
        async move {
            let (pipeline, execution) = self.pipeline_of(&run)?;
            let declaration = self.declaration(pipeline).await?;
            let actions = self.action_executions(pipeline, execution).await?;
            let mut evidence = evidence::read(self, &evidence::builds_of(&declaration, &actions)).await?;
            if !self.inner.settings.ecr_repositories.is_empty() {
                let commit = self.execution_commit(pipeline, execution).await?;
                match ecr::image_of(&actions, commit.as_deref()) {
                    Some(image) => {
                        for repository in &self.inner.settings.ecr_repositories {
                            match ecr::findings(&self.inner.session, repository, &image).await {
                                Ok(found) => evidence.findings.extend(found),
                                Err(e) => evidence.unreadable.push(e),
                            }
                        }
                    }
                    None => evidence.unreadable.push(crate::findings::ReportError {
                        path: "ecr".into(),
                        problem: "no image to look up: no build exported IMAGE_DIGEST or IMAGE_TAG, and the run has no source commit"
                            .into(),
                    }),
                }
            }
            evidence.findings = crate::findings::group(std::mem::take(&mut evidence.findings));
            Ok(evidence)
        }
        .boxed()
    }
}
