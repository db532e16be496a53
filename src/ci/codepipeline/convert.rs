//! A pipeline execution as a run: each stage a stage, each action a job (a manual approval a
//! gate), from the pipeline's declaration, the execution, the pipeline's state and the action
//! executions.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::model::*;
use crate::domain::{GateDecision, GateInfo, JobRecord, JobStatus, RunRecord, RunRef, RunStatus, StageRecord, Trigger};
use crate::logstore::sanitize::{excerpt, plain};

/// CodePipeline's own limit for a manual approval without `timeoutInMinutes`.
pub const APPROVAL_TIMEOUT_MINUTES: u64 = 7 * 24 * 60;

pub fn ts(seconds: Option<f64>) -> Option<Timestamp> {
    seconds.filter(|s| s.is_finite()).and_then(|s| Timestamp::from_millisecond((s * 1000.0) as i64).ok())
}

/// `release/3f2a…`: the pipeline and the execution.
pub fn run_id(pipeline: &str, execution: &str) -> String {
    format!("{pipeline}/{execution}")
}

pub fn split_id(id: &str) -> Option<(&str, &str)> {
    id.rsplit_once('/').filter(|(p, e)| !p.is_empty() && !e.is_empty())
}

/// The person behind an IAM ARN: the session of an assumed role, the user, else the ARN.
pub fn principal(arn: &str) -> String {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or(arn);
    match resource.split('/').collect::<Vec<_>>().as_slice() {
        ["assumed-role", _role, session] => (*session).to_string(),
        ["user", .., name] => (*name).to_string(),
        _ => resource.to_string(),
    }
}

/// Each action's job key: its name, or `stage/action` where two stages share an action name.
pub fn job_keys(pipeline: &PipelineDeclaration) -> BTreeMap<(String, String), String> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for a in pipeline.stages.iter().flat_map(|s| &s.actions) {
        *count.entry(a.name.as_str()).or_default() += 1;
    }
    let mut keys = BTreeMap::new();
    for s in &pipeline.stages {
        for a in &s.actions {
            let key = if count[a.name.as_str()] > 1 { format!("{}/{}", s.name, a.name) } else { a.name.clone() };
            keys.insert((s.name.clone(), a.name.clone()), key);
        }
    }
    keys
}

pub fn run_status(status: &str) -> RunStatus {
    match status {
        "InProgress" | "Stopping" => RunStatus::Running,
        "Succeeded" => RunStatus::Success,
        "Failed" => RunStatus::Failed,
        _ => RunStatus::Cancelled,
    }
}

/// What a list of executions says about one, before its actions are read.
pub fn listed(provider: &str, pipeline: &str, e: &ExecutionSummary) -> RunRecord {
    let started = ts(e.start_time).unwrap_or(Timestamp::UNIX_EPOCH);
    let status = run_status(&e.status);
    let source = e.source_revisions.first();
    let mut notes = Vec::new();
    if let Some(s) = source.and_then(|s| s.revision_summary.as_deref()) {
        notes.push(excerpt(&plain(s.lines().next().unwrap_or_default()), 200));
    }
    if let Some(s) = e.status_summary.as_deref().filter(|s| !s.is_empty()) {
        notes.push(excerpt(&plain(s), 300));
    }
    if let Some(r) = e.stop_trigger.as_ref().and_then(|t| t.reason.as_deref()) {
        notes.push(format!("stopped: {}", excerpt(&plain(r), 200)));
    }
    if e.status == "Superseded" {
        notes.push("superseded by a newer execution".into());
    }
    let trigger = e.trigger.clone().unwrap_or_default();
    RunRecord {
        id: RunRef::new(provider, run_id(pipeline, &e.pipeline_execution_id)),
        pipeline: pipeline.to_string(),
        status,
        trigger: Trigger {
            actor: trigger
                .trigger_detail
                .as_deref()
                .map(principal)
                .map(|p| excerpt(&plain(&p), 120))
                .unwrap_or_else(|| "codepipeline".into()),
            via: format!("codepipeline {}", trigger.trigger_type.as_deref().unwrap_or("unknown")),
            git_ref: source.and_then(|s| s.revision_id.clone()).map(|r| excerpt(&plain(&r), 80)),
            inputs: BTreeMap::new(),
        },
        created_at: started,
        started_at: Some(started),
        finished_at: if status.is_terminal() { ts(e.last_update_time) } else { None },
        stages: Vec::new(),
        jobs: Vec::new(),
        note: (!notes.is_empty()).then(|| notes.join(" · ")),
        retried_by: Vec::new(),
        refused: BTreeMap::new(),
    }
}

/// Where a gate's environment comes from: `gate_environments` by `stage/action`, else by stage.
pub type GateEnvironments = BTreeMap<String, String>;

/// The whole run: the listed execution with the pipeline's stages and each action's execution.
pub fn full(
    mut rec: RunRecord,
    pipeline: &PipelineDeclaration,
    state: &GetPipelineStateOutput,
    actions: &[ActionExecutionDetail],
    environments: &GateEnvironments,
) -> RunRecord {
    let execution = split_id(&rec.id.id).map(|(_, e)| e.to_string()).unwrap_or_default();
    let keys = job_keys(pipeline);
    let mut previous: Option<String> = None;
    for stage in &pipeline.stages {
        let gate = stage.actions.iter().any(|a| a.action_type_id.category == "Approval");
        rec.stages.push(StageRecord {
            name: stage.name.clone(),
            needs: previous.iter().cloned().collect(),
            gate,
            environment: environments.get(&stage.name).cloned(),
        });
        previous = Some(stage.name.clone());
        for action in &stage.actions {
            // The newest attempt of this action in this execution (a retried stage runs it again).
            let detail = actions
                .iter()
                .filter(|d| d.pipeline_execution_id == execution && d.stage_name == stage.name && d.action_name == action.name)
                .max_by(|a, b| a.start_time.unwrap_or(0.0).total_cmp(&b.start_time.unwrap_or(0.0)));
            let attempts = actions
                .iter()
                .filter(|d| d.pipeline_execution_id == execution && d.stage_name == stage.name && d.action_name == action.name)
                .count() as u32;
            let live = state
                .stage_states
                .iter()
                .find(|s| s.stage_name == stage.name && s.latest_execution.as_ref().is_some_and(|l| l.pipeline_execution_id == execution))
                .and_then(|s| s.action_states.iter().find(|a| a.action_name == action.name));
            let approval = action.action_type_id.category == "Approval";
            let status = match detail.map(|d| d.status.as_str()) {
                Some("InProgress") if approval => JobStatus::Waiting,
                Some("InProgress") => JobStatus::Running,
                Some("Succeeded") => JobStatus::Success,
                Some("Failed") => JobStatus::Failed,
                Some("Abandoned") => JobStatus::Cancelled,
                Some(_) => JobStatus::Running,
                None if rec.status.is_terminal() => JobStatus::Skipped,
                None => JobStatus::Pending,
            };
            let result = detail.and_then(|d| d.output.as_ref()).and_then(|o| o.execution_result.as_ref());
            let error = result
                .and_then(|r| r.error_details.as_ref())
                .or(live.and_then(|l| l.latest_execution.as_ref()).and_then(|l| l.error_details.as_ref()))
                .filter(|_| status == JobStatus::Failed)
                .map(|e| {
                    let code = e.code.as_deref().unwrap_or("error");
                    excerpt(&plain(&format!("{code}: {}", e.message.as_deref().unwrap_or_default())), 500)
                });
            let url = result
                .and_then(|r| r.external_execution_url.clone())
                .or_else(|| live.and_then(|l| l.latest_execution.as_ref()).and_then(|l| l.external_execution_url.clone()))
                .or_else(|| action.configuration.get("ExternalEntityLink").cloned())
                .or_else(|| live.and_then(|l| l.entity_url.clone()));
            let gate = approval.then(|| {
                let started = detail.and_then(|d| ts(d.start_time));
                let minutes = action.timeout_in_minutes.unwrap_or(APPROVAL_TIMEOUT_MINUTES);
                let decision = detail.filter(|d| d.status == "Succeeded" || d.status == "Failed").map(|d| GateDecision {
                    approved: d.status == "Succeeded",
                    by: d.updated_by.as_deref().map(principal).map(|p| excerpt(&plain(&p), 120)).unwrap_or_else(|| "unknown".into()),
                    at: ts(d.last_update_time).unwrap_or(Timestamp::UNIX_EPOCH),
                    comment: result
                        .and_then(|r| r.external_execution_summary.as_deref())
                        .map(|s| excerpt(&plain(s), 500))
                        .unwrap_or_default(),
                });
                GateInfo {
                    environment: environments
                        .get(&format!("{}/{}", stage.name, action.name))
                        .or_else(|| environments.get(&stage.name))
                        .cloned(),
                    deadline: started.and_then(|s| s.checked_add(jiff::SignedDuration::from_mins(minutes as i64)).ok()),
                    decision,
                    refused_by_service: None,
                }
            });
            rec.jobs.push(JobRecord {
                key: keys.get(&(stage.name.clone(), action.name.clone())).cloned().unwrap_or_else(|| action.name.clone()),
                stage: stage.name.clone(),
                matrix: BTreeMap::new(),
                status,
                exit_code: None,
                started_at: detail.and_then(|d| ts(d.start_time)),
                finished_at: detail.filter(|d| d.status != "InProgress").and_then(|d| ts(d.last_update_time)),
                attempts,
                error,
                reports: Vec::new(),
                gate,
                findings: None,
                steps: Vec::new(),
                url: url.map(|u| excerpt(&plain(&u), 500)),
            });
        }
    }
    // Waiting on a person and nothing else moving.
    if rec.status == RunStatus::Running
        && rec.jobs.iter().any(|j| j.status == JobStatus::Waiting)
        && !rec.jobs.iter().any(|j| j.status == JobStatus::Running)
    {
        rec.status = RunStatus::Waiting;
    }
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_are_the_people_behind_arns() {
        assert_eq!(principal("arn:aws:sts::123456789012:assumed-role/ReleaseManagers/alice"), "alice");
        assert_eq!(principal("arn:aws:iam::123456789012:user/ops/bob"), "bob");
        assert_eq!(principal("arn:aws:iam::123456789012:root"), "root");
        assert_eq!(principal("codepipeline"), "codepipeline");
    }

    #[test]
    fn ids_split_at_the_last_slash() {
        assert_eq!(split_id("release/3f2a-11"), Some(("release", "3f2a-11")));
        assert_eq!(split_id("release"), None);
    }
}
