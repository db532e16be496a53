//! What Cloud Build answers (v1, as its discovery document describes it), as far as flightdeck
//! needs it. Every field may be missing: what Google leaves out is a default, never a failure.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Build {
    /// `projects/P/locations/R/builds/ID`.
    pub name: String,
    pub id: String,
    pub project_id: String,
    pub status: String,
    pub status_detail: Option<String>,
    pub build_trigger_id: Option<String>,
    pub create_time: Option<String>,
    pub start_time: Option<String>,
    pub finish_time: Option<String>,
    pub steps: Vec<BuildStep>,
    pub substitutions: BTreeMap<String, String>,
    pub tags: Vec<String>,
    pub images: Vec<String>,
    pub logs_bucket: Option<String>,
    pub log_url: Option<String>,
    pub approval: Option<BuildApproval>,
    pub failure_info: Option<FailureInfo>,
    pub source: Option<Source>,
    pub artifacts: Option<Artifacts>,
    pub options: Option<BuildOptions>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BuildOptions {
    /// `GCS_ONLY`, `CLOUD_LOGGING_ONLY`, `LEGACY`, `NONE`…
    pub logging: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BuildStep {
    pub id: Option<String>,
    pub name: String,
    pub status: Option<String>,
    pub timing: Option<TimeSpan>,
    pub wait_for: Vec<String>,
    pub exit_code: Option<i32>,
    pub allow_failure: bool,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TimeSpan {
    pub start_time: Option<String>,
    pub end_time: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BuildApproval {
    /// `PENDING`, `APPROVED`, `REJECTED` or `CANCELLED`.
    pub state: Option<String>,
    pub result: Option<ApprovalResult>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ApprovalResult {
    pub approver_account: Option<String>,
    pub approval_time: Option<String>,
    pub decision: Option<String>,
    pub comment: Option<String>,
    pub url: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct FailureInfo {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub detail: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Source {
    pub repo_source: Option<RepoSource>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RepoSource {
    pub branch_name: Option<String>,
    pub tag_name: Option<String>,
    pub commit_sha: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Artifacts {
    pub objects: Option<ArtifactObjects>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ArtifactObjects {
    /// `gs://bucket/folder/`.
    pub location: Option<String>,
    pub paths: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListBuilds {
    pub builds: Vec<Build>,
    pub next_page_token: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Trigger {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub disabled: bool,
    pub approval_config: Option<ApprovalConfig>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ApprovalConfig {
    pub approval_required: bool,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListTriggers {
    pub triggers: Vec<Trigger>,
    pub next_page_token: Option<String>,
}

/// A long-running operation whose metadata names the build it made (run, retry).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Operation {
    pub name: String,
    pub metadata: Option<OperationMetadata>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OperationMetadata {
    pub build: Option<Build>,
}

pub fn time(t: Option<&str>) -> Option<jiff::Timestamp> {
    t.and_then(|s| s.parse().ok())
}
