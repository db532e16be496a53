//! The parts of CodePipeline's and CodeBuild's answers flightdeck reads (their JSON, as AWS's
//! service models name it). Timestamps are epoch seconds, with a fraction.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPipelineOutput {
    pub pipeline: PipelineDeclaration,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineDeclaration {
    pub name: String,
    #[serde(default)]
    pub stages: Vec<StageDeclaration>,
    /// V1 or V2.
    pub pipeline_type: Option<String>,
    /// QUEUED, SUPERSEDED or PARALLEL (V2).
    pub execution_mode: Option<String>,
    #[serde(default)]
    pub variables: Vec<VariableDeclaration>,
    #[serde(default)]
    pub version: Option<u64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariableDeclaration {
    pub name: String,
    pub default_value: Option<String>,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageDeclaration {
    pub name: String,
    #[serde(default)]
    pub actions: Vec<ActionDeclaration>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionDeclaration {
    pub name: String,
    pub action_type_id: ActionTypeId,
    #[serde(default)]
    pub run_order: Option<u32>,
    #[serde(default)]
    pub configuration: BTreeMap<String, String>,
    /// A manual approval's own timeout (else CodePipeline's 7 days).
    pub timeout_in_minutes: Option<u64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionTypeId {
    /// Source, Build, Deploy, Test, Invoke, Approval, Compute.
    pub category: String,
    pub owner: String,
    pub provider: String,
    pub version: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPipelineExecutionsOutput {
    #[serde(default)]
    pub pipeline_execution_summaries: Vec<ExecutionSummary>,
    pub next_token: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionSummary {
    pub pipeline_execution_id: String,
    /// Cancelled, InProgress, Stopped, Stopping, Succeeded, Superseded, Failed.
    pub status: String,
    pub status_summary: Option<String>,
    #[serde(default, deserialize_with = "crate::aws::time::epoch")]
    pub start_time: Option<f64>,
    #[serde(default, deserialize_with = "crate::aws::time::epoch")]
    pub last_update_time: Option<f64>,
    #[serde(default)]
    pub source_revisions: Vec<SourceRevision>,
    pub trigger: Option<ExecutionTrigger>,
    pub stop_trigger: Option<StopTrigger>,
    pub execution_mode: Option<String>,
    pub execution_type: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRevision {
    pub action_name: String,
    pub revision_id: Option<String>,
    pub revision_summary: Option<String>,
    pub revision_url: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionTrigger {
    /// CreatePipeline, StartPipelineExecution, PollForSourceChanges, Webhook, CloudWatchEvent,
    /// PutActionRevision, WebhookV2, ManualRollback, AutomatedRollback.
    pub trigger_type: Option<String>,
    /// Who or what: an IAM ARN for a manual start, a webhook's ARN …
    pub trigger_detail: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopTrigger {
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPipelineExecutionOutput {
    pub pipeline_execution: PipelineExecution,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineExecution {
    pub pipeline_execution_id: String,
    pub status: String,
    pub status_summary: Option<String>,
    pub trigger: Option<ExecutionTrigger>,
    #[serde(default)]
    pub variables: Vec<ResolvedVariable>,
    #[serde(default)]
    pub artifact_revisions: Vec<ArtifactRevision>,
    pub execution_mode: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedVariable {
    pub name: String,
    pub resolved_value: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactRevision {
    pub name: Option<String>,
    pub revision_id: Option<String>,
    pub revision_summary: Option<String>,
    pub revision_url: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPipelineStateOutput {
    #[serde(default)]
    pub stage_states: Vec<StageState>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageState {
    pub stage_name: String,
    pub latest_execution: Option<StageExecution>,
    #[serde(default)]
    pub action_states: Vec<ActionState>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageExecution {
    pub pipeline_execution_id: String,
    pub status: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionState {
    pub action_name: String,
    pub latest_execution: Option<ActionExecution>,
    pub entity_url: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionExecution {
    pub action_execution_id: Option<String>,
    pub status: Option<String>,
    pub summary: Option<String>,
    #[serde(default, deserialize_with = "crate::aws::time::epoch")]
    pub last_status_change: Option<f64>,
    /// A waiting approval's token, for PutApprovalResult.
    pub token: Option<String>,
    pub external_execution_id: Option<String>,
    pub external_execution_url: Option<String>,
    pub error_details: Option<ErrorDetails>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetails {
    pub code: Option<String>,
    pub message: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListActionExecutionsOutput {
    #[serde(default)]
    pub action_execution_details: Vec<ActionExecutionDetail>,
    pub next_token: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionExecutionDetail {
    pub pipeline_execution_id: String,
    pub action_execution_id: String,
    pub stage_name: String,
    pub action_name: String,
    #[serde(default, deserialize_with = "crate::aws::time::epoch")]
    pub start_time: Option<f64>,
    #[serde(default, deserialize_with = "crate::aws::time::epoch")]
    pub last_update_time: Option<f64>,
    /// The ARN of who last changed it (the approver of an approval).
    pub updated_by: Option<String>,
    /// InProgress, Abandoned, Succeeded, Failed.
    pub status: String,
    pub output: Option<ActionExecutionOutput>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionExecutionOutput {
    pub execution_result: Option<ExecutionResult>,
    /// What the action exported (a CodeBuild action's `exported-variables`: IMAGE_TAG…).
    #[serde(default)]
    pub output_variables: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionResult {
    pub external_execution_id: Option<String>,
    pub external_execution_summary: Option<String>,
    pub external_execution_url: Option<String>,
    pub error_details: Option<ErrorDetails>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchGetBuildsOutput {
    #[serde(default)]
    pub builds: Vec<Build>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Build {
    pub id: String,
    /// SUCCEEDED, FAILED, FAULT, TIMED_OUT, IN_PROGRESS, STOPPED.
    pub build_status: Option<String>,
    pub build_complete: Option<bool>,
    pub logs: Option<BuildLogs>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildLogs {
    pub group_name: Option<String>,
    pub stream_name: Option<String>,
    pub deep_link: Option<String>,
}
